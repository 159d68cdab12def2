"""``cloudos app install --dedicated``, ``app show`` addons, ``cloudos addon dump|restore``
against a fake API: what is sent, what is written, and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cloudos.cli import app as cloudos_app
from cloudos.cli._client import Wiring
from tests.cli.test_app_cli import FakeApi, an_app, run

ADDONS = [
    {"kind": "mysql", "server": "c--1-web--mysql-app", "dedicated": True,
     "database": "c_default_web_0123456789ab", "user": "c_default_web_0123456789ab"},
    {"kind": "redis", "server": "c--default--redis", "dedicated": False,
     "database": "c_default_web_ba9876543210", "user": "c_default_web_ba9876543210"},
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py

DUMP = b"-- MariaDB dump\nINSERT INTO t VALUES (1);\n\x00\xff binary too\n"


def test_install_asks_for_dedicated_servers(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps", (201, an_app(addons=ADDONS)))
    result = run(api, "app", "install", "org.x", "--name", "web", "--dedicated", "redis",
                 "--dedicated", "mysql", "--dedicated", "mysql")  # fmt: skip
    assert result.code == 0, result.stderr
    assert api.body("POST", "/spaces/default/apps")["dedicated"] == ["mysql", "redis"]


def test_install_without_dedicated_leaves_it_to_the_template(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps", (201, an_app()))
    assert run(api, "app", "install", "org.x", "--name", "web").code == 0
    assert "dedicated" not in api.body("POST", "/spaces/default/apps")


def test_show_lists_the_addons_and_their_servers(api: FakeApi) -> None:
    api.on("GET", "/spaces/default/apps/web", (200, an_app(addons=ADDONS)))
    api.on("GET", "/spaces/default/apps/web/events", (200, []))
    result = run(api, "app", "show", "web")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split() == ["ADDON", "DATABASE", "SERVER", "STACK"] for line in lines)
    assert any(
        line.split() == ["mysql", "c_default_web_0123456789ab", "dedicated", "c--1-web--mysql-app"]
        for line in lines
    )
    assert any(line.split()[::2] == ["redis", "space"] for line in lines)


def test_dump_to_a_file_and_to_stdout(api: FakeApi, tmp_path: Path) -> None:
    api.on("GET", "/spaces/shop/apps/web/addons/mysql/dump", (200, DUMP.decode("latin-1")))
    target = tmp_path / "web.sql"
    result = run(
        api, "addon", "dump", "web", "--space", "shop", "--kind", "mysql", "-o", str(target)
    )
    assert result.code == 0, result.stderr
    assert target.read_bytes() == DUMP.decode("latin-1").encode()
    assert f"dumped mysql of web: {target.stat().st_size} bytes" in result.stderr
    wiring = Wiring(transport=httpx.MockTransport(api), poll_interval=0.001)
    piped = CliRunner().invoke(
        cloudos_app, ["addon", "dump", "web", "-s", "shop", "-k", "mysql"], obj=wiring
    )
    assert piped.exit_code == 0
    assert piped.stdout_bytes == target.read_bytes()


class _CutOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b"-- half a dump\n"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_a_cut_off_dump_fails_and_leaves_no_file(tmp_path: Path) -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_CutOff())

    target = tmp_path / "web.sql"
    wiring = Wiring(transport=httpx.MockTransport(cut), poll_interval=0.001)
    result = CliRunner().invoke(
        cloudos_app, ["addon", "dump", "web", "-k", "mysql", "-o", str(target)], obj=wiring
    )
    assert result.exit_code != 0
    assert "stopped sending after 15 bytes: the output is incomplete" in str(result.exception)
    assert not target.exists()


def test_dump_of_a_missing_addon_is_one_line(api: FakeApi, tmp_path: Path) -> None:
    api.on("GET", "/spaces/default/apps/web/addons/pg/dump",
           (404, {"detail": "app 'web' has no 'pg' addon (its addons: mysql)"}))  # fmt: skip
    result = run(api, "addon", "dump", "web", "-k", "pg", "-o", str(tmp_path / "x"))
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: app 'web' has no 'pg' addon (its addons: mysql)"
    )
    assert not (tmp_path / "x").exists()


def test_restore_streams_the_file_and_reports(api: FakeApi, tmp_path: Path) -> None:
    source = tmp_path / "web.sql"
    source.write_bytes(DUMP * 1000)
    api.on("GET", "/spaces/default/apps/web", (200, an_app(addons=ADDONS)))
    answer = {"kind": "mysql", "database": ADDONS[0]["database"], "bytes": len(DUMP) * 1000}
    api.on("PUT", "/spaces/default/apps/web/addons/mysql/restore", (200, answer))
    result = run(api, "addon", "restore", "web", "--kind", "mysql", "-i", str(source))
    assert result.code == 0, result.stderr
    [sent] = api.sent("PUT", "/spaces/default/apps/web/addons/mysql/restore")
    assert sent.read() == DUMP * 1000
    assert result.stdout == (
        f"restored {len(DUMP) * 1000} bytes into mysql database c_default_web_0123456789ab of web\n"
    )


def test_restore_from_stdin(api: FakeApi) -> None:
    api.on("GET", "/spaces/default/apps/web", (200, an_app(addons=ADDONS)))
    answer = {"kind": "redis", "database": "d", "bytes": 4}
    api.on("PUT", "/spaces/default/apps/web/addons/redis/restore", (200, answer))
    result = run(api, "addon", "restore", "web", "-k", "redis", stdin="SET\n")
    assert result.code == 0, result.stderr
    assert api.sent("PUT", "/spaces/default/apps/web/addons/redis/restore")[0].read() == b"SET\n"


def test_restore_into_an_addon_the_app_lacks_sends_no_data(api: FakeApi, tmp_path: Path) -> None:
    source = tmp_path / "x.sql"
    source.write_bytes(DUMP)
    api.on("GET", "/spaces/default/apps/web", (200, an_app(addons=ADDONS)))
    result = run(api, "addon", "restore", "web", "-k", "postgresql", "-i", str(source))
    assert result.code == 1
    assert "app 'web' has no 'postgresql' addon (its addons: mysql, redis)" in result.stderr
    assert api.sent("PUT", "/spaces/default/apps/web/addons/postgresql/restore") == []


def test_restore_of_a_missing_file_is_one_line(api: FakeApi, tmp_path: Path) -> None:
    result = run(api, "addon", "restore", "web", "-k", "mysql", "-i", str(tmp_path / "none.sql"))
    assert result.code == 1
    assert "none.sql: cannot read: No such file or directory" in result.stderr
    assert api.requests == []


def test_restore_refused_by_the_server_shows_why(api: FakeApi, tmp_path: Path) -> None:
    source = tmp_path / "x.sql"
    source.write_bytes(b"garbage")
    api.on("GET", "/spaces/default/apps/web", (200, an_app(addons=ADDONS)))
    detail = "restore into d on s failed: ERROR 1064 (is it a mysql dump made by ...?)"
    api.on("PUT", "/spaces/default/apps/web/addons/mysql/restore", (422, {"detail": detail}))
    result = run(api, "addon", "restore", "web", "-k", "mysql", "-i", str(source))
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {detail}"
