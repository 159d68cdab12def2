"""Members of spaces, and invitations into them."""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudos.errors import Conflict, Forbidden, InvalidInput, NotFound
from cloudos.identity._accounts import digest, new_secret
from cloudos.identity._roles import at_least, check_role
from cloudos.store.models import Invitation, Membership, Space, User, utcnow

INVITATION_PREFIX = "cosi"
INVITATION_LIFETIME = timedelta(days=7)


def members(session: Session, space: Space) -> list[tuple[User, Membership]]:
    """The space's members, by name."""
    rows = session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.space_id == space.id)
        .order_by(User.username)
    ).all()
    return [(user, membership) for user, membership in rows]


def set_member(
    session: Session, space: Space, *, username: str, role: str, granted_by: str
) -> Membership:
    """Add ``username`` to the space with ``role``, or change their role.

    Only an owner may make or unmake owners (``granted_by`` is the caller's role).
    """
    check_role(role)
    if role == "owner" and not at_least(granted_by, "owner"):
        raise Forbidden("only an owner may make someone an owner")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found")
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.space_id == space.id)
    )
    if membership is None:
        membership = Membership(user_id=user.id, space_id=space.id, role=role)
        session.add(membership)
    else:
        if membership.role == "owner" and not at_least(granted_by, "owner"):
            raise Forbidden("only an owner may change an owner's role")
        if membership.role == "owner" and role != "owner":
            _keep_an_owner(session, space)
        membership.role = role
    session.flush()
    return membership


def remove_member(session: Session, space: Space, *, username: str, removed_by: str) -> None:
    """Take ``username`` out of the space; the last owner stays."""
    membership = session.scalar(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(User.username == username, Membership.space_id == space.id)
    )
    if membership is None:
        raise NotFound(f"{username!r} is not a member of space {space.name!r}")
    if membership.role == "owner":
        if not at_least(removed_by, "owner"):
            raise Forbidden("only an owner may remove an owner")
        _keep_an_owner(session, space)
    session.delete(membership)


def _keep_an_owner(session: Session, space: Space) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.space_id == space.id, Membership.role == "owner")
    )
    if (owners or 0) <= 1:
        raise Conflict(f"space {space.name!r} must keep at least one owner")


def invite(session: Session, space: Space, *, role: str, invited_by: str, granted_by: str) -> str:
    """An invitation code into ``space`` with ``role`` (shown once, valid 7 days)."""
    check_role(role)
    if role == "owner" and not at_least(granted_by, "owner"):
        raise Forbidden("only an owner may invite an owner")
    prefix, secret, hashed = new_secret()
    now = utcnow()
    session.add(
        Invitation(
            space_id=space.id,
            role=role,
            prefix=prefix,
            secret_hash=hashed,
            created_by=invited_by,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )
    )
    session.flush()
    return f"{INVITATION_PREFIX}_{prefix}_{secret}"


def accept(session: Session, code: str, user: User) -> Membership:
    """Use an invitation: ``user`` joins its space (once; a used code is spent)."""
    parts = code.strip().split("_", 2)
    if len(parts) == 3 and parts[0] == INVITATION_PREFIX:
        now = utcnow()
        for row in session.scalars(select(Invitation).where(Invitation.prefix == parts[1])):
            if not hmac.compare_digest(row.secret_hash, digest(parts[2])):
                continue
            if row.accepted_at is not None or row.expires_at <= now:
                break
            row.accepted_at, row.accepted_by = now, user.username
            existing = session.scalar(
                select(Membership).where(
                    Membership.user_id == user.id, Membership.space_id == row.space_id
                )
            )
            if existing is not None:
                if at_least(row.role, existing.role):
                    existing.role = row.role
                return existing
            membership = Membership(user_id=user.id, space_id=row.space_id, role=row.role)
            session.add(membership)
            session.flush()
            return membership
    raise InvalidInput("invitation: unknown, used or expired code", field="invitation")


def pending_invitations(session: Session, space: Space) -> list[Invitation]:
    """Invitations of the space not used yet and not expired."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.space_id == space.id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.id)
        )
    )


__all__ = [
    "accept",
    "invite",
    "members",
    "pending_invitations",
    "remove_member",
    "set_member",
]
