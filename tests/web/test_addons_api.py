"""The addon parts of the REST API on a real SQLite database, the engine faked:
dedicated servers asked for at install, and an app's database dumped and restored
as streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudos.addons import AddonCommandFailed, AddonNames, AddonServer
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.web import _addons_api, _apps_api, create_app
from tests.apps.test_dedicated_addons import TEMPLATE  # mysql and postgresql

SHOP = "/api/v1/spaces/default/apps/shop"


class _Client:
    """The engine client the handlers get: only closed (its uses are stubbed)."""

    def close(self) -> None:
        pass


@pytest.fixture
def api(
    tmp_path: Path, database: Database, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(_apps_api, "observe_stacks", lambda client, *, instance: {})
    settings = Settings(data_dir=tmp_path, instance="t")
    app = create_app(settings=settings, database=database, connect_engine=_Client, reconcile=False)  # type: ignore[arg-type]
    with TestClient(app, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


def install(api: TestClient, **extra: object) -> dict[str, object]:
    response = api.post(
        "/api/v1/spaces/default/apps",
        json={"name": "shop", "template_text": TEMPLATE, "template_source": "two.yaml", **extra},
    )
    assert response.status_code in (201, 422), response.text
    result: dict[str, object] = response.json()
    return result


def test_install_with_a_dedicated_server_shows_it(api: TestClient) -> None:
    created = install(api, dedicated=["mysql"])
    addons = {a["kind"]: a for a in created["addons"]}  # type: ignore[attr-defined]
    assert addons["mysql"]["dedicated"] is True
    assert addons["mysql"]["server"] == "t--1-shop--mysql-app"
    assert addons["postgresql"]["dedicated"] is False
    assert addons["postgresql"]["server"] == "t--default--postgresql"
    shown = api.get(SHOP).json()
    assert shown["addons"] == created["addons"]
    listed = api.get("/api/v1/spaces/default/apps").json()
    assert listed[0]["addons"] == created["addons"]


def test_a_dedicated_kind_the_template_lacks_is_a_clear_422(api: TestClient) -> None:
    refused = install(api, dedicated=["redis"])
    assert refused["status"] == 422
    assert "declares no 'redis' addon (its addons: mysql, postgresql)" in str(refused["detail"])
    assert api.get(SHOP).status_code == 404


@pytest.fixture
def engine_stub(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """dump/restore/service_health of the API module, recorded."""
    seen: dict[str, object] = {"health": "healthy", "restored": b""}

    def dump(client: object, server: AddonServer, names: AddonNames) -> Iterator[bytes]:
        seen["dumped"] = (server.stack, names.database)
        yield b"-- dump of " + names.database.encode() + b"\n"
        yield b"INSERT INTO notes VALUES ('hello');\n"

    def restore(
        client: object, server: AddonServer, names: AddonNames, chunks: Iterable[bytes]
    ) -> None:
        data = b"".join(chunks)
        if data.startswith(b"garbage"):
            raise AddonCommandFailed(f"restore into {names.database} failed: ERROR 1064")
        seen["restored"] = data
        seen["restored_into"] = (server.stack, names.database)

    monkeypatch.setattr(_addons_api, "dump", dump)
    monkeypatch.setattr(_addons_api, "restore", restore)
    monkeypatch.setattr(_addons_api, "service_health", lambda client, *, service: seen["health"])
    return seen


def test_dump_streams_the_apps_database(api: TestClient, engine_stub: dict[str, object]) -> None:
    install(api, dedicated=["mysql"])
    response = api.get(f"{SHOP}/addons/mysql/dump")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content.startswith(b"-- dump of t_default_shop_")
    assert response.content.endswith(b"INSERT INTO notes VALUES ('hello');\n")
    assert engine_stub["dumped"][0] == "t--1-shop--mysql-app"  # type: ignore[index]


def test_restore_reads_the_body_into_the_apps_database(
    api: TestClient, engine_stub: dict[str, object]
) -> None:
    install(api)
    body = b"CREATE TABLE t (x int);\n" * 50_000  # more than one chunk
    response = api.put(f"{SHOP}/addons/postgresql/restore", content=iter([body[:7], body[7:]]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["kind"] == "postgresql"
    assert answer["bytes"] == len(body)
    assert answer["database"].startswith("t_default_shop_")
    assert engine_stub["restored"] == body
    assert engine_stub["restored_into"] == ("t--default--postgresql", answer["database"])


def test_a_dump_the_server_refuses_is_a_422_that_says_so(
    api: TestClient, engine_stub: dict[str, object]
) -> None:
    install(api)
    response = api.put(f"{SHOP}/addons/mysql/restore", content=b"garbage\n")
    assert response.status_code == 422
    assert "ERROR 1064" in response.json()["detail"]
    assert "cloudos addon dump" in response.json()["detail"]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_no_such_addon_or_server_not_ready_are_clear(
    api: TestClient, engine_stub: dict[str, object], method: str
) -> None:
    install(api)
    action = "dump" if method == "GET" else "restore"
    missing = api.request(method, f"{SHOP}/addons/redis/{action}", content=b"x")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "app 'shop' has no 'redis' addon (its addons: mysql, postgresql)"
    )
    gone = api.request(method, f"/api/v1/spaces/default/apps/nope/addons/mysql/{action}")
    assert gone.status_code == 404
    engine_stub["health"] = "starting"
    waiting = api.request(method, f"{SHOP}/addons/mysql/{action}", content=b"x")
    assert waiting.status_code == 409
    assert "t--default--mysql is not running and healthy" in waiting.json()["detail"]
    assert engine_stub["restored"] == b""
