"""Dedicated addon servers asked for at install: stored, kept through every revision,
and refused for an addon the template does not declare."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from cloudos.addons import app_server, space_server
from cloudos.apps import AppManager, TemplateRef
from cloudos.errors import InvalidInput
from cloudos.store.models import AddonBinding, AddonServerRow, App

TEMPLATE = """
format: cloudos.template/v1
id: org.cloudos.test.two-databases
version: 1.0.0
name: Two databases
license: Apache-2.0
parameters:
  message: {type: string, default: one}
addons:
  mysql: {}
  postgresql: {}
services:
  web:
    image: cloudos/static:0.1
    environment:
      MESSAGE: ${message}
"""


def install(manager: AppManager, name: str = "shop", **kwargs: object) -> int:
    return manager.install(
        space="default",
        name=name,
        template=TemplateRef(text=TEMPLATE, source="two.yaml"),
        values={},
        **kwargs,  # type: ignore[arg-type]
    )


def servers(manager: AppManager, app_id: int) -> dict[str, AddonServerRow]:
    with manager.database.session() as session:
        rows = session.execute(
            select(AddonBinding.kind, AddonServerRow)
            .join(AddonServerRow, AddonServerRow.id == AddonBinding.server_id)
            .where(AddonBinding.app_id == app_id)
        ).all()
        return {str(kind): server for kind, server in rows}


def mysql_host(manager: AppManager, name: str = "shop") -> str:
    """MYSQL_HOST of the web service in the app's current revision."""
    with manager.database.session() as session:
        app = manager.get(session, "default", name)
        revision = manager.revision(session, app, app.revision)
        document = yaml.safe_load(manager.build(app, revision).yaml)
    return str(document["services"]["web"]["environment"]["MYSQL_HOST"])


def test_an_admin_asks_for_a_dedicated_server_at_install(manager: AppManager) -> None:
    app_id = install(manager, dedicated=["mysql"])
    found = servers(manager, app_id)
    own = app_server(instance="t", app_id=app_id, app_name="shop", kind="mysql")
    assert (found["mysql"].stack, found["mysql"].app_id) == (own.stack, app_id)
    shared = space_server(instance="t", space="default", kind="postgresql")
    assert (found["postgresql"].stack, found["postgresql"].app_id) == (shared.stack, None)
    assert mysql_host(manager) == own.host


def test_without_asking_the_template_decides(manager: AppManager) -> None:
    app_id = install(manager)
    assert servers(manager, app_id)["mysql"].app_id is None
    assert mysql_host(manager) == space_server(instance="t", space="default", kind="mysql").host


def test_the_dedicated_server_is_kept_through_updates_rotation_and_rollbacks(
    manager: AppManager,
) -> None:
    app_id = install(manager, dedicated=["mysql"])
    own = app_server(instance="t", app_id=app_id, app_name="shop", kind="mysql")
    assert manager.update(space="default", name="shop", values={"message": "two"})
    assert mysql_host(manager) == own.host
    manager.rotate(space="default", name="shop", kind="mysql")
    assert mysql_host(manager) == own.host
    assert manager.rollback(space="default", name="shop", to=1) == 4
    assert mysql_host(manager) == own.host
    newer = TemplateRef(text=TEMPLATE.replace("1.0.0", "1.1.0"), source="two.yaml")
    assert manager.update(space="default", name="shop", values={}, template=newer)
    assert mysql_host(manager) == own.host
    assert servers(manager, app_id)["mysql"].stack == own.stack
    with manager.database.session() as session:
        assert session.scalar(select(func.count()).select_from(AddonServerRow)) == 2


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (["redis"], r"declares no 'redis' addon \(its addons: mysql, postgresql\)"),
        (["mysql", "smtp"], "declares no 'smtp' addon"),
    ],
)
def test_a_kind_the_template_does_not_declare_is_refused_and_nothing_stored(
    manager: AppManager, asked: list[str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        install(manager, dedicated=asked)
    with manager.database.session() as session:
        assert session.scalar(select(func.count()).select_from(App)) == 0
        assert session.scalar(select(func.count()).select_from(AddonServerRow)) == 0
