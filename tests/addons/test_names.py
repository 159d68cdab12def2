"""Database and user names: valid, unique and stable for any owner; passwords."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudos.addons import SERVER_KINDS, ServerKind, addon_names, generate_password
from cloudos.addons._names import check_identifier, check_password
from cloudos.errors import InvalidInput

VALID = re.compile(r"[a-z][a-z0-9_]{0,62}")
owners = st.text(min_size=0, max_size=200)


@settings(max_examples=300)
@given(owner=owners, kind=st.sampled_from(SERVER_KINDS))
def test_any_owner_gets_a_valid_identifier(owner: str, kind: ServerKind) -> None:
    names = addon_names(owner, kind)
    assert VALID.fullmatch(names.database)
    assert VALID.fullmatch(names.user)
    assert len(names.database) <= 63  # within PostgreSQL (63) and MariaDB (64, users 80)


@given(owner=owners)
def test_names_are_stable(owner: str) -> None:
    assert addon_names(owner, "mysql") == addon_names(owner, "mysql")


@settings(max_examples=300)
@given(owners=st.lists(owners, min_size=2, max_size=30, unique=True))
def test_different_owners_never_share_names(owners: list[str]) -> None:
    databases = [addon_names(owner, "postgresql").database for owner in owners]
    assert len(set(databases)) == len(owners)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("cloudos-default-blog", "cloudos_default_blog"),  # same readable prefix
        ("cloudos-default-Blog", "cloudos-default-blog"),  # only case differs
        ("x" * 60 + "a", "x" * 60 + "b"),  # differ after the readable part is cut
        ("café", "caf"),
    ],
)
def test_owners_that_look_alike_get_different_names(first: str, second: str) -> None:
    assert addon_names(first, "mysql") != addon_names(second, "mysql")


def test_names_are_readable() -> None:
    names = addon_names("cloudos-default-my-long-app-name-of-24", "mysql")
    assert names.database.startswith("cloudos_default_my_long_app_name_of_24_")
    assert names.database == names.user
    assert addon_names("9lives", "mysql").database.startswith("a_9lives_")


def test_passwords_are_random_alphanumeric() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", password) for password in passwords)
    assert all(check_password(password) == password for password in passwords)


@pytest.mark.parametrize(
    "name", ["", "Blog", "1blog", "a-b", "a;b", "a`b", "a'b", 'a"b', "a b", "a" * 64, "é"]
)
def test_unsafe_identifiers_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid identifier"):
        check_identifier(name)


@pytest.mark.parametrize("password", ["short", "a" * 15, "x" * 16 + "'", "x" * 16 + " ", "é" * 20])
def test_unsafe_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput, match="16-128"):
        check_password(password)
