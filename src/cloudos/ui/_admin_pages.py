"""The pages for people and access: the account, a space's settings, its routes, the
audit log, and the space portal.

Each change calls the same functions the API calls (``cloudos.identity``,
``cloudos.spaces``, ``cloudos.apps._routes``) after the same role check as the
API's permission table (docs/security.md); a space the visitor is not in answers 404.
A refused change is shown next to the field that caused it and, like every change,
leaves a line in the audit log (``via: web``) named as the API's operation is.
Secrets (a new token, an invitation code, recovery codes) are shown once, in the
answer to the form that made them, never stored in a page that can be loaded again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.apps._routes import (
    add_domain,
    add_redirect,
    add_route,
    remove_domain,
    remove_redirect,
    remove_route,
)
from cloudos.errors import CloudOSError, Forbidden, InvalidInput, NotFound
from cloudos.identity import (
    ROLES,
    at_least,
    audit,
    authorize,
    begin_own_totp,
    change_own_password,
    check_password_strength,
    check_role,
    confirm_own_totp,
    create_token,
    disable_own_totp,
    invite,
    members,
    pending_invitations,
    remove_member,
    role_in,
    roles_by_space,
    set_member,
    visible_space_ids,
)
from cloudos.spaces import (
    GRANTS,
    Quota,
    parse_size,
    set_policy,
    set_ports,
    set_quota,
    space_policy,
    space_ports,
)
from cloudos.spaces import space_quota as quota_of
from cloudos.statuses import DesiredState
from cloudos.store.models import (
    ApiToken,
    App,
    DomainClaim,
    RedirectRow,
    RouteRow,
    Space,
    User,
    utcnow,
)
from cloudos.ui._pages import _audit, _catalog, icon_url, status_tone
from cloudos.ui._session import CurrentVisitor, Form, PageRoute, Visitor, fields_of, redirect
from cloudos.ui._session import render as render_page
from cloudos.web._apps_api import _urls
from cloudos.web._state import app_state

router = APIRouter(route_class=PageRoute, include_in_schema=False)

TLS_MODES = ("", "internal", "acme")
AUDIT_SHOWN = 200
# The account forms' fields by the name of the operation's input an error is about.
_PASSWORD_FORM = {
    "current_password": "current_password",
    "new_password": "new_password",
    "code": "password_code",
}
_TOKEN_FORM = {"name": "name", "expires_days": "expires_days", "role": "role", "space": "space"}


def _attempt(
    request: Request,
    visitor: Visitor,
    *,
    action: str,
    work: Callable[[Session], object],
    space: str | None = None,
    target: str | None = None,
) -> tuple[object, CloudOSError | None]:
    """Run ``work`` in one transaction and audit it; a refusal is audited and returned."""
    database = app_state(request).database
    try:
        with database.session() as session:
            result = work(session)
            _audit(session, request, visitor, action=action, space=space, target=target)
    except CloudOSError as err:
        with database.session() as session:
            _audit(session, request, visitor, action=action, space=space, target=target, failed=err)
        return None, err
    return result, None


def _guard(request: Request, visitor: Visitor, *, space: str, needed: str, action: str) -> Space:
    """The space if the visitor has ``needed`` there; a refusal is audited, then raised."""
    database = app_state(request).database
    try:
        with database.session() as session:
            found = authorize(session, visitor.principal, space, needed)
            session.expunge(found)
            return found
    except CloudOSError as err:
        with database.session() as session:
            _audit(session, request, visitor, action=action, space=space, failed=err)
        raise


def _admin_only(request: Request, visitor: Visitor, *, action: str, what: str) -> None:
    if not visitor.principal.is_admin:
        err = Forbidden(f"only a cluster admin may {what}")
        with app_state(request).database.session() as session:
            _audit(session, request, visitor, action=action, failed=err)
        raise err


def _form_error(
    err: CloudOSError, default: str, fields: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``err`` as a form's errors: on the form field its ``field`` names (``fields`` maps
    the operation's input names to the form's), else on ``default``."""
    named = (fields or {}).get(err.field or "")
    return {named or default: _reason(err)}


def _reason(err: CloudOSError) -> str:
    """The message, without the ``field: `` it starts with: the page shows it at the field."""
    return str(err).removeprefix(f"{err.field}: ") if err.field else str(err)


# -- the account -----------------------------------------------------------------------


@router.get("/account")
def account(request: Request, visitor: CurrentVisitor) -> Response:
    """Password, two-factor authentication and API tokens of the visitor."""
    return _account(request, visitor)


def _account(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
    **shown: Any,
) -> Response:
    with app_state(request).database.session() as session:
        user = session.get(User, visitor.principal.user_id)
        if user is None:
            raise NotFound("user not found")
        names = {row.id: row.name for row in session.execute(select(Space.id, Space.name))}
        tokens = [
            {
                "id": row.id,
                "name": row.name,
                "space": names.get(row.space_id) if row.space_id is not None else None,
                "role": row.role,
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "last_used_at": row.last_used_at,
                "revoked": row.revoked_at is not None,
            }
            for row in session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
            )
        ]
        context = {
            "two_factor": user.totp_secret is not None,
            "tokens": tokens,
            "spaces": _space_roles(session, visitor),
            "roles": ROLES,
            "errors": dict(errors or {}),
            "notice": notice,
            "totp": None,
            "recovery_codes": None,
            "new_token": None,
            "sent": {},
            **shown,
        }
    return render_page(request, "account.html", context, visitor=visitor, status=status)


def _space_roles(session: Session, visitor: Visitor) -> list[tuple[str, str]]:
    visible = visible_space_ids(session, visitor.principal)
    query = select(Space).where(Space.removing.is_(False)).order_by(Space.name)
    if visible is not None:
        query = query.where(Space.id.in_(sorted(visible)))
    spaces = list(session.scalars(query))
    roles = roles_by_space(session, visitor.principal, spaces)
    return [(space.name, roles[space.id]) for space in spaces if space.id in roles]


def _user(session: Session, visitor: Visitor) -> User:
    user = session.get(User, visitor.principal.user_id)
    if user is None:
        raise NotFound("user not found")
    return user


@router.post("/account/password")
def password_change(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Change the password (proven by the current one, and a code with 2FA on)."""
    sent = fields_of(form)
    vault = app_state(request).apps.vault

    def work(session: Session) -> None:
        new_password = sent.get("new_password", "")[:1024]
        check_password_strength(new_password, field="new_password")
        change_own_password(
            session,
            _user(session, visitor),
            vault,
            principal=visitor.principal,
            current_password=sent.get("current_password", "")[:1024],
            code=sent.get("password_code", "")[:64] or None,
            new_password=new_password,
        )

    _, err = _attempt(request, visitor, action="change_password", work=work)
    if err is not None:
        where = _form_error(err, "new_password", _PASSWORD_FORM)
        return _account(request, visitor, status=err.http_status, errors=where)
    return _account(request, visitor, notice="Password changed; other sessions ended.")


@router.post("/account/2fa")
def totp_begin(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Start turning on two-factor authentication (needs the password): the secret."""
    vault = app_state(request).apps.vault
    sent = fields_of(form)

    def work(session: Session) -> tuple[str, str]:
        password = sent.get("begin_password", "")[:1024]
        user = _user(session, visitor)
        return begin_own_totp(user, vault, principal=visitor.principal, password=password)

    begun, err = _attempt(request, visitor, action="totp_begin", work=work)
    if err is not None:
        where = _form_error(err, "begin_password")
        return _account(request, visitor, status=err.http_status, errors=where)
    assert isinstance(begun, tuple)
    return _account(request, visitor, totp={"secret": begun[0], "uri": begun[1]})


@router.post("/account/2fa/confirm")
def totp_confirm(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Finish turning it on with a current code; shows the recovery codes, once."""
    vault = app_state(request).apps.vault
    sent = fields_of(form)

    def work(session: Session) -> list[str]:
        code = sent.get("code", "")[:64]
        return confirm_own_totp(
            _user(session, visitor), vault, principal=visitor.principal, code=code
        )

    codes, err = _attempt(request, visitor, action="totp_confirm", work=work)
    if err is not None:
        return _account(
            request,
            visitor,
            status=err.http_status,
            errors=_form_error(err, "code"),
            totp={"secret": sent.get("secret", ""), "uri": sent.get("uri", "")},
        )
    return _account(request, visitor, recovery_codes=codes)


@router.post("/account/2fa/disable")
def totp_disable(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Turn two-factor authentication off (needs the password and a current code)."""
    vault = app_state(request).apps.vault
    sent = fields_of(form)

    def work(session: Session) -> None:
        disable_own_totp(
            _user(session, visitor),
            vault,
            principal=visitor.principal,
            password=sent.get("disable_password", "")[:1024],
            code=sent.get("disable_code", "")[:64] or None,
        )

    _, err = _attempt(request, visitor, action="totp_disable", work=work)
    if err is not None:
        where = _form_error(err, "disable_password", {"code": "disable_code"})
        return _account(request, visitor, status=err.http_status, errors=where)
    return _account(request, visitor, notice="Two-factor authentication is off.")


@router.post("/account/tokens")
def token_create(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """A new API token, shown once; a scoped one never above the visitor's role."""
    sent = fields_of(form)
    name = sent.get("name", "").strip()[:128]
    space_name = sent.get("space", "").strip() or None
    wanted = sent.get("role", "").strip() or None
    days = sent.get("expires_days", "").strip()

    def work(session: Session) -> str:
        if not name:
            raise InvalidInput("name: give the token a name", field="name")
        expires = None
        if days:
            if not days.isdigit() or not 1 <= int(days) <= 3650:
                raise InvalidInput(
                    "expires_days: a number of days from 1 to 3650", field="expires_days"
                )
            expires = utcnow() + timedelta(days=int(days))
        space_id, role = None, None
        if space_name is not None:
            space = authorize(session, visitor.principal, space_name, "viewer")
            mine = role_in(session, visitor.principal, space)
            assert mine is not None
            role = check_role(wanted) if wanted else mine
            if not at_least(mine, role):
                raise Forbidden(
                    f"role: you are {mine} in space {space_name!r}, not {role}", field="role"
                )
            space_id = space.id
        elif wanted is not None:
            raise InvalidInput("role: give a space for a role-scoped token", field="role")
        return create_token(
            session,
            user=_user(session, visitor),
            name=name,
            expires_at=expires,
            space_id=space_id,
            role=role,
        )

    secret, err = _attempt(request, visitor, action="token_create", work=work, target=name)
    if err is not None:
        # A space the visitor is not in is not found, as any: that lands on "space" too.
        where = _form_error(err, "space", _TOKEN_FORM)
        return _account(request, visitor, status=err.http_status, errors=where, sent=sent)
    return _account(request, visitor, new_token={"name": name, "secret": secret})


@router.post("/account/tokens/{token_id}/revoke")
def token_revoke(token_id: int, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Revoke one of the visitor's tokens; it stops working at once."""

    def work(session: Session) -> None:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != visitor.principal.user_id:
            raise NotFound(f"token {token_id} not found")
        row.revoked_at = row.revoked_at or utcnow()

    _, err = _attempt(request, visitor, action="token_revoke", work=work, target=str(token_id))
    if err is not None:
        raise err
    return redirect(request, "/account")


# -- a space's settings ------------------------------------------------------------------


@router.get("/spaces/{space}/settings")
def space_settings(space: str, request: Request, visitor: CurrentVisitor) -> Response:
    """Members, invitations, quotas, policy and domains of a space."""
    return _settings(request, visitor, space)


def _settings(
    request: Request,
    visitor: Visitor,
    space: str,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    sent: Mapping[str, str] | None = None,
    **shown: Any,
) -> Response:
    state = app_state(request)
    with state.database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        role = role_in(session, visitor.principal, found)
        is_admin = at_least(role, "admin")
        limits = quota_of(found)
        try:
            used = state.apps.space_usage(session, found)
            usage: dict[str, Any] = {
                "apps": used.apps,
                "cpus": used.cpus,
                "memory": used.memory,
                "problem": None,
            }
        except CloudOSError as err:  # an app whose revision cannot be read: say so
            usage = {"apps": "?", "cpus": "?", "memory": "?", "problem": str(err)}
        context = {
            "space": {"name": found.name, "domain": found.domain},
            "role": role,
            "can_manage": is_admin,
            "is_owner": at_least(role, "owner"),
            "cluster_admin": visitor.principal.is_admin,
            "roles": ROLES,
            "members": [
                {"username": user.username, "role": membership.role, "since": membership.created_at}
                for user, membership in members(session, found)
            ],
            "invitations": (
                [
                    {"role": row.role, "by": row.created_by, "expires_at": row.expires_at}
                    for row in pending_invitations(session, found)
                ]
                if is_admin
                else []
            ),
            "quota": {
                "max_apps": limits.max_apps,
                "max_cpus": limits.max_cpus,
                "max_memory": limits.max_memory,
                **usage,
            },
            "policy": space_policy(found),
            "ports": str(space_ports(found) or ""),
            "grants": GRANTS,
            "domains": [
                {"name": row.name, "tls": row.tls, "created_at": row.created_at}
                for row in session.scalars(
                    select(DomainClaim)
                    .where(DomainClaim.space_id == found.id)
                    .order_by(DomainClaim.name)
                )
            ],
            "tls_modes": TLS_MODES,
            "errors": dict(errors or {}),
            "sent": dict(sent or {}),
            "invitation_code": None,
            **shown,
        }
    return render_page(request, "settings.html", context, visitor=visitor, status=status)


def _settings_change(
    request: Request,
    visitor: Visitor,
    space: str,
    *,
    needed: str,
    action: str,
    field: str,
    sent: Mapping[str, str],
    work: Callable[[Session, Space, str], object],
    target: str | None = None,
) -> tuple[object, Response | None]:
    """Check the role, run ``work(session, space, role)``; a refusal: the page with the error."""
    _guard(request, visitor, space=space, needed=needed, action=action)

    def run(session: Session) -> object:
        found = authorize(session, visitor.principal, space, needed)
        return work(session, found, role_in(session, visitor.principal, found) or "viewer")

    result, err = _attempt(request, visitor, action=action, work=run, space=space, target=target)
    if err is not None:
        page = _settings(
            request,
            visitor,
            space,
            status=err.http_status,
            errors={field: _reason(err)},
            sent=sent,
        )
        return None, page
    return result, None


@router.post("/spaces/{space}/members")
def member_set(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Add a member by user name with a role, or change a member's role."""
    sent = fields_of(form)
    username = sent.get("username", "").strip()[:64]
    field = sent.get("field", "member")  # the role select of a row, or the add form

    def work(session: Session, found: Space, mine: str) -> object:
        if not username:
            raise InvalidInput("give a user name")
        return set_member(
            session,
            found,
            username=username,
            role=check_role(sent.get("role", "")),
            granted_by=mine,
        )

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="admin",
        action="member_set",
        field=field if field.startswith("member") else "member",
        sent=sent,
        work=work,
        target=username,
    )
    return page or redirect(request, f"/spaces/{space}/settings")


@router.post("/spaces/{space}/members/{username}/remove")
def member_remove(
    space: str, username: str, request: Request, visitor: CurrentVisitor, form: Form
) -> Response:
    """Take a member out of the space (owners only by owners; one owner stays)."""

    def work(session: Session, found: Space, mine: str) -> object:
        remove_member(session, found, username=username, removed_by=mine)
        return None

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="admin",
        action="member_remove",
        field=f"member-{username}",
        sent={},
        work=work,
        target=username,
    )
    return page or redirect(request, f"/spaces/{space}/settings")


@router.post("/spaces/{space}/invitations")
def invitation_create(
    space: str, request: Request, visitor: CurrentVisitor, form: Form
) -> Response:
    """An invitation code into the space, shown once (owners only by owners)."""
    sent = fields_of(form)

    def work(session: Session, found: Space, mine: str) -> object:
        return invite(
            session,
            found,
            role=check_role(sent.get("role", "developer") or "developer"),
            invited_by=visitor.principal.username,
            granted_by=mine,
        )

    code, page = _settings_change(
        request,
        visitor,
        space,
        needed="admin",
        action="invitation_create",
        field="invitation",
        sent=sent,
        work=work,
    )
    if page is not None:
        return page
    shown = {"code": code, "role": sent.get("role", "developer")}
    return _settings(request, visitor, space, invitation_code=shown)


@router.post("/spaces/{space}/quota")
def quota_set(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Replace the space's quotas (cluster admins only)."""
    _guard(request, visitor, space=space, needed="viewer", action="quota_set")
    _admin_only(request, visitor, action="quota_set", what="change a space's quotas")
    sent = fields_of(form)

    def work(session: Session, found: Space, mine: str) -> object:
        apps, cpus, memory = (
            sent.get(k, "").strip() for k in ("max_apps", "max_cpus", "max_memory")
        )
        try:
            limits = Quota(
                max_apps=int(apps) if apps else None,
                max_cpus=float(cpus) if cpus else None,
                max_memory=parse_size(memory, what="max_memory") if memory else None,
            )
        except ValueError as err:
            raise InvalidInput("max_apps and max_cpus: numbers, or empty for no limit") from err
        return set_quota(session, name=found.name, quota=limits)

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="viewer",
        action="quota_set",
        field="quota",
        sent=sent,
        work=work,
    )
    return page or redirect(request, f"/spaces/{space}/settings")


@router.post("/spaces/{space}/policy")
def policy_set(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Replace the grants the space allows (cluster admins only)."""
    _guard(request, visitor, space=space, needed="viewer", action="policy_set")
    _admin_only(request, visitor, action="policy_set", what="change a space's policy")
    allow = [key for key, value in form.multi_items() if key in GRANTS and value == "true"]
    sent = fields_of(form)

    def work(session: Session, found: Space, mine: str) -> object:
        set_ports(session, name=found.name, ports=sent.get("ports"))
        return set_policy(session, name=found.name, allow=allow)

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="viewer",
        action="policy_set",
        field="policy",
        sent={"ports": sent.get("ports", "")},
        work=work,
    )
    return page or redirect(request, f"/spaces/{space}/settings")


@router.post("/spaces/{space}/domains")
def domain_add(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Claim a domain for the space, with a TLS mode."""
    state = app_state(request)
    sent = fields_of(form)
    name = sent.get("name", "").strip().lower()[:253]
    tls = sent.get("tls", "")

    def work(session: Session, found: Space, mine: str) -> object:
        if tls not in TLS_MODES:
            raise InvalidInput(f"tls: one of {', '.join(m for m in TLS_MODES if m)}", field="tls")
        return add_domain(
            session,
            state.apps.vault,
            space=found.name,
            name=name,
            tls=tls or None,
            platform=state.settings.platform,
        )

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="admin",
        action="domain_add",
        field="domain",
        sent=sent,
        work=work,
        target=name,
    )
    if page is not None:
        return page
    state.apps_wake()
    return redirect(request, f"/spaces/{space}/settings")


@router.post("/spaces/{space}/domains/{name}/release")
def domain_remove(
    space: str, name: str, request: Request, visitor: CurrentVisitor, form: Form
) -> Response:
    """Give up a domain claim of the space."""
    state = app_state(request)

    def work(session: Session, found: Space, mine: str) -> object:
        claim = session.scalar(
            select(DomainClaim).where(DomainClaim.name == name, DomainClaim.space_id == found.id)
        )
        if claim is None:
            raise NotFound(f"domain {name} is not claimed by space {found.name!r}")
        remove_domain(session, name=name)
        return None

    _, page = _settings_change(
        request,
        visitor,
        space,
        needed="admin",
        action="domain_remove",
        field=f"domain-{name}",
        sent={},
        work=work,
        target=name,
    )
    if page is not None:
        return page
    state.apps_wake()
    return redirect(request, f"/spaces/{space}/settings")


# -- routes, redirects and certificates ---------------------------------------------------


@router.get("/spaces/{space}/routes")
def routes_page(space: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The space's routes and redirects; its certificates load as a fragment."""
    return _routes(request, visitor, space)


def _routes(
    request: Request,
    visitor: Visitor,
    space: str,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    sent: Mapping[str, str] | None = None,
) -> Response:
    settings = app_state(request).settings
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    with app_state(request).database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        role = role_in(session, visitor.principal, found)
        rows = session.execute(
            select(
                RouteRow.domain,
                RouteRow.path,
                RouteRow.service,
                RouteRow.port,
                RouteRow.is_default,
                RouteRow.options,
                App.name,
            )
            .join(App, App.id == RouteRow.app_id)
            .where(RouteRow.space_id == found.id, App.desired_state != DesiredState.REMOVED)
            .order_by(RouteRow.domain, RouteRow.path)
        ).all()
        context = {
            "space": {"name": found.name, "domain": found.domain},
            "role": role,
            "can_change": at_least(role, "developer"),
            "routes": [
                {
                    "app": row.name,
                    "domain": row.domain,
                    "path": row.path,
                    "service": row.service,
                    "port": row.port,
                    "default": row.is_default,
                    "strip_prefix": bool((row.options or {}).get("strip_prefix")),
                    "url": f"https://{row.domain}{port}{row.path}",
                }
                for row in rows
            ],
            "apps": list(
                session.scalars(
                    select(App.name)
                    .where(App.space_id == found.id, App.desired_state != DesiredState.REMOVED)
                    .order_by(App.name)
                )
            ),
            "redirects": [
                {
                    "domain": row.domain,
                    "path": row.path,
                    "to": row.to,
                    "status": row.status,
                    "keep_path": row.keep_path,
                }
                for row in session.scalars(
                    select(RedirectRow)
                    .where(RedirectRow.space_id == found.id)
                    .order_by(RedirectRow.domain, RedirectRow.path)
                )
            ],
            "errors": dict(errors or {}),
            "sent": dict(sent or {}),
        }
    return render_page(request, "routes.html", context, visitor=visitor, status=status)


def _routes_change(
    request: Request,
    visitor: Visitor,
    space: str,
    *,
    action: str,
    field: str,
    sent: Mapping[str, str],
    work: Callable[[Session, Space], object],
    target: str | None = None,
) -> Response:
    _guard(request, visitor, space=space, needed="developer", action=action)

    def run(session: Session) -> object:
        return work(session, authorize(session, visitor.principal, space, "developer"))

    _, err = _attempt(request, visitor, action=action, work=run, space=space, target=target)
    if err is not None:
        return _routes(
            request,
            visitor,
            space,
            status=err.http_status,
            errors={field: _reason(err)},
            sent=sent,
        )
    app_state(request).apps_wake()
    return redirect(request, f"/spaces/{space}/routes")


def _owned(found: Space, space_id: int) -> None:
    if space_id != found.id:
        raise NotFound("not found in this space")


@router.post("/spaces/{space}/routes")
def route_add(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Send a domain (and path prefix) to an app of the space."""
    sent = fields_of(form)
    domain = sent.get("domain", "").strip().lower()

    def work(session: Session, found: Space) -> object:
        port = sent.get("port", "").strip()
        if port and not port.isdigit():
            raise InvalidInput("port: a number", field="port")
        return add_route(
            session,
            space=found.name,
            app_name=sent.get("app", ""),
            domain=domain,
            path=sent.get("path", "").strip() or "/",
            service=sent.get("service", "").strip() or None,
            port=int(port) if port else None,
            strip_prefix=sent.get("strip_prefix") == "true",
            platform=app_state(request).settings.platform,
        )

    return _routes_change(
        request,
        visitor,
        space,
        action="route_add",
        field="route",
        sent=sent,
        work=work,
        target=domain,
    )


@router.post("/spaces/{space}/routes/remove")
def route_remove(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Remove a route of the space."""
    sent = fields_of(form)
    domain, path = sent.get("domain", ""), sent.get("path", "/")

    def work(session: Session, found: Space) -> object:
        remove_route(session, domain=domain, path=path, check_space=lambda sid: _owned(found, sid))
        return None

    return _routes_change(
        request,
        visitor,
        space,
        action="route_remove",
        field=f"route-{domain}{path}",
        sent={},
        work=work,
        target=domain,
    )


@router.post("/spaces/{space}/redirects")
def redirect_add(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Answer a domain (and path) with a redirect."""
    sent = fields_of(form)
    domain = sent.get("domain", "").strip().lower()

    def work(session: Session, found: Space) -> object:
        status = sent.get("status", "301")
        if status not in ("301", "302", "307", "308"):
            raise InvalidInput("status: 301, 302, 307 or 308", field="status")
        return add_redirect(
            session,
            space=found.name,
            domain=domain,
            to=sent.get("to", "").strip(),
            status=int(status),
            keep_path=sent.get("keep_path") == "true",
            path=sent.get("path", "").strip() or "/",
            platform=app_state(request).settings.platform,
        )

    return _routes_change(
        request,
        visitor,
        space,
        action="redirect_add",
        field="redirect",
        sent=sent,
        work=work,
        target=domain,
    )


@router.post("/spaces/{space}/redirects/remove")
def redirect_remove(space: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Remove a redirect of the space."""
    sent = fields_of(form)
    domain, path = sent.get("domain", ""), sent.get("path", "/")

    def work(session: Session, found: Space) -> object:
        remove_redirect(
            session, domain=domain, path=path, check_space=lambda sid: _owned(found, sid)
        )
        return None

    return _routes_change(
        request,
        visitor,
        space,
        action="redirect_remove",
        field=f"redirect-{domain}{path}",
        sent={},
        work=work,
        target=domain,
    )


@router.get("/spaces/{space}/certificates")
def certificates(space: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The certificates of the space's domains, as the router holds them (a fragment:
    this asks the engine and the router)."""
    from cloudos.web._routes_api import certificates as all_certificates

    with app_state(request).database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        hosts = set(session.scalars(select(RouteRow.domain).where(RouteRow.space_id == found.id)))
        hosts |= set(
            session.scalars(select(DomainClaim.name).where(DomainClaim.space_id == found.id))
        )
    problem = None
    try:
        listed = [
            cert for cert in all_certificates(request, visitor.principal) if set(cert.names) & hosts
        ]
    except CloudOSError as err:
        listed, problem = [], str(err)
    context = {"certificates": listed, "problem": problem}
    return render_page(request, "_certificates.html", context, visitor=visitor)


# -- the audit log ---------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    visitor: CurrentVisitor,
    actor: str = "",
    action: str = "",
    since: str = "",
) -> Response:
    """The cluster-wide audit log (cluster admins), filtered."""
    if not visitor.principal.is_admin:
        raise Forbidden("only a cluster admin reads the whole audit log")
    return _audit_page(request, visitor, space=None, actor=actor, action=action, since=since)


@router.get("/spaces/{space}/audit")
def space_audit_page(
    space: str,
    request: Request,
    visitor: CurrentVisitor,
    actor: str = "",
    action: str = "",
    since: str = "",
) -> Response:
    """One space's audit log (its admins), filtered."""
    with app_state(request).database.session() as session:
        authorize(session, visitor.principal, space, "admin")
    return _audit_page(request, visitor, space=space, actor=actor, action=action, since=since)


def _audit_page(
    request: Request, visitor: Visitor, *, space: str | None, actor: str, action: str, since: str
) -> Response:
    filters = {"actor": actor.strip()[:64], "action": action.strip()[:64], "since": since.strip()}
    errors: dict[str, str] = {}
    start = None
    if filters["since"]:
        try:
            start = datetime.fromisoformat(filters["since"])
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
        except ValueError:
            errors["since"] = "a date (2025-01-31) or a time (2025-01-31T12:00)"
    with app_state(request).database.session() as session:
        rows = (
            [
                {
                    "at": row.at,
                    "actor": row.actor,
                    "address": row.client_address,
                    "action": row.action,
                    "space": row.space,
                    "target": row.target,
                    "result": row.result,
                    "ok": row.result.startswith("ok"),
                }
                for row in audit.query(
                    session,
                    space=space,
                    actor=filters["actor"] or None,
                    action=filters["action"] or None,
                    since=start,
                    limit=AUDIT_SHOWN,
                )
            ]
            if not errors
            else []
        )
    query = "&".join(f"{key}={value}" for key, value in filters.items() if value)
    base = f"/api/v1/spaces/{space}/audit" if space else "/api/v1/audit"
    context = {
        "space": space,
        "rows": rows,
        "filters": filters,
        "errors": errors,
        "limit": AUDIT_SHOWN,
        "export": f"{base}?format=jsonl&limit=100000" + (f"&{query}" if query else ""),
    }
    status = 422 if errors else 200
    return render_page(request, "audit.html", context, visitor=visitor, status=status)


# -- the space portal ---------------------------------------------------------------------


@router.get("/portal/{space}")
def portal(space: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The space's apps as tiles: the window through which its people open them."""
    templates = _catalog()
    with app_state(request).database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        apps = session.execute(
            select(App.id, App.name, App.template_id, App.status)
            .where(App.space_id == found.id, App.desired_state != DesiredState.REMOVED)
            .order_by(App.name)
        ).all()
        urls = _urls(request, session, [app.id for app in apps])
        tiles = []
        for app in apps:
            template = templates.get(app.template_id or "")
            tiles.append(
                {
                    "name": app.name,
                    "title": template.name if template is not None else app.template_id,
                    "icon": icon_url(template) if template is not None else None,
                    "status": app.status,
                    "tone": status_tone(app.status),
                    "url": next(iter(urls.get(app.id, [])), None),
                }
            )
        context = {"space": {"name": found.name, "domain": found.domain}, "tiles": tiles}
    return render_page(request, "portal.html", context, visitor=visitor)


__all__ = ["router"]
