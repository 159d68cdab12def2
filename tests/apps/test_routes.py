"""Route options as the API takes them: checked, passwords hashed, forward auth resolved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import bcrypt
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudos.apps import AppManager
from cloudos.apps._routes import (
    add_domain,
    add_redirect,
    add_route,
    add_space,
    portal_host,
    route_table,
)
from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.router import ForwardAuth, Platform, SocketUpstream
from cloudos.spaces import create_space, get_space, set_ports
from cloudos.store.models import DomainClaim, RouteRow
from cloudos.vault import Vault
from tests.apps.conftest import hello
from tests.helpers import TEST_PORTS


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
    [user] = cast("list[dict[str, str]]", row.options["basic_auth"])
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


def test_each_space_domain_leads_to_its_portal_on_the_platform_host_unless_a_route_claims_it(
    apps: AppManager,
) -> None:
    with apps.database.session() as session:
        create_space(session, name="team", domain="team.example.com")
    platform = Platform(host="cloud.example.com", https_port=8443)
    with apps.database.session() as session:
        table = route_table(session, instance="t", portals=True, platform=platform)
        # The control plane is served at the platform host, and only there.
        [control] = [r for r in table.routes if isinstance(r.upstream, SocketUpstream)]
        assert control.domain == "cloud.example.com"
        # A space's domain only sends visitors there: nothing of the control plane at it.
        portals = {r.domain: r for r in table.redirects}
        assert set(portals) == {"default.localhost", "team.example.com"}
        team = portals["team.example.com"]
        assert team.to == "https://cloud.example.com:8443/portal/team"
        assert (team.keep_path, team.status) == (False, 302)
        # Checking a new route never counts the portals: what the user routes comes first.
        assert not route_table(session, instance="t").redirects
        assert portal_host(session, get_space(session, "default")) == "default.localhost"
    add(apps, "default.localhost")
    with apps.database.session() as session:
        table = route_table(session, instance="t", portals=True)
        [root] = [r for r in table.routes if r.domain == "default.localhost"]
        assert root.app == "shop"
        assert "default.localhost" not in {r.domain for r in table.redirects}
        assert portal_host(session, get_space(session, "default")) is None
        assert portal_host(session, get_space(session, "team")) == "team.example.com"


@pytest.fixture
def tenants(apps: AppManager) -> AppManager:
    """Space ``default`` (default.localhost) with its apps, and space ``other`` with app ``own``."""
    with apps.database.session() as session:
        create_space(session, name="other")
        set_ports(session, name="other", ports=TEST_PORTS)
    apps.install(space="other", name="own", template=hello(), values={"http_port": 8080})
    return apps


# Another space's domain and names under it, however spelled; the platform's names.
FOREIGN = (
    ("default.localhost", "belongs to another space"),
    ("DEFAULT.LocalHost.", "belongs to another space"),
    ("x.default.localhost", "belongs to another space"),
    ("\uff44\uff45\uff46\uff41\uff55\uff4c\uff54.localhost", "belongs to another space"),
    ("shop.default.localhost", "belongs to another space"),
    ("localhost", "reserved for the platform"),
    ("cloud.localhost", "reserved for the platform"),
    ("auth.localhost", "reserved for the platform"),
    ("registry.localhost", "reserved for the platform"),
)


@pytest.mark.parametrize(("name", "why"), FOREIGN)
def test_a_space_cannot_route_redirect_or_claim_another_spaces_names(
    tenants: AppManager, name: str, why: str
) -> None:
    attempts: list[Callable[[Session], object]] = [
        lambda s: add_route(s, space="other", app_name="own", domain=name),
        lambda s: add_route(
            s,
            space="other",
            app_name="own",
            domain="ok.other.localhost",
            options={"aliases": [name]},
        ),
        lambda s: add_redirect(s, space="other", domain=name, to="https://other.localhost"),
        lambda s: add_domain(s, tenants.vault, space="other", name=name),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict, match=why) as refused, tenants.database.session() as session:
            attempt(session)
        assert "default'" not in str(refused.value)  # the owner is never named
    with tenants.database.session() as session:
        table = route_table(session, instance="t")
        assert {r.domain for r in table.routes} == {
            "own.other.localhost",
            "shop.default.localhost",
            "auth.default.localhost",
        }
        assert not table.redirects
        assert not table.domains


@pytest.mark.parametrize("name", ["*.default.localhost", "default.localhost:443"])
def test_wildcards_and_ports_are_refused_by_name(tenants: AppManager, name: str) -> None:
    with pytest.raises(InvalidInput, match="domain"), tenants.database.session() as session:
        add_route(session, space="other", app_name="own", domain=name)


def test_a_space_is_not_created_over_the_platform_or_another_spaces_names(
    tenants: AppManager,
) -> None:
    add(tenants, "shop.example.test")
    refused = {
        ("cloud", None): "domain cloud.localhost overlaps the platform's own names",
        ("auth", None): "domain auth.localhost overlaps the platform's own names",
        ("sub", "sub.default.localhost"): "overlaps the domain of another space",
        ("top", "example.test"): "holds shop.example.test, which belongs to another space",
    }
    for (name, domain), message in refused.items():
        with pytest.raises(Conflict, match=message), tenants.database.session() as session:
            add_space(session, name=name, domain=domain)
        with tenants.database.session() as session, pytest.raises(NotFound):
            get_space(session, name)  # nothing stored
    with tenants.database.session() as session:
        add_space(session, name="shop", domain="shop.test")
        with pytest.raises(Conflict, match=r"cloud\.example\.com overlaps the platform"):
            add_space(
                session,
                name="cloud",
                domain="cloud.example.com",
                platform=Platform(host="cloud.example.com"),
            )


def test_a_claim_stored_before_the_rules_is_no_longer_served(tenants: AppManager) -> None:
    with tenants.database.session() as session:
        own = session.scalar(select(RouteRow).where(RouteRow.domain == "own.other.localhost"))
        assert own is not None
        session.add(
            RouteRow(
                space_id=own.space_id,
                app_id=own.app_id,
                domain="default.localhost",
                path="/",
                service=own.service,
                port=own.port,
                is_default=False,
                options={},
            )
        )
    with tenants.database.session() as session:
        table = route_table(session, instance="t", portals=True)
    [(_, served)] = table.claims("default.localhost")
    assert served.space == "default"  # the space's own portal, not the squatter
