"""The dashboard's health fragment against the real engine: parts and nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from cloudos.engine import connect_engine
from cloudos.identity import create_user
from cloudos.settings import Settings
from cloudos.store import open_database
from cloudos.web import create_app
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, no_engine, sign_in


def test_health_shows_the_engine_and_this_machine_as_a_ready_manager(
    tmp_path: Path, docker_client: Any
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'cloudos.db'}")
    with database.session() as session:
        create_user(session, username=ADMIN, password=ADMIN_PASSWORD, is_admin=True)
    app = create_app(
        settings=Settings(data_dir=tmp_path, instance="ui-health", router=False),
        database=database,
        connect_engine=connect_engine,
        reconcile=False,
    )
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, ADMIN, ADMIN_PASSWORD)
        fragment = client.get("/ui/health").text
    database.close()
    assert "Docker engine</strong>: ok" in fragment
    assert "Nodes" in fragment
    hostname = docker_client.info()["Name"]
    assert hostname in fragment
    row = fragment[fragment.index(hostname) :].split("</tr>")[0]
    assert "manager" in row
    assert 'class="good">ready' in row


def test_health_names_each_object_the_reconciler_cannot_converge(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'cloudos.db'}")
    with database.session() as session:
        create_user(session, username=ADMIN, password=ADMIN_PASSWORD, is_admin=True)
    app = create_app(
        settings=Settings(data_dir=tmp_path, instance="ui-health", router=False),
        database=database,
        connect_engine=no_engine,
        reconcile=True,  # its loop never starts: no lifespan here
    )
    faults = app.state.cloudos.faults
    client = TestClient(app, follow_redirects=False)
    sign_in(client, ADMIN, ADMIN_PASSWORD)
    assert "Reconciler</strong>: ok" in client.get("/ui/health").text
    faults.failed(
        "space:shop",
        kind="space",
        name="shop",
        space="shop",
        error="removing space 'shop': network ui-health-shop is still in use by service x",
    )
    faults.failed("router", kind="router", name="router", space=None, error="no answer")
    fragment = client.get("/ui/health").text
    database.close()
    assert "Reconciler</strong>: problem" in fragment
    assert "2 object(s) failing" in fragment
    assert "space shop</strong>: problem" in fragment
    assert "is still in use by service x (attempt 1, next in " in fragment
    assert 'router</strong>: problem <span class="muted">no answer (attempt 1' in fragment
