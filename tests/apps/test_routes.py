"""Route options as the API takes them: checked, passwords hashed, forward auth resolved."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from sqlalchemy import func, select

from cloudos.apps import AppManager
from cloudos.apps._routes import add_domain, add_route, portal_host, route_table
from cloudos.errors import InvalidInput, NotFound
from cloudos.router import ForwardAuth, SocketUpstream
from cloudos.spaces import create_space, get_space
from cloudos.store.models import DomainClaim, RouteRow
from cloudos.vault import Vault
from tests.apps.conftest import hello


@pytest.fixture
def apps(manager: AppManager) -> AppManager:
    """Two apps of space ``default``: ``shop`` and ``auth`` (each serving port 8080)."""
    for name in ("shop", "auth"):
        manager.install(space="default", name=name, template=hello(), values={"http_port": 8080})
    return manager


def add(manager: AppManager, domain: str = "shop.test", **options: Any) -> RouteRow:
    with manager.database.session() as session:
        row = add_route(session, space="default", app_name="shop", domain=domain, options=options)
        session.expunge(row)
        return row


def test_a_plain_password_is_stored_only_as_a_bcrypt_hash(apps: AppManager) -> None:
    row = add(apps, basic_auth=[{"username": "ann", "password": "open sesame"}])
    [user] = row.options["basic_auth"]  # type: ignore[attr-defined]
    assert user["username"] == "ann"
    assert set(user) == {"username", "password_hash"}
    assert bcrypt.checkpw(b"open sesame", user["password_hash"].encode())
    with apps.database.session() as session:
        [route] = [r for r in route_table(session, instance="t").routes if r.domain == "shop.test"]
    assert [u.username for u in route.basic_auth] == ["ann"]


def test_sizes_and_switches_are_stored_as_numbers_and_booleans(apps: AppManager) -> None:
    row = add(apps, max_body_bytes="2MiB", hsts=True, https_redirect=False)
    assert row.options["max_body_bytes"] == 2 * 1024**2
    assert (row.options["hsts"], row.options["https_redirect"]) == (True, False)


def test_forward_auth_names_an_app_of_the_space_and_is_dialed_by_its_service(
    apps: AppManager,
) -> None:
    row = add(apps, forward_auth="http://auth:8080/verify")
    assert row.options["forward_auth"] == {
        "app": "auth",
        "upstream": "t-default-auth_web:8080",
        "uri": "/verify",
    }
    with apps.database.session() as session:
        [route] = [r for r in route_table(session, instance="t").routes if r.domain == "shop.test"]
    assert route.forward_auth == ForwardAuth(upstream="t-default-auth_web:8080", uri="/verify")
    # The port may be left out when the app serves one.
    assert add(apps, "b.shop.test", forward_auth="http://auth/ok").options["forward_auth"] == {
        "app": "auth",
        "upstream": "t-default-auth_web:8080",
        "uri": "/ok",
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_body_bytes": "10XB"}, "max_body_bytes '10XB' is not a size"),
        ({"hsts": "yes"}, "hsts must be true or false"),
        ({"basic_auth": [{"username": "ann"}]}, "'ann': a password is required"),
        ({"basic_auth": [{"username": "ann", "password": "x" * 80}]}, "longer than 72 bytes"),
        ({"basic_auth": [{"username": "a:b", "password": "pw"}]}, "no ':'"),
        ({"response_headers": {"X-A": 1}}, "text values"),
        ({"forward_auth": "https://auth/verify"}, "or http://APP"),
        ({"forward_auth": "http://auth:99999/verify"}, "or http://APP"),
        ({"forward_auth": "http://auth:9000/verify"}, "does not serve port 9000"),
        ({"cache": True}, "unknown route option 'cache'"),
        # Found probing the API with edge values: iterating the int was a TypeError, a 500.
        ({"basic_auth": 1}, "basic_auth must be a list of accounts"),
    ],
)
def test_bad_options_say_what_is_wrong_and_store_nothing(
    apps: AppManager, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        add(apps, **options)
    assert "x" * 20 not in str(refused.value)  # a password is never repeated
    with apps.database.session() as session:
        assert all(r.domain != "shop.test" for r in route_table(session, instance="t").routes)


def test_forward_auth_to_an_app_that_does_not_exist_is_not_found(apps: AppManager) -> None:
    with pytest.raises(NotFound, match="app 'sso' does not exist in space 'default'"):
        add(apps, forward_auth="http://sso:8080/verify")


def test_an_unknown_tls_mode_is_refused_by_name(apps: AppManager, vault: Vault) -> None:
    # Found by the API fuzz test: ValueError from TlsMode(...), a 500.
    refused = "tls 'ACME': use one of acme, internal, uploaded"
    with pytest.raises(InvalidInput, match=refused), apps.database.session() as session:
        add_domain(session, vault, space="default", name="shop.example.com", tls="ACME")
    with apps.database.session() as session:
        assert session.scalar(select(func.count()).select_from(DomainClaim)) == 0
        row = add_domain(session, vault, space="default", name="shop.example.com", tls="internal")
        assert row.tls == "internal"


def test_forward_auth_to_the_control_plane_asks_it_about_the_routes_space(
    apps: AppManager,
) -> None:
    row = add(apps, forward_auth="control")
    assert row.options["forward_auth"] == {"target": "control"}
    with apps.database.session() as session:
        [route] = [r for r in route_table(session, instance="t").routes if r.domain == "shop.test"]
    assert route.forward_auth == ForwardAuth(
        upstream="unix//run/cloudos-router/control.sock", uri="/api/v1/auth/verify?space=default"
    )


def test_each_space_has_its_portal_at_its_domain_unless_a_route_claims_that_root(
    apps: AppManager,
) -> None:
    with apps.database.session() as session:
        create_space(session, name="team", domain="team.example.com")
    with apps.database.session() as session:
        table = route_table(session, instance="t", portals=True)
        portals = {r.domain: r for r in table.routes if isinstance(r.upstream, SocketUpstream)}
        assert set(portals) == {"default.localhost", "team.example.com"}
        assert portals["team.example.com"].space == "team"
        # Checking a new route never counts the portals: what the user routes comes first.
        assert not any(
            isinstance(r.upstream, SocketUpstream)
            for r in route_table(session, instance="t").routes
        )
        assert portal_host(session, get_space(session, "default")) == "default.localhost"
    add(apps, "default.localhost")
    with apps.database.session() as session:
        table = route_table(session, instance="t", portals=True)
        [root] = [r for r in table.routes if r.domain == "default.localhost"]
        assert root.app == "shop"
        assert portal_host(session, get_space(session, "default")) is None
        assert portal_host(session, get_space(session, "team")) == "team.example.com"
