"""Who is calling, and may they: authentication, CSRF and the permission table.

Every ``/api/v1`` operation has one line in :data:`PERMISSIONS`, checked before the
handler runs (``enforce``); an operation without a line is refused, and the app
refuses to start with one (so a new endpoint cannot ship unguarded). The table is
also what docs/security.md shows, and tests/web/test_permissions.py walks every
operation with every role against it.

Callers prove who they are with an API token (``Authorization: Bearer``) or a
browser session cookie. With the cookie, every request that changes something must
carry the session's CSRF token in ``X-CSRF-Token``: another site can make the browser
send the cookie, but cannot read the token. Plain HTML forms (the web interface)
send it as their ``csrf_token`` field instead (:func:`browser_session`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.errors import Forbidden, Unauthenticated
from cloudos.identity import (
    SESSION_LIFETIME,
    Principal,
    SignInRefused,
    audit,
    authorize,
    require_unscoped,
    sign_in,
    start_session,
    verify_session,
    verify_token,
    visible_space_ids,
)
from cloudos.store.models import Space
from cloudos.web._state import app_state

SESSION_COOKIE = "cloudos_session"
# Over HTTPS: a browser keeps a ``__Host-`` cookie only if it is Secure, has Path=/ and
# no Domain, so no other host (not even one under the platform host) can set or widen it.
SECURE_SESSION_COOKIE = f"__Host-{SESSION_COOKIE}"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Need = Literal[
    "public", "user", "account", "cluster-admin", "viewer", "developer", "admin", "owner"
]
SPACE_ROLES = ("viewer", "developer", "admin", "owner")


@dataclass(frozen=True)
class Rule:
    """Who may call one operation, and a word on why.

    A space role applies to the space named in the path (``where="path"``, checked
    before the handler runs), in the request body (``"body"``) or owning the object
    the request names (``"object"``); the handler checks those two itself.
    """

    need: Need
    note: str = ""
    where: Literal["path", "body", "object"] = "path"


# (method, path) -> rule. Space roles apply to the space named in the path.
PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/version"): Rule("public"),
    ("POST", "/api/v1/auth/login"): Rule("public", "rate-limited, locks out after failures"),
    ("POST", "/api/v1/auth/logout"): Rule("user"),
    ("GET", "/api/v1/auth/verify"): Rule("user", "forward auth: 401 unless signed in"),
    ("POST", "/api/v1/invitations/accept"): Rule("public", "the code is the credential"),
    ("GET", "/api/v1/me"): Rule("user"),
    ("PUT", "/api/v1/me/password"): Rule("account", "needs the current password (and code)"),
    ("POST", "/api/v1/me/2fa"): Rule("account", "needs the current password"),
    ("POST", "/api/v1/me/2fa/confirm"): Rule("account", "needs a code of the new secret"),
    ("POST", "/api/v1/me/2fa/disable"): Rule("account", "needs the current password and code"),
    ("GET", "/api/v1/tokens"): Rule("user", "own tokens only; a scoped token: its space's"),
    ("POST", "/api/v1/tokens"): Rule("user", "never above the caller's scope, role or expiry"),
    ("DELETE", "/api/v1/tokens/{token_id}"): Rule(
        "user", "own tokens only; a scoped token: its space's"
    ),
    ("GET", "/api/v1/users"): Rule("cluster-admin"),
    ("POST", "/api/v1/users"): Rule("cluster-admin"),
    ("DELETE", "/api/v1/users/{username}"): Rule("cluster-admin"),
    ("PUT", "/api/v1/users/{username}/password"): Rule("cluster-admin"),
    ("GET", "/api/v1/audit"): Rule("cluster-admin"),
    ("GET", "/api/v1/system/engine"): Rule("cluster-admin"),
    ("GET", "/api/v1/spaces"): Rule("user", "only the caller's spaces"),
    ("POST", "/api/v1/spaces"): Rule("cluster-admin"),
    ("DELETE", "/api/v1/spaces/{space}"): Rule("owner"),
    ("GET", "/api/v1/spaces/{space}/policy"): Rule("viewer"),
    ("PUT", "/api/v1/spaces/{space}/policy"): Rule("cluster-admin", "what apps may ask of hosts"),
    ("GET", "/api/v1/spaces/{space}/quota"): Rule("viewer"),
    ("PUT", "/api/v1/spaces/{space}/quota"): Rule("cluster-admin"),
    ("GET", "/api/v1/spaces/{space}/members"): Rule("viewer"),
    ("PUT", "/api/v1/spaces/{space}/members/{username}"): Rule("admin", "owners by owners"),
    ("DELETE", "/api/v1/spaces/{space}/members/{username}"): Rule("admin", "owners by owners"),
    ("GET", "/api/v1/spaces/{space}/invitations"): Rule("admin"),
    ("POST", "/api/v1/spaces/{space}/invitations"): Rule("admin", "owners by owners"),
    ("GET", "/api/v1/spaces/{space}/audit"): Rule("admin"),
    ("GET", "/api/v1/spaces/{space}/apps"): Rule("viewer"),
    ("POST", "/api/v1/spaces/{space}/apps"): Rule("developer"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}"): Rule("viewer"),
    ("PATCH", "/api/v1/spaces/{space}/apps/{name}"): Rule("developer"),
    ("DELETE", "/api/v1/spaces/{space}/apps/{name}"): Rule("developer"),
    ("POST", "/api/v1/spaces/{space}/apps/{name}/rollback"): Rule("developer"),
    ("POST", "/api/v1/spaces/{space}/apps/{name}/addons/{kind}/rotate"): Rule("developer"),
    ("POST", "/api/v1/spaces/{space}/apps/{name}/stop"): Rule("developer"),
    ("POST", "/api/v1/spaces/{space}/apps/{name}/start"): Rule("developer"),
    ("POST", "/api/v1/spaces/{space}/apps/{name}/restart"): Rule("developer"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/revisions"): Rule("viewer"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/revisions/{number}"): Rule(
        "viewer", "secrets masked"
    ),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/events"): Rule("viewer"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/stats"): Rule("viewer"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/logs"): Rule("viewer"),
    ("GET", "/api/v1/stacks/unmanaged"): Rule("cluster-admin", "sees every stack"),
    ("POST", "/api/v1/spaces/{space}/adopt"): Rule("cluster-admin", "takes over any stack"),
    ("GET", "/api/v1/addons"): Rule("user", "only the caller's spaces"),
    ("GET", "/api/v1/spaces/{space}/apps/{name}/addons/{kind}/dump"): Rule(
        "admin", "all of the app's data"
    ),
    ("PUT", "/api/v1/spaces/{space}/apps/{name}/addons/{kind}/restore"): Rule(
        "admin", "replaces the app's data"
    ),
    ("GET", "/api/v1/routes"): Rule("user", "only the caller's spaces"),
    ("POST", "/api/v1/routes"): Rule("developer", where="body"),
    ("DELETE", "/api/v1/routes"): Rule("developer", where="object"),
    ("GET", "/api/v1/domains"): Rule("user", "only the caller's spaces"),
    ("POST", "/api/v1/domains"): Rule("admin", where="body"),
    ("DELETE", "/api/v1/domains/{name}"): Rule("admin", where="object"),
    ("GET", "/api/v1/redirects"): Rule("user", "only the caller's spaces"),
    ("POST", "/api/v1/redirects"): Rule("developer", where="body"),
    ("DELETE", "/api/v1/redirects"): Rule("developer", where="object"),
    ("GET", "/api/v1/router"): Rule("user"),
    ("GET", "/api/v1/certificates"): Rule("user", "only the caller's spaces' domains"),
}


def client_address(request: Request) -> str | None:
    """The caller's address as the control plane sees it."""
    return request.client.host if request.client else None


def authenticate(request: Request) -> Principal | None:
    """The caller from a bearer token or a session cookie; ``None`` when neither is sent.

    Raises when credentials are sent but wrong, or a cookie request lacks its CSRF token.
    """
    header = request.headers.get("authorization")
    database = app_state(request).database
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("an API token is required (Authorization: Bearer ...)")
        with database.session() as session:
            principal = verify_token(session, token.strip())
        if principal is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        return principal
    found = browser_session(request)
    return found[0] if found is not None else None


def browser_session(
    request: Request, *, csrf_field: str | None = None
) -> tuple[Principal, str] | None:
    """The principal and CSRF token of the session cookie; ``None`` when none is sent.

    A request that changes something must send the session's CSRF token, in the
    ``X-CSRF-Token`` header (scripts, HTMX) or, for a plain HTML form, as its
    ``csrf_token`` field, which the caller reads from the form and passes as
    ``csrf_field``. Raises when the session has ended or the token is missing or wrong.
    """
    cookie = request.cookies.get(session_cookie_name(request))
    if cookie is None:
        return None
    with app_state(request).database.session() as session:
        found = verify_session(session, cookie)
    if found is None:
        raise Unauthenticated("the session has ended; sign in again")
    csrf = found[1]
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or csrf_field or ""
        if not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise Forbidden(f"CSRF token missing or wrong (send it in {CSRF_HEADER})")
    return found


@dataclass(frozen=True)
class OpenedSession:
    """A browser session just started: who, and the cookie and CSRF token to hand out."""

    user_id: int
    username: str
    is_admin: bool
    cookie: str
    csrf: str


def open_browser_session(
    request: Request, *, username: str, password: str, code: str | None
) -> OpenedSession:
    """Sign in and start a browser session; every attempt is audited.

    Raises :class:`SignInRefused` (counted towards the lockout) when refused.
    """
    state = app_state(request)
    address = client_address(request)
    with state.database.session() as session:
        try:
            user = sign_in(
                session,
                state.apps.vault,
                username=username,
                password=password,
                code=code,
                address=address,
            )
        except SignInRefused as refused:
            audit.record(
                session,
                actor=username[:64],
                action="login",
                address=address,
                result="denied",
                detail={"reason": "second factor missing" if refused.needs_code else "refused"},
            )
            session.commit()
            raise
        cookie, csrf = start_session(session, user, address=address)
        audit.record(session, actor=user.username, action="login", address=address, result="ok")
        return OpenedSession(
            user_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            cookie=cookie,
            csrf=csrf,
        )


def session_cookie_name(request: Request) -> str:
    """The session cookie's name: ``__Host-`` prefixed over HTTPS."""
    return SECURE_SESSION_COOKIE if request.url.scheme == "https" else SESSION_COOKIE


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    """Hand the session cookie to the browser: host-only (no Domain), HttpOnly,
    SameSite=Lax, Secure and ``__Host-`` over HTTPS."""
    response.set_cookie(
        session_cookie_name(request),
        cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
    )


def forget_session_cookie(request: Request, response: Response) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(
        session_cookie_name(request), path="/", secure=request.url.scheme == "https"
    )


def enforce(request: Request) -> None:
    """Check the permission table for the operation being called."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    rule = PERMISSIONS.get((request.method, path))
    if rule is None:
        raise Forbidden(f"no permission rule for {request.method} {path}")
    if rule.need == "public":
        # Public operations (signing in, accepting an invitation) work whatever stale
        # or foreign credentials the browser sends along.
        try:
            request.state.principal = authenticate(request)
        except (Unauthenticated, Forbidden):
            request.state.principal = None
        return
    principal = authenticate(request)
    request.state.principal = principal
    if principal is None:
        raise Unauthenticated("sign in or send an API token (Authorization: Bearer ...)")
    if rule.need == "account":
        require_unscoped(principal)
    elif rule.need == "cluster-admin":
        if not principal.is_admin:
            raise Forbidden("only a cluster admin may do this")
    elif rule.need in SPACE_ROLES and rule.where == "path":
        with app_state(request).database.session() as session:
            authorize(session, principal, request.path_params["space"], rule.need)


def current_principal(request: Request) -> Principal:
    """The caller ``enforce`` found (every non-public operation has one)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthenticated("sign in or send an API token (Authorization: Bearer ...)")
    return principal


def optional_principal(request: Request) -> Principal | None:
    """The caller, if any (public operations)."""
    found: Principal | None = getattr(request.state, "principal", None)
    return found


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def visible_space_names(session: Session, principal: Principal) -> set[str] | None:
    """Names of the spaces the caller may see; ``None`` means every space."""
    ids = visible_space_ids(session, principal)
    if ids is None:
        return None
    return set(session.scalars(select(Space.name).where(Space.id.in_(sorted(ids)))))


_WHO = {
    "public": "anyone",
    "user": "signed in",
    "account": "signed in, not with a space-scoped token",
    "cluster-admin": "cluster admin",
}
_WHERE = {"path": "", "body": " (space in the body)", "object": " (the object's space)"}


def permission_table() -> str:
    """The permission table as Markdown, for docs/security.md."""
    lines = ["| operation | who may call it | note |", "| --- | --- | --- |"]
    for (method, path), rule in sorted(PERMISSIONS.items(), key=lambda i: (i[0][1], i[0][0])):
        who = _WHO.get(rule.need) or f"{rule.need} or above{_WHERE[rule.where]}"
        lines.append(f"| `{method} {path.removeprefix('/api/v1')}` | {who} | {rule.note} |")
    return "\n".join(lines) + "\n"


def api_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) under ``/api/v1/`` in an OpenAPI document."""
    return sorted(
        (method.upper(), path)
        for path, item in openapi.get("paths", {}).items()
        if path.startswith("/api/v1/")
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    )


def unguarded(openapi: dict[str, Any]) -> list[str]:
    """API operations without a line in the permission table."""
    return [
        f"{method} {path}"
        for method, path in api_operations(openapi)
        if (method, path) not in PERMISSIONS
    ]


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PERMISSIONS",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "OpenedSession",
    "OptionalPrincipal",
    "Rule",
    "api_operations",
    "authenticate",
    "browser_session",
    "client_address",
    "current_principal",
    "enforce",
    "forget_session_cookie",
    "open_browser_session",
    "permission_table",
    "session_cookie_name",
    "set_session_cookie",
    "unguarded",
    "visible_space_names",
]
