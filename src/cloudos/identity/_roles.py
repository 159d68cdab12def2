"""Roles in spaces, and the one question every request asks: may this caller do this?

A cluster admin may do everything. Everyone else acts in the spaces they are a
member of, with their role there: ``viewer`` < ``developer`` < ``admin`` < ``owner``.
A space the caller is not a member of does not exist for them: asking for it (or for
anything in it) answers "not found", never "forbidden", so names do not leak.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.errors import Forbidden, InvalidInput, NotFound
from cloudos.identity._accounts import Principal
from cloudos.store.models import Membership, Space

ROLES = ("viewer", "developer", "admin", "owner")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def check_role(role: str, *, where: str = "role") -> str:
    """``role`` if it is one of :data:`ROLES`, else a clear error."""
    if role not in _RANK:
        raise InvalidInput(f"{where} {role!r}: use one of {', '.join(ROLES)}", field=where)
    return role


def at_least(role: str | None, needed: str) -> bool:
    """Whether ``role`` is ``needed`` or stronger."""
    return role is not None and _RANK[role] >= _RANK[needed]


def weaker(one: str | None, other: str | None) -> str | None:
    """The weaker of two roles (``None``, no role, is the weakest)."""
    if one is None or other is None:
        return None
    return one if _RANK[one] <= _RANK[other] else other


def role_in(session: Session, principal: Principal, space: Space) -> str | None:
    """The caller's effective role in ``space`` (``owner`` for cluster admins).

    A scoped token acts only in its space, with at most its role.
    """
    if principal.scope_space_id is not None and principal.scope_space_id != space.id:
        return None
    if principal.is_admin or principal.user_is_admin:
        role: str | None = "owner"
    else:
        role = session.scalar(
            select(Membership.role).where(
                Membership.user_id == principal.user_id, Membership.space_id == space.id
            )
        )
    if principal.scope_role is not None:
        role = weaker(role, principal.scope_role)
    return role


def roles_by_space(
    session: Session, principal: Principal, spaces: Iterable[Space]
) -> dict[int, str]:
    """The caller's effective role in each of ``spaces`` where it has one, by space id:
    what :func:`role_in` says for each, in one query (pages list many spaces)."""
    spaces = [
        space
        for space in spaces
        if principal.scope_space_id is None or principal.scope_space_id == space.id
    ]
    if principal.is_admin or principal.user_is_admin:
        found: dict[int, str] = {space.id: "owner" for space in spaces}
    else:
        found = dict(
            session.execute(
                select(Membership.space_id, Membership.role).where(
                    Membership.user_id == principal.user_id,
                    Membership.space_id.in_(sorted(space.id for space in spaces)),
                )
            ).all()
        )
    roles = {
        space_id: weaker(role, principal.scope_role) if principal.scope_role else role
        for space_id, role in found.items()
    }
    return {space_id: role for space_id, role in roles.items() if role is not None}


def visible_space_ids(session: Session, principal: Principal) -> set[int] | None:
    """Ids of the spaces the caller may see; ``None`` means all of them."""
    if principal.scope_space_id is not None:
        if principal.user_is_admin or _member(session, principal):
            return {principal.scope_space_id}
        return set()
    if principal.is_admin:
        return None
    return set(
        session.scalars(select(Membership.space_id).where(Membership.user_id == principal.user_id))
    )


def _member(session: Session, principal: Principal) -> bool:
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.user_id == principal.user_id,
                Membership.space_id == principal.scope_space_id,
            )
        )
        is not None
    )


def authorize(session: Session, principal: Principal, space_name: str, needed: str) -> Space:
    """The space, if the caller has at least ``needed`` there.

    Not a member (or no such space): :class:`NotFound`. A member with a weaker role:
    :class:`Forbidden`.
    """
    space = session.scalar(select(Space).where(Space.name == space_name))
    role = None if space is None else role_in(session, principal, space)
    if space is None or role is None:
        raise NotFound(f"space {space_name!r} not found")
    if not at_least(role, needed):
        raise Forbidden(f"{needed} role in space {space_name!r} needed; you are {role}")
    return space


def require_cluster_admin(principal: Principal) -> None:
    """Refuse callers who are not cluster admins."""
    if not principal.is_admin:
        raise Forbidden("only a cluster admin may do this")


__all__ = [
    "ROLES",
    "at_least",
    "authorize",
    "check_role",
    "require_cluster_admin",
    "role_in",
    "visible_space_ids",
    "weaker",
]
