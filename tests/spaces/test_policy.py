"""Template policy: every way of asking for each grant is refused in a space that does
not allow it, whether the template, a modifier or a value asks, and installs once a
cluster admin allows it.

The requests go through the app manager (real rendering, real SQLite, no Docker), so
what is checked is the stack as it would be deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from cloudos.apps import AppManager, TemplateRef
from cloudos.errors import Forbidden, InvalidInput
from cloudos.spaces import GRANTS, check_grants, create_space, find_requests, set_policy
from cloudos.store import Database
from cloudos.store.models import App, AppRevision
from cloudos.templates import (
    builtin_modifiers,
    load_catalog_templates,
    modifier_from_dict,
    sample_value,
)
from cloudos.vault import Vault

E2E_APPS = Path(__file__).parent.parent / "e2e" / "apps"
V = object()  # where the value goes in a case's fragment
VOLUME = {"volumes": [V]}


@dataclass(frozen=True)
class Case:
    """One way of asking for ``grant``: fields of service ``web`` and top-level fields,
    with ``V`` where the asked-for value goes (given by ``type`` parameter ``v``)."""

    id: str
    grant: str
    service: Mapping[str, Any]
    top: Mapping[str, Any]
    type: str
    value: object


CASES = [
    Case("privileged", "privileged", {"privileged": V}, {}, "bool", True),
    Case("pid-host", "privileged", {"pid": V}, {}, "string", "host"),
    Case("pid-container", "privileged", {"pid": V}, {}, "string", "container:abc"),
    Case("ipc-host", "privileged", {"ipc": V}, {}, "string", "host"),
    Case("userns-host", "privileged", {"userns_mode": V}, {}, "string", "host"),
    Case("seccomp", "privileged", {"security_opt": [V]}, {}, "string", "seccomp:unconfined"),
    Case("apparmor", "privileged", {"security_opt": [V]}, {}, "string", "apparmor=unconfined"),
    Case("cgroup-parent", "privileged", {"cgroup_parent": V}, {}, "string", "/system.slice"),
    Case(
        "socket-short", "docker_socket", {"volumes": [V]}, {}, "string",
        "/var/run/docker.sock:/var/run/docker.sock",
    ),
    Case("socket-run-ro", "docker_socket", VOLUME, {}, "string", "/run/docker.sock:/s:ro"),
    Case(
        "socket-dotdot", "docker_socket", {"volumes": [V]}, {}, "string",
        "/var/run/../run/./docker.sock:/s",
    ),
    Case("socket-slashes", "docker_socket", VOLUME, {}, "string", "//var//run/docker.sock:/s"),
    Case("socket-parent", "docker_socket", {"volumes": [V]}, {}, "string", "/var/run/:/host-run"),
    Case("host-root", "docker_socket", {"volumes": [V]}, {}, "string", "/:/host"),
    Case("socket-relative", "docker_socket", {"volumes": [V]}, {}, "string", "../../run:/r"),
    Case(
        "socket-long", "docker_socket",
        {"volumes": [{"type": "bind", "source": V, "target": "/var/run/docker.sock"}]}, {},
        "string", "/var/run/docker.sock",
    ),
    Case(
        "socket-volume-device", "docker_socket", {"volumes": ["sock:/run"]},
        {"volumes": {"sock": {"driver_opts": {"type": "none", "o": "bind", "device": V}}}},
        "string", "/run",
    ),
    Case("bind-short", "host_paths", {"volumes": [V]}, {}, "string", "/srv/data:/data"),
    Case("bind-home", "docker_socket", {"volumes": [V]}, {}, "string", "~/data:/data"),
    Case(
        "bind-long", "host_paths",
        {"volumes": [{"type": "bind", "source": V, "target": "/data", "read_only": True}]}, {},
        "string", "/etc",
    ),
    Case(
        "bind-volume-device", "host_paths", {"volumes": ["data:/data"]},
        {"volumes": {"data": {"driver": "local", "driver_opts": {"o": "bind", "device": V}}}},
        "string", "/srv/data",
    ),
    Case(
        "bind-volume-rbind", "host_paths", {"volumes": ["data:/data"]},
        {"volumes": {"data": {"driver_opts": {"o": V, "device": "tmpfs"}}}},
        "string", "bind,ro",
    ),
    Case(
        "foreign-volume", "host_paths", {"volumes": ["data:/data"]},
        {"volumes": {"data": {"external": True, "name": V}}},
        "string", "t-other-blog_content",
    ),
    Case(
        "named-volume", "host_paths", {"volumes": ["data:/data"]},
        {"volumes": {"data": {"name": V}}}, "string", "t-other-blog_content",
    ),
    Case("device", "host_paths", {"devices": [V]}, {}, "string", "/dev/sda:/dev/sda"),
    Case("env-file", "host_paths", {"env_file": V}, {}, "string", "/var/lib/cloudos/cloudos.toml"),
    Case(
        "config-file", "host_paths", {"configs": ["key"]},
        {"configs": {"key": {"file": V}}}, "string", "/var/lib/cloudos/vault.key",
    ),
    Case(
        "secret-file", "host_paths", {"secrets": ["key"]},
        {"secrets": {"key": {"file": V}}}, "string", "/etc/shadow",
    ),
    Case("network-mode-host", "host_network", {"network_mode": V}, {}, "string", "host"),
    Case(
        "network-mode-container", "host_network", {"network_mode": V}, {}, "string",
        "container:x",
    ),
    Case(
        "host-network-by-name", "host_network", {"networks": ["hostnet"]},
        {"networks": {"hostnet": {"external": True, "name": V}}}, "string", "host",
    ),
    Case(
        "host-network-by-key", "host_network", {"networks": [V]},
        {"networks": {"host": {"external": True}}}, "string", "host",
    ),
    Case(
        "host-network-old-spelling", "host_network", {"networks": ["outside"]},
        {"networks": {"outside": {"external": {"name": V}}}}, "string", "host",
    ),
    Case(
        "other-space-network", "host_network", {"networks": ["shop"]},
        {"networks": {"shop": {"external": True, "name": V}}}, "string", "t-shop",
    ),
    Case("cap-add", "capabilities", {"cap_add": [V]}, {}, "string", "NET_ADMIN"),
    Case("cap-add-all", "capabilities", {"cap_add": [V]}, {}, "string", "ALL"),
]  # fmt: skip


def _fill(node: Any, value: object) -> Any:
    if node is V:
        return value
    if isinstance(node, Mapping):
        return {key: _fill(item, value) for key, item in node.items()}
    if isinstance(node, list):
        return [_fill(item, value) for item in node]
    return node


def _template(
    service: Mapping[str, Any],
    top: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any] | None = None,
    modifiers: list[dict[str, Any]] | None = None,
) -> TemplateRef:
    document: dict[str, Any] = {
        "format": "cloudos.template/v1",
        "id": "org.example.asks",
        "version": "1.0.0",
        "name": "Asks",
        "services": {"web": {"image": "nginx:1", **service}},
        **top,
    }
    if parameters:
        document["parameters"] = parameters
    if modifiers:
        document["modifiers"] = modifiers
    return TemplateRef(text=yaml.safe_dump(document), source="asks.yaml")


def phrasings(case: Case) -> dict[str, tuple[TemplateRef, dict[str, object]]]:
    """The same request three ways: in the template, by a modifier, through a value."""
    plain = _template({}, {}, modifiers=[{"id": "org.example.asks"}])
    return {
        "template": (_template(_fill(case.service, case.value), _fill(case.top, case.value)), {}),
        "modifier": (plain, {}),
        "value": (
            _template(
                _fill(case.service, "${v}"),
                _fill(case.top, "${v}"),
                parameters={"v": {"type": case.type, "required": True}},
            ),
            {"v": case.value},
        ),
    }


def modifier_for(case: Case) -> Any:
    """A modifier that asks for what ``case`` asks, with merge operations."""
    operations: list[dict[str, Any]] = [
        {"op": "merge", "path": "services.web", "value": _fill(case.service, case.value)}
    ]
    operations += [
        {"op": "merge", "path": key, "value": value}
        for key, value in _fill(case.top, case.value).items()
    ]
    return modifier_from_dict(
        {
            "format": "cloudos.modifier/v1",
            "id": "org.example.asks",
            "version": "1.0.0",
            "operations": operations,
        }
    )


@pytest.fixture
def library_manager(database: Database, vault: Vault) -> AppManager:
    """An app manager whose modifier library also holds the test's modifier slot."""
    return AppManager(
        database=database,
        vault=vault,
        instance="t",
        endpoint_mode=lambda: "dnsrr",
        library=dict(builtin_modifiers()),
    )


def count(manager: AppManager) -> tuple[int, int]:
    with manager.database.session() as session:
        apps = session.scalar(select(func.count()).select_from(App))
        revisions = session.scalar(select(func.count()).select_from(AppRevision))
    return int(apps or 0), int(revisions or 0)


@pytest.mark.parametrize("how", ["template", "modifier", "value"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_request_is_refused_until_its_grant_is_allowed(
    library_manager: AppManager, case: Case, how: str
) -> None:
    manager = library_manager
    manager.library["org.example.asks"] = modifier_for(case)  # type: ignore[index]
    with manager.database.session() as session:
        create_space(session, name="acme")
    template, values = phrasings(case)[how]
    with pytest.raises(Forbidden) as refused:
        manager.install(space="acme", name="app", template=template, values=values)
    message = str(refused.value)
    assert "is not allowed in space 'acme'" in message
    assert f"cloudos space policy acme --allow {case.grant}" in message
    assert count(manager) == (0, 0)  # nothing stored
    others = [grant for grant in GRANTS if grant != case.grant]
    with manager.database.session() as session:
        set_policy(session, name="acme", allow=others)
    with pytest.raises(Forbidden):  # every other grant does not help
        manager.install(space="acme", name="app", template=template, values=values)
    with manager.database.session() as session:
        set_policy(session, name="acme", allow=[case.grant])
    manager.install(space="acme", name="app", template=template, values=values)
    assert count(manager) == (1, 1)


def requests(service: Mapping[str, Any], **top: Any) -> list[tuple[str, str, str]]:
    stack = {"services": {"web": {"image": "x", **service}, "db": {"image": "y"}}, **top}
    return [
        (f.grant, f.owner, f.path)
        for f in find_requests(stack, name="t-acme-app", platform_networks={"t-acme"})
    ]


@pytest.mark.parametrize(
    "service",
    [
        {"volumes": ["data:/data", "/cache", "data:/ro:ro"]},
        {"volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
        {"volumes": [{"type": "tmpfs", "target": "/tmp"}]},
        {"security_opt": ["no-new-privileges", "no-new-privileges:true"]},
        {"network_mode": "service:db"},
        {"pid": "service:db", "ipc": "shareable"},
        {"cap_drop": ["ALL"], "privileged": False},
        {"networks": ["default", "t-acme", "back"]},
    ],
)
def test_what_stays_inside_the_app_needs_no_grant(service: Mapping[str, Any]) -> None:
    networks = {"t-acme": {"external": True, "name": "t-acme"}, "back": {}}
    volumes = {"data": {}, "mine": {"name": "t-acme-app_mine"}}
    assert requests(service, networks=networks, volumes=volumes) == []


def test_each_finding_names_the_service_and_the_field() -> None:
    found = requests(
        {
            "privileged": "yes",
            "cap_add": ["SYS_ADMIN"],
            "volumes": ["data:/data", "/var/run/docker.sock:/s", "/srv:/srv"],
            "network_mode": "service:elsewhere",
        }
    )
    assert found == [
        ("privileged", "service web", "services.web.privileged"),
        ("capabilities", "service web", "services.web.cap_add"),
        ("host_network", "service web", "services.web.network_mode"),
        ("docker_socket", "service web", "services.web.volumes[1]"),
        ("host_paths", "service web", "services.web.volumes[2]"),
    ]


def test_the_refusal_names_every_violation_in_one_line(manager: AppManager) -> None:
    template = _template({"privileged": True, "cap_add": ["NET_ADMIN"]}, {})
    with pytest.raises(Forbidden) as refused:
        manager.install(space="default", name="app", template=template, values={})
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        "service web: privileged mode (services.web.privileged) is not allowed in space "
        "'default' (a cluster admin can allow it: cloudos space policy default --allow "
        "privileged); service web: the capabilities NET_ADMIN (services.web.cap_add) is not "
        "allowed in space 'default' (a cluster admin can allow it: cloudos space policy "
        "default --allow capabilities)"
    )


def test_unknown_grants_are_refused_with_the_known_ones(database: Database) -> None:
    with pytest.raises(InvalidInput, match=r"unknown grant 'root' \(grants: privileged, "):
        check_grants(["root"])
    with database.session() as session, pytest.raises(InvalidInput, match="unknown grant"):
        set_policy(session, name="default", allow=["privileged", "docker"])
    assert check_grants(["host_paths", "privileged", "host_paths"]) == [
        "host_paths",
        "privileged",
    ]


def test_every_catalog_template_installs_in_a_space_that_allows_nothing(
    manager: AppManager,
) -> None:
    for index, template in enumerate(load_catalog_templates().values()):
        values = {
            name: sample_value(name, param)
            for name, param in template.parameters.items()
            if param.required and param.default is None
        }
        manager.install(
            space="default",
            name=f"app{index}",
            template=TemplateRef(catalog_id=template.id),
            values=values,
        )
    assert count(manager) == (len(load_catalog_templates()),) * 2


@pytest.mark.parametrize("path", sorted(E2E_APPS.glob("*.yaml")), ids=lambda path: path.stem)
def test_the_end_to_end_apps_install_in_a_space_that_allows_nothing(
    manager: AppManager, path: Path
) -> None:
    template = TemplateRef(text=path.read_text(), source=path.name)
    values = {"http_port": 8080} if "http_port" in path.read_text() else {}
    manager.install(space="default", name="app", template=template, values=values)
    assert count(manager) == (1, 1)


def test_adopting_a_stack_checks_its_services(manager: AppManager) -> None:
    document: dict[str, Any] = {
        "format": "cloudos.template/v1",
        "id": "local.adopted.hand",
        "version": "1.0.0",
        "name": "hand",
        "services": {
            "web": {"image": "nginx:1", "volumes": ["site:/srv"], "networks": ["default"]},
            "agent": {"image": "portainer/agent", "volumes": ["/var/run/docker.sock:/s"]},
        },
        "volumes": {"site": {}},
    }
    with pytest.raises(Forbidden, match=r"^service agent: the Docker socket \(/var/run/docker"):
        manager.adopt(space="default", name="hand", stack="hand", document=document)
    assert count(manager) == (0, 0)
    del document["services"]["agent"]
    manager.adopt(space="default", name="hand", stack="hand", document=document)
    assert count(manager) == (1, 1)


def test_a_rollback_is_checked_against_todays_policy(manager: AppManager) -> None:
    with manager.database.session() as session:
        set_policy(session, name="default", allow=["host_paths"])
    template = _template(
        {"volumes": ["${source}:/data"]},
        {},
        parameters={"source": {"type": "string", "default": "/srv/data"}},
    )
    manager.install(space="default", name="app", template=template, values={})
    assert manager.update(space="default", name="app", values={"source": "data"})
    with manager.database.session() as session:
        set_policy(session, name="default", allow=[])
    with pytest.raises(Forbidden, match="the host path /srv/data mounted"):
        manager.rollback(space="default", name="app")
    assert count(manager) == (1, 2)
