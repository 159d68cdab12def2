"""Roles for many spaces at once say what the one-space question says for each."""

from __future__ import annotations

from itertools import product

from cloudos.identity import Principal, create_user, role_in, roles_by_space, set_member
from cloudos.spaces import create_space
from cloudos.store import Database


def test_roles_by_space_agree_with_role_in_for_every_kind_of_caller(database: Database) -> None:
    with database.session() as session:
        spaces = [create_space(session, name=name) for name in ("a", "b", "c", "d")]
        admin = create_user(session, username="root", password="pw", is_admin=True)
        ann = create_user(session, username="ann", password="pw")
        for space, role in zip(spaces, ("owner", "developer", "viewer"), strict=False):
            set_member(session, space, username="ann", role=role, granted_by="owner")
        session.flush()
        callers = [
            Principal(user_id=admin.id, username="root", is_admin=True, user_is_admin=True),
            Principal(user_id=ann.id, username="ann", is_admin=False),
            *(
                # Scoped tokens: one space, at most a role; of an admin or of ann.
                Principal(
                    user_id=user.id,
                    username=user.username,
                    is_admin=False,
                    user_is_admin=user.is_admin,
                    scope_space_id=space.id,
                    scope_role=role,
                )
                for user, space, role in product(
                    (admin, ann), spaces[:2], ("viewer", "developer", "owner")
                )
            ),
        ]
        for caller in callers:
            expected = {
                space.id: found
                for space in spaces
                if (found := role_in(session, caller, space)) is not None
            }
            assert roles_by_space(session, caller, spaces) == expected, caller
        # What the callers above get, spelled out for ann and her developer token in b.
        assert roles_by_space(session, callers[1], spaces) == {
            spaces[0].id: "owner",
            spaces[1].id: "developer",
            spaces[2].id: "viewer",
        }
