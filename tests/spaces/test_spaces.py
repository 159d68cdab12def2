"""Spaces on a real SQLite database: create, list, remove."""

from __future__ import annotations

import pytest

from cloudos.apps import AppManager
from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.spaces import create_space, get_space, list_spaces, remove_space, set_ports
from cloudos.store import Database
from tests.apps.conftest import hello
from tests.helpers import TEST_PORTS


def names(database: Database) -> list[tuple[str, str, int, bool]]:
    with database.session() as session:
        return [(s.name, s.domain, s.apps, s.removing) for s in list_spaces(session, instance="t")]


def test_default_exists_from_the_start(database: Database) -> None:
    assert names(database) == [("default", "default.localhost", 0, False)]


def test_create_lists_with_domain_and_network(database: Database) -> None:
    with database.session() as session:
        create_space(session, name="shop", domain="Shop.Example.COM.")
        create_space(session, name="blog")
    assert names(database) == [
        ("blog", "blog.localhost", 0, False),
        ("default", "default.localhost", 0, False),
        ("shop", "shop.example.com", 0, False),
    ]
    with database.session() as session:
        [shop] = [s for s in list_spaces(session, instance="t") if s.name == "shop"]
    assert shop.network == "t-shop"


@pytest.mark.parametrize("name", ["", "Shop", "1shop", "shop_eu", "s" * 21, "shop eu"])
def test_invalid_names_are_refused(database: Database, name: str) -> None:
    with database.session() as session, pytest.raises(InvalidInput, match="space name"):
        create_space(session, name=name)


@pytest.mark.parametrize("domain", ["-bad.com", "a..b", "x_y.com", "a" * 64 + ".com", "é.com"])
def test_invalid_domains_are_refused(database: Database, domain: str) -> None:
    with database.session() as session, pytest.raises(InvalidInput, match="not a valid domain"):
        create_space(session, name="shop", domain=domain)


def test_duplicate_name_or_domain_conflicts(database: Database) -> None:
    with database.session() as session:
        create_space(session, name="shop", domain="shop.example.com")
    with database.session() as session, pytest.raises(Conflict, match="already exists"):
        create_space(session, name="shop")
    with database.session() as session, pytest.raises(Conflict, match="another space"):
        create_space(session, name="other", domain="SHOP.example.com")
    with database.session() as session, pytest.raises(Conflict, match="another space"):
        create_space(session, name="x", domain="default.localhost")


def test_remove_an_empty_space(database: Database) -> None:
    with database.session() as session:
        create_space(session, name="shop")
    with database.session() as session:
        assert remove_space(session, name="shop") == []
    with database.session() as session:
        with pytest.raises(NotFound):
            get_space(session, "shop")
        with pytest.raises(NotFound):
            remove_space(session, name="shop")
    assert ("shop", "shop.localhost", 0, True) in names(database)
    # Until the reconciler has removed it, its name says why it is not free yet.
    with database.session() as session, pytest.raises(Conflict, match="still being removed"):
        create_space(session, name="shop")


def test_remove_refuses_while_apps_remain_unless_forced(
    database: Database, manager: AppManager
) -> None:
    with database.session() as session:
        create_space(session, name="shop")
        set_ports(session, name="shop", ports=TEST_PORTS)
    for app in ("web", "db"):
        manager.install(space="shop", name=app, template=hello(), values={"http_port": 1})
    with database.session() as session, pytest.raises(Conflict, match=r"2 app\(s\) \(db, web\)"):
        remove_space(session, name="shop")
    assert ("shop", "shop.localhost", 2, False) in names(database)
    with database.session() as session:
        gone = remove_space(session, name="shop", force=True)
        assert sorted((a.name, a.desired_state, a.purge) for a in gone) == [
            ("db", "removed", False),
            ("web", "removed", False),
        ]
    assert ("shop", "shop.localhost", 0, True) in names(database)
    with pytest.raises(NotFound, match="space 'shop'"):
        manager.install(space="shop", name="late", template=hello(), values={"http_port": 1})


def test_apps_being_removed_do_not_block_removal(database: Database, manager: AppManager) -> None:
    manager.install(space="default", name="web", template=hello(), values={"http_port": 1})
    manager.remove(space="default", name="web")
    with database.session() as session:
        assert remove_space(session, name="default") == []
