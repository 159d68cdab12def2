"""The reconciler and addon servers, around a fake swarm: an app waits for its server,
names it, fails after the configured timeout, and recovers once the server is healthy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cloudos.addons import AddonNames, AddonServer
from cloudos.apps import AppManager, Reconciler, TemplateRef
from cloudos.apps import _reconciler as reconciler_module
from cloudos.store.models import App, utcnow
from tests.apps.test_reconciler import FakeSwarm, row

PHP_MYSQL = Path(__file__).parent.parent / "e2e" / "apps" / "php-mysql.yaml"


class FakeServers:
    """Addon servers that become healthy when told to; provisioning is recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.deployed: list[str] = []
        self.healthy: set[str] = set()
        self.provisioned: list[str] = []
        monkeypatch.setattr(reconciler_module, "deploy_server", self.deploy_server)
        monkeypatch.setattr(reconciler_module, "service_health", self.service_health)
        monkeypatch.setattr(reconciler_module, "provision", self.provision)
        monkeypatch.setattr(reconciler_module, "detect_engine", lambda _client: _Node())

    def deploy_server(self, client: object, server: AddonServer, **_: object) -> None:
        self.deployed.append(server.stack)

    def service_health(self, client: object, *, service: str) -> str | None:
        return "healthy" if service in self.healthy else "starting"

    def provision(
        self, client: object, server: AddonServer, names: AddonNames, **_: object
    ) -> None:
        self.provisioned.append(f"{server.stack}/{names.database}")


class _Node:
    node_id = "node-1"


def test_an_app_waits_for_its_server_then_fails_after_the_timeout_then_recovers(
    manager: AppManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    swarm = FakeSwarm()
    swarm.install(monkeypatch)
    servers = FakeServers(monkeypatch)
    reconciler = Reconciler(
        manager=manager,
        connect_engine=lambda: object(),  # type: ignore[arg-type,return-value]
        addon_timeout=timedelta(seconds=7.5),
    )
    manager.install(
        space="default",
        name="shop",
        template=TemplateRef(text=PHP_MYSQL.read_text(), source="php-mysql.yaml"),
        values={},
    )
    assert reconciler.run_once().settling
    app = row(manager, "shop")
    assert app.status == "waiting"
    assert app.status_reason == "waiting for the mysql server (t--default--mysql) to be ready"
    assert servers.deployed == ["t--default--mysql"]
    assert "t-default-shop" not in swarm.stacks, "no app before its database"

    reconciler.run_once()  # still within the timeout: still waiting
    assert row(manager, "shop").status == "waiting"
    with manager.database.session() as session:
        found = session.get(App, app.id)
        assert found is not None
        found.status_since = utcnow() - timedelta(seconds=8)
    reconciler.run_once()
    app = row(manager, "shop")
    assert app.status == "failed"
    assert app.status_reason == (
        "waiting for the mysql server (t--default--mysql) to be ready: not ready after 7.5 s"
    )
    assert servers.provisioned == []

    servers.healthy.add("t--default--mysql_server")
    reconciler.run_once()
    assert row(manager, "shop").status == "running"
    assert [p.split("/")[0] for p in servers.provisioned] == ["t--default--mysql"]
    assert "t-default-shop" in swarm.stacks
