"""Published host ports are a per-space policy item: none by default, a range a
cluster admin allows, never the router's own ports; every spelling of ``ports:``
(short, long, ranges, a port the engine picks) is read."""

from __future__ import annotations

from typing import Any

import pytest

from cloudos.apps import AppManager
from cloudos.errors import Forbidden, InvalidInput
from cloudos.spaces import (
    PortRange,
    create_space,
    get_space,
    parse_port_range,
    set_ports,
    space_ports,
)
from cloudos.store import Database
from cloudos.vault import Vault
from tests.spaces.test_policy import _template, count

# One entry of ``ports:`` and the host ports it publishes, as the refusal shows them.
SPELLINGS: dict[str, tuple[Any, str]] = {
    "short": ("20005:80", "20005:80"),
    "short-udp": ("20005:53/udp", "20005:53/udp"),
    "short-host-ip": ("127.0.0.1:20005:80", "127.0.0.1:20005:80"),
    "short-range": ("20005-20010:80-85", "20005-20010:80-85"),
    "long-host": ({"target": 80, "published": 20005, "mode": "host"}, "20005"),
    "long-ingress": ({"target": 80, "published": 20005}, "20005"),
}


def allow(manager: AppManager, ports: str | None) -> None:
    with manager.database.session() as session:
        set_ports(session, name="acme", ports=ports)


def install(manager: AppManager, *entries: Any, name: str = "app") -> None:
    template = _template({"ports": list(entries)}, {})
    manager.install(space="acme", name=name, template=template, values={})


@pytest.mark.parametrize("spelling", SPELLINGS, ids=list(SPELLINGS))
def test_a_published_port_is_refused_until_a_range_holds_it(
    every_grant: AppManager, spelling: str
) -> None:
    entry, shown = SPELLINGS[spelling]
    with pytest.raises(Forbidden) as refused:
        install(every_grant, entry)
    assert str(refused.value) == (
        f"service web: host port {shown} (services.web.ports[0]): space 'acme' may publish "
        "no host ports (a cluster admin can allow a range: cloudos space policy acme "
        "--ports FROM-TO)"
    )
    allow(every_grant, "20006-20100")  # misses 20005
    with pytest.raises(Forbidden) as refused:
        install(every_grant, entry)
    assert str(refused.value) == (
        f"service web: host port {shown} (services.web.ports[0]) is outside the ports space "
        "'acme' may publish (20006-20100; a cluster admin can change it: cloudos space "
        "policy acme --ports FROM-TO)"
    )
    assert count(every_grant) == (0, 0)
    allow(every_grant, "20000-20100")
    install(every_grant, entry)
    assert count(every_grant) == (1, 1)


def test_a_range_reaching_past_the_allowed_one_is_refused(every_grant: AppManager) -> None:
    allow(every_grant, "20000-20100")
    with pytest.raises(Forbidden, match=r"host port 20095-20105:80 \(services.web.ports\[1\]\)"):
        install(every_grant, "20000:80", "20095-20105:80")


@pytest.mark.parametrize(
    "entry",
    ["80", 8080, {"target": 80}, {"target": 80, "mode": "host"}, "127.0.0.1::80"],
    ids=["short", "number", "long", "long-host", "host-ip-only"],
)
def test_a_port_the_engine_would_pick_is_refused_even_with_a_range(
    every_grant: AppManager, entry: Any
) -> None:
    allow(every_grant, "20000-20100")
    with pytest.raises(Forbidden) as refused:
        install(every_grant, entry)
    assert "lets the engine pick the port: publish a fixed port within 20000-20100" in str(
        refused.value
    )
    assert count(every_grant) == (0, 0)


@pytest.mark.parametrize("entry", ["443:443", "80:8080", {"target": 1, "published": 80}, "1-100:1"])
def test_the_routers_ports_are_never_a_tenants(every_grant: AppManager, entry: Any) -> None:
    allow(every_grant, "1-65535")
    with pytest.raises(Forbidden, match=r"is the router's own port (80|443): no app may publish"):
        install(every_grant, entry)
    assert count(every_grant) == (0, 0)


def test_the_routers_configured_ports_are_refused_too(database: Database, vault: Vault) -> None:
    manager = AppManager(
        database=database,
        vault=vault,
        instance="t",
        endpoint_mode=lambda: "dnsrr",
        router_ports={80, 443, 8080, 8443},
    )
    with database.session() as session:
        create_space(session, name="acme")
        set_ports(session, name="acme", ports="8000-9000")
    with pytest.raises(Forbidden, match="is the router's own port 8443"):
        install(manager, "8443:443")
    install(manager, "8444:443")


def test_each_service_and_port_is_named(every_grant: AppManager) -> None:
    allow(every_grant, "20000-20000")
    with pytest.raises(Forbidden) as refused:
        install(every_grant, "20000:80", "20001:81")
    assert str(refused.value).startswith("service web: host port 20001:81 (services.web.ports[1])")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "give a port or a range of ports like 20000-20100"),
        ("20100-20000", "the first no higher than the last"),
        ("0-10", "ports go from 1 to 65535"),
        ("70000", "ports go from 1 to 65535"),
        ("1-2-3", "give a port or a range of ports"),
    ],
)
def test_a_range_that_does_not_read_is_refused_and_nothing_changes(
    database: Database, text: str, problem: str
) -> None:
    with database.session() as session:
        create_space(session, name="acme")
        set_ports(session, name="acme", ports="20000-20100")
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        set_ports(session, name="acme", ports=text)
    assert str(refused.value).startswith(f"ports {text!r}: ")
    assert problem in str(refused.value)
    with database.session() as session:
        assert space_ports(get_space(session, "acme")) == PortRange(20000, 20100)


def test_ranges_read_and_show_alike() -> None:
    assert parse_port_range(" 8080 ") == PortRange(8080, 8080)
    assert str(parse_port_range("20000-20100")) == "20000-20100"
    assert str(PortRange(8080, 8080)) == "8080"
