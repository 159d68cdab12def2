"""People and access: sign-in, the caller's account, users, tokens, members, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudos.errors import Conflict, Forbidden, InvalidInput, NotFound
from cloudos.identity import (
    DisplayName,
    Principal,
    accept,
    at_least,
    audit,
    authorize,
    begin_own_totp,
    change_own_password,
    check_password_strength,
    check_role,
    confirm_own_totp,
    create_token,
    create_user,
    disable_own_totp,
    end_session,
    invite,
    members,
    pending_invitations,
    remove_member,
    role_in,
    set_member,
    set_password,
    visible_space_ids,
)
from cloudos.store.models import (
    MAX_ROW_ID,
    ApiToken,
    AuditEvent,
    Membership,
    Space,
    User,
    utcnow,
)
from cloudos.web._auth import (
    CurrentPrincipal,
    OptionalPrincipal,
    forget_session_cookie,
    open_browser_session,
    set_session_cookie,
)
from cloudos.web._models import RequestBody
from cloudos.web._state import app_state

router = APIRouter(prefix="/api/v1", tags=["identity"])

Role = Literal["viewer", "developer", "admin", "owner"]


class LoginIn(RequestBody):
    """Credentials; ``token_name`` asks for an API token too (for the command line)."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    code: str | None = Field(default=None, max_length=64)
    token_name: DisplayName | None = Field(default=None, max_length=128)
    token_days: int | None = Field(default=None, ge=1, le=3650)


class LoginOut(BaseModel):
    """A signed-in session (cookie set) and, when asked, an API token (shown once)."""

    username: str
    is_admin: bool
    csrf_token: str
    token: str | None = None


class SpaceRoleOut(BaseModel):
    """A space and the caller's role there."""

    space: str
    role: str


class MeOut(BaseModel):
    """The caller, as the API sees it."""

    username: str
    is_admin: bool
    two_factor: bool
    spaces: list[SpaceRoleOut]
    token_scope: SpaceRoleOut | None = None
    token_id: int | None = None  # the API token this request came with (for `cloudos logout`)


class PasswordChangeIn(RequestBody):
    """A new password, proven by the current one (and a current code with 2FA on)."""

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
    code: str | None = Field(default=None, max_length=64)


class PasswordResetIn(RequestBody):
    """A new password set by a cluster admin."""

    password: str = Field(max_length=1024)


class TotpBeginOut(BaseModel):
    """The secret to enter in an authenticator app (or its URI, for a QR code)."""

    secret: str
    uri: str


class CodeIn(RequestBody):
    """A code from the authenticator app."""

    code: str = Field(max_length=64)


class RecoveryCodesOut(BaseModel):
    """Single-use codes for when the phone is lost: shown once."""

    recovery_codes: list[str]


class PasswordIn(RequestBody):
    """The current password (and a current code with 2FA on), to confirm a sensitive change."""

    password: str = Field(max_length=1024)
    code: str | None = Field(default=None, max_length=64)


class UserIn(RequestBody):
    """A new user."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    is_admin: bool = False


class UserOut(BaseModel):
    """A user."""

    username: str
    is_admin: bool
    two_factor: bool
    spaces: list[SpaceRoleOut]
    created_at: datetime


class TokenIn(RequestBody):
    """A new API token; with ``space`` it acts only there, with at most ``role``."""

    name: DisplayName = Field(min_length=1, max_length=128)
    space: str | None = Field(default=None, max_length=32)
    role: Role | None = None
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    """An API token (its secret only in the answer that created it)."""

    id: int
    name: str
    space: str | None
    role: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    token: str | None = None


class MemberIn(RequestBody):
    """A member's role."""

    role: Role


class MemberOut(BaseModel):
    """A member of a space."""

    username: str
    role: str
    since: datetime


class InvitationIn(RequestBody):
    """An invitation's role."""

    role: Role = "developer"


class InvitationOut(BaseModel):
    """An invitation (its code only in the answer that created it)."""

    id: int
    space: str
    role: str
    created_by: str
    expires_at: datetime
    code: str | None = None


class AcceptIn(RequestBody):
    """Use an invitation: signed in, or as a new user with a name and password."""

    code: str = Field(max_length=256)
    username: str | None = Field(default=None, max_length=64)
    password: str | None = Field(default=None, max_length=1024)


class AuditOut(BaseModel):
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    client_address: str | None
    action: str
    space: str | None
    target: str | None
    result: str
    detail: dict[str, object] | None


# -- signing in ---------------------------------------------------------------------


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
    """Sign in: sets the session cookie; with ``token_name``, also returns an API token."""
    request.state.audited = True
    opened = open_browser_session(
        request, username=body.username, password=body.password, code=body.code
    )
    token = None
    if body.token_name:
        expires = utcnow() + timedelta(days=body.token_days) if body.token_days else None
        with app_state(request).database.session() as session:
            user = _user(session, opened.user_id)
            token = create_token(session, user=user, name=body.token_name, expires_at=expires)
    set_session_cookie(request, response, opened.cookie)
    return LoginOut(
        username=opened.username, is_admin=opened.is_admin, csrf_token=opened.csrf, token=token
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, principal: CurrentPrincipal) -> Response:
    """End the browser session (API tokens stay valid until revoked)."""
    if principal.session_id is not None:
        with app_state(request).database.session() as session:
            end_session(session, principal.session_id)
    response = Response(status_code=204)
    forget_session_cookie(request, response)
    return response


@router.post("/invitations/accept", response_model=SpaceRoleOut)
def accept_invitation(
    body: AcceptIn, request: Request, principal: OptionalPrincipal
) -> SpaceRoleOut:
    """Join a space with an invitation code, as the caller or as a new user."""
    with app_state(request).database.session() as session:
        if principal is not None:
            user = session.get(User, principal.user_id)
            assert user is not None
        else:
            if not body.username or not body.password:
                raise InvalidInput("username and password: needed to join as a new user")
            check_password_strength(body.password)
            user = create_user(session, username=body.username, password=body.password)
        membership = accept(session, body.code, user)
        space = session.get(Space, membership.space_id)
        assert space is not None
        return SpaceRoleOut(space=space.name, role=membership.role)


# -- the caller's account -------------------------------------------------------------


@router.get("/me", response_model=MeOut)
def me(request: Request, principal: CurrentPrincipal) -> MeOut:
    """Who the caller is, and their role in each of their spaces."""
    with app_state(request).database.session() as session:
        user = _user(session, principal.user_id)
        scope = None
        if principal.scope_space_id is not None:
            space = session.get(Space, principal.scope_space_id)
            role = role_in(session, principal, space) if space else None
            if space is not None and role is not None:
                scope = SpaceRoleOut(space=space.name, role=role)
        return MeOut(
            username=user.username,
            is_admin=principal.is_admin,
            two_factor=user.totp_secret is not None,
            spaces=_spaces_of(session, principal),
            token_scope=scope,
            token_id=principal.token_id,
        )


@router.put("/me/password", status_code=204)
def change_password(
    body: PasswordChangeIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Change the caller's password (current password, and code with 2FA on); sessions end."""
    state = app_state(request)
    with state.database.session() as session:
        change_own_password(
            session,
            _user(session, principal.user_id),
            state.apps.vault,
            principal=principal,
            current_password=body.current_password,
            code=body.code,
            new_password=body.new_password,
        )
    return Response(status_code=204)


@router.post("/me/2fa", response_model=TotpBeginOut)
def totp_begin(body: PasswordIn, request: Request, principal: CurrentPrincipal) -> TotpBeginOut:
    """Start turning on two-factor authentication (needs the password): a secret for the app."""
    state = app_state(request)
    with state.database.session() as session:
        user = _user(session, principal.user_id)
        secret, uri = begin_own_totp(
            user, state.apps.vault, principal=principal, password=body.password
        )
    return TotpBeginOut(secret=secret, uri=uri)


@router.post("/me/2fa/confirm", response_model=RecoveryCodesOut)
def totp_confirm(body: CodeIn, request: Request, principal: CurrentPrincipal) -> RecoveryCodesOut:
    """Finish turning it on with a current code; returns recovery codes, shown once."""
    state = app_state(request)
    with state.database.session() as session:
        user = _user(session, principal.user_id)
        codes = confirm_own_totp(user, state.apps.vault, principal=principal, code=body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/me/2fa/disable", status_code=204)
def totp_disable(body: PasswordIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Turn two-factor authentication off (needs the password and a current code)."""
    state = app_state(request)
    with state.database.session() as session:
        user = _user(session, principal.user_id)
        disable_own_totp(
            user, state.apps.vault, principal=principal, password=body.password, code=body.code
        )
    return Response(status_code=204)


# -- tokens ---------------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut])
def tokens(request: Request, principal: CurrentPrincipal) -> list[TokenOut]:
    """The caller's API tokens."""
    with app_state(request).database.session() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id)
        ).all()
        return [_token_out(session, row) for row in rows if _reaches(principal, row)]


@router.post("/tokens", response_model=TokenOut, status_code=201)
def token_create(body: TokenIn, request: Request, principal: CurrentPrincipal) -> TokenOut:
    """A new API token of the caller, shown once; scoped tokens never exceed the caller."""
    if principal.scope_space_id is not None and body.space is None:
        raise Forbidden("a token scoped to a space can only create tokens scoped to it")
    with app_state(request).database.session() as session:
        user = _user(session, principal.user_id)
        space_id = None
        if body.space is not None:
            space = authorize(session, principal, body.space, "viewer")
            mine = role_in(session, principal, space)
            role = body.role or mine
            assert mine is not None
            role = role or mine
            if not at_least(mine, role):
                raise Forbidden(
                    f"role: you are {mine} in space {body.space!r}, not {role}", field="role"
                )
            space_id = space.id
        elif body.role is not None:
            raise InvalidInput("role: give a space for a role-scoped token", field="role")
        else:
            role = None
        expires = utcnow() + timedelta(days=body.expires_days) if body.expires_days else None
        _check_outlives(session, principal, expires)
        secret = create_token(
            session, user=user, name=body.name, expires_at=expires, space_id=space_id, role=role
        )
        row = session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).first()
        assert row is not None
        return _token_out(session, row).model_copy(update={"token": secret})


@router.delete("/tokens/{token_id}", status_code=204)
def token_revoke(token_id: int, request: Request, principal: CurrentPrincipal) -> Response:
    """Revoke one of the caller's tokens; it stops working at once."""
    with app_state(request).database.session() as session:
        row = session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ROW_ID else None
        if row is None or row.user_id != principal.user_id or not _reaches(principal, row):
            raise NotFound(f"token {token_id} not found")
        row.revoked_at = row.revoked_at or utcnow()
    return Response(status_code=204)


# -- users (cluster admins) -------------------------------------------------------------


@router.get("/users", response_model=list[UserOut])
def users(request: Request, principal: CurrentPrincipal) -> list[UserOut]:
    """Every user."""
    with app_state(request).database.session() as session:
        return [
            _user_out(session, user)
            for user in session.scalars(select(User).order_by(User.username))
        ]


@router.post("/users", response_model=UserOut, status_code=201)
def user_add(body: UserIn, request: Request, principal: CurrentPrincipal) -> UserOut:
    """Add a user."""
    check_password_strength(body.password)
    with app_state(request).database.session() as session:
        user = create_user(
            session, username=body.username, password=body.password, is_admin=body.is_admin
        )
        return _user_out(session, user)


@router.delete("/users/{username}", status_code=204)
def user_remove(username: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Remove a user with their tokens, sessions and memberships; the last admin stays."""
    with app_state(request).database.session() as session:
        user = _user_named(session, username)
        if user.is_admin:
            admins = session.scalar(select(func.count()).select_from(User).where(User.is_admin))
            if (admins or 0) <= 1:
                raise Conflict(f"{username!r} is the last cluster admin")
        session.delete(user)
    return Response(status_code=204)


@router.put("/users/{username}/password", status_code=204)
def user_password(
    username: str, body: PasswordResetIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Reset a user's password (their browser sessions end)."""
    with app_state(request).database.session() as session:
        set_password(session, _user_named(session, username), body.password)
    return Response(status_code=204)


# -- members and invitations ----------------------------------------------------------


@router.get("/spaces/{space}/members", response_model=list[MemberOut])
def space_members(space: str, request: Request, principal: CurrentPrincipal) -> list[MemberOut]:
    """The space's members and their roles."""
    with app_state(request).database.session() as session:
        found = authorize(session, principal, space, "viewer")
        return [
            MemberOut(username=user.username, role=membership.role, since=membership.created_at)
            for user, membership in members(session, found)
        ]


@router.put("/spaces/{space}/members/{username}", response_model=MemberOut)
def member_set(
    space: str, username: str, body: MemberIn, request: Request, principal: CurrentPrincipal
) -> MemberOut:
    """Add a member or change their role."""
    with app_state(request).database.session() as session:
        found = authorize(session, principal, space, "admin")
        mine = role_in(session, principal, found) or "viewer"
        membership = set_member(
            session, found, username=username, role=check_role(body.role), granted_by=mine
        )
        return MemberOut(username=username, role=membership.role, since=membership.created_at)


@router.delete("/spaces/{space}/members/{username}", status_code=204)
def member_remove(
    space: str, username: str, request: Request, principal: CurrentPrincipal
) -> Response:
    """Take a member out of the space."""
    with app_state(request).database.session() as session:
        found = authorize(session, principal, space, "admin")
        mine = role_in(session, principal, found) or "viewer"
        remove_member(session, found, username=username, removed_by=mine)
    return Response(status_code=204)


@router.get("/spaces/{space}/invitations", response_model=list[InvitationOut])
def invitations(space: str, request: Request, principal: CurrentPrincipal) -> list[InvitationOut]:
    """Invitations not used yet."""
    with app_state(request).database.session() as session:
        found = authorize(session, principal, space, "admin")
        return [
            InvitationOut(
                id=row.id,
                space=space,
                role=row.role,
                created_by=row.created_by,
                expires_at=row.expires_at,
            )
            for row in pending_invitations(session, found)
        ]


@router.post("/spaces/{space}/invitations", response_model=InvitationOut, status_code=201)
def invitation_create(
    space: str, body: InvitationIn, request: Request, principal: CurrentPrincipal
) -> InvitationOut:
    """An invitation code into the space (shown once, valid 7 days, single use)."""
    with app_state(request).database.session() as session:
        found = authorize(session, principal, space, "admin")
        mine = role_in(session, principal, found) or "viewer"
        code = invite(
            session, found, role=body.role, invited_by=principal.username, granted_by=mine
        )
        row = pending_invitations(session, found)[-1]
        return InvitationOut(
            id=row.id,
            space=space,
            role=row.role,
            created_by=row.created_by,
            expires_at=row.expires_at,
            code=code,
        )


# -- audit log ------------------------------------------------------------------------

AuditFormat = Annotated[Literal["json", "jsonl"], Query(description="jsonl: JSON lines")]
# format=jsonl answers one AuditOut per line.
AUDIT_LINES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/jsonl": {"schema": {"type": "string"}}}}
}


@router.get("/audit", response_model=list[AuditOut], responses=AUDIT_LINES)
def audit_log(
    request: Request,
    principal: CurrentPrincipal,
    space: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 200,
    format: AuditFormat = "json",
) -> object:
    """The cluster-wide audit log, newest first, filtered."""
    return _audit_answer(
        request, space=space, actor=actor, action=action, since=since, limit=limit, fmt=format
    )


@router.get("/spaces/{space}/audit", response_model=list[AuditOut], responses=AUDIT_LINES)
def space_audit_log(
    space: str,
    request: Request,
    principal: CurrentPrincipal,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 200,
    format: AuditFormat = "json",
) -> object:
    """One space's audit log, newest first, filtered."""
    return _audit_answer(
        request, space=space, actor=actor, action=action, since=since, limit=limit, fmt=format
    )


def _audit_answer(
    request: Request,
    *,
    space: str | None,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    limit: int,
    fmt: str,
) -> object:
    with app_state(request).database.session() as session:
        rows = [
            _audit_out(row)
            for row in audit.query(
                session, space=space, actor=actor, action=action, since=since, limit=limit
            )
        ]
    if fmt == "json":
        return rows

    def lines() -> Iterator[str]:
        for row in rows:
            yield row.model_dump_json() + "\n"

    return StreamingResponse(lines(), media_type="application/jsonl")


# -- helpers --------------------------------------------------------------------------


def _check_outlives(session: Session, principal: Principal, expires: datetime | None) -> None:
    """A token scoped to a space cannot make one that lives longer than itself."""
    if principal.scope_space_id is None or principal.token_id is None:
        return
    maker = session.get(ApiToken, principal.token_id)
    if maker is None or maker.expires_at is None:
        return
    if expires is None or expires > maker.expires_at:
        raise Forbidden(
            "expires_days: a token scoped to a space cannot make a token that outlives it "
            f"(it expires {maker.expires_at:%Y-%m-%d %H:%M} UTC)",
            field="expires_days",
        )


def _reaches(principal: Principal, row: ApiToken) -> bool:
    """Whether the caller may see or revoke the token: its own, and a token scoped to a
    space only those of that space (the account's other tokens are not its business)."""
    return principal.scope_space_id is None or row.space_id == principal.scope_space_id


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def _user_named(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def _spaces_of(session: Session, principal: Principal) -> list[SpaceRoleOut]:
    visible = visible_space_ids(session, principal)
    query = select(Space).order_by(Space.name)
    if visible is not None:
        query = query.where(Space.id.in_(sorted(visible)))
    out = []
    for space in session.scalars(query):
        role = role_in(session, principal, space)
        if role is not None:
            out.append(SpaceRoleOut(space=space.name, role=role))
    return out


def _user_out(session: Session, user: User) -> UserOut:
    roles = session.execute(
        select(Space.name, Membership.role)
        .join(Membership, Membership.space_id == Space.id)
        .where(Membership.user_id == user.id)
        .order_by(Space.name)
    ).all()
    return UserOut(
        username=user.username,
        is_admin=user.is_admin,
        two_factor=user.totp_secret is not None,
        spaces=[SpaceRoleOut(space=name, role=role) for name, role in roles],
        created_at=user.created_at,
    )


def _token_out(session: Session, row: ApiToken) -> TokenOut:
    space = session.get(Space, row.space_id) if row.space_id is not None else None
    return TokenOut(
        id=row.id,
        name=row.name,
        space=space.name if space else None,
        role=row.role,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


def _audit_out(row: AuditEvent) -> AuditOut:
    detail = json.loads(row.detail) if row.detail else None
    return AuditOut(
        id=row.id,
        at=row.at,
        actor=row.actor,
        client_address=row.client_address,
        action=row.action,
        space=row.space,
        target=row.target,
        result=row.result,
        detail=detail if isinstance(detail, dict) else None,
    )


__all__ = ["router"]
