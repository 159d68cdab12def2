"""Updates of a service that publishes a host-mode port are stop-first: a start-first
update (the platform's update policy by default) never finds a node where the new task
can bind the port beside the old one. The app's events say so."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import select

from cloudos.apps import AppManager, TemplateRef
from cloudos.apps._stack import placeable_update_order
from cloudos.store.models import AppEvent
from tests.apps.conftest import HELLO

# The end-to-end app without its own stop-first: the platform's default applies.
HELLO_DEFAULT_ORDER = HELLO.replace(
    "  - id: org.cloudos.update-policy\n    values: {order: stop-first, monitor: 20s}\n",
    "  - id: org.cloudos.update-policy\n    values: {monitor: 20s}\n",
)


def orders(manager: AppManager, name: str = "web") -> dict[str, Any]:
    with manager.database.session() as session:
        app = manager.get(session, "default", name)
        stack = yaml.safe_load(manager._current(session, app).yaml)
    deploy = stack["services"]["web"]["deploy"]
    return {key: deploy[key]["order"] for key in ("update_config", "rollback_config")}


def events(manager: AppManager) -> list[tuple[str, str]]:
    with manager.database.session() as session:
        rows = session.execute(select(AppEvent.kind, AppEvent.message).order_by(AppEvent.id))
        return [(kind, message) for kind, message in rows]


def test_a_host_port_makes_updates_stop_first_and_the_events_say_why(
    manager: AppManager,
) -> None:
    assert "order: stop-first" not in HELLO_DEFAULT_ORDER
    template = TemplateRef(text=HELLO_DEFAULT_ORDER, source="hello.yaml")
    manager.install(space="default", name="web", template=template, values={"http_port": 20001})
    assert orders(manager) == {"update_config": "stop-first", "rollback_config": "stop-first"}
    note = (
        "service web publishes host port 20001: its updates stop the old task before "
        "starting the new one (stop-first), as a new one could not be placed beside it"
    )
    assert events(manager) == [
        ("update-order", note),
        ("install", "installed org.cloudos.test.hello 1.0.0 as revision 1"),
    ]
    assert manager.update(space="default", name="web", values={"message": "second"})
    assert events(manager)[-2:] == [
        ("update-order", note),
        ("update", "revision 2: changed message"),
    ]


def test_without_a_host_port_updates_stay_start_first(manager: AppManager) -> None:
    text = HELLO_DEFAULT_ORDER.replace(
        '      - {target: 8080, published: "${http_port}", mode: host}\n',
        '      - {target: 8080, published: "${http_port}"}\n',  # ingress: any node answers
    )
    template = TemplateRef(text=text, source="hello.yaml")
    manager.install(space="default", name="web", template=template, values={"http_port": 20001})
    assert orders(manager)["update_config"] == "start-first"
    assert [kind for kind, _ in events(manager)] == ["install"]


HOST = [{"target": 80, "published": 81, "mode": "host"}]
ONE_A_NODE = {"max_replicas_per_node": 1}


@pytest.mark.parametrize(
    ("ports", "placement", "order", "after"),
    [
        (HOST, {}, "start-first", "stop-first"),
        (HOST, {}, "stop-first", "stop-first"),
        (["81:80"], {}, "start-first", "start-first"),
        ([], {}, "start-first", "start-first"),
        ([], ONE_A_NODE, "start-first", "stop-first"),
        ([], {"constraints": ["node.role == worker"]}, "start-first", "start-first"),
    ],
    ids=["host", "host-already", "ingress", "no-ports", "one-a-node", "constraint-only"],
)
def test_the_order_decision(
    ports: list[Any], placement: dict[str, Any], order: str, after: str
) -> None:
    deploy = {"update_config": {"order": order}, "rollback_config": {"order": order}}
    stack: dict[str, Any] = {
        "services": {"web": {"ports": ports, "deploy": {**deploy, "placement": placement}}}
    }
    notes = placeable_update_order(stack)
    changed = stack["services"]["web"]["deploy"]
    assert (changed["update_config"]["order"], changed["rollback_config"]["order"]) == (after,) * 2
    assert len(notes) == (1 if order != after else 0)


def test_each_service_gets_one_note_naming_its_ports() -> None:
    def update() -> dict[str, Any]:
        return {"update_config": {"order": "start-first"}}

    stack = {
        "services": {
            "web": {"ports": [*HOST, "82:80", {**HOST[0], "published": 83}], "deploy": update()},
            "db": {"deploy": {**update(), "placement": ONE_A_NODE}},
        }
    }
    assert [note.split(":")[0] for note in placeable_update_order(stack)] == [
        "service web publishes host port 81, 83",
        "service db runs at most 1 task(s) a node",
    ]
