"""The admin client against a stand-in for Caddy's admin API on a unix socket.

The real Caddy is exercised in tests/e2e/test_router.py; this checks the client's own
behaviour: the empty Host header, and how each kind of failure is translated.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cloudos.errors import EnvironmentProblem, InvalidInput
from cloudos.router import RouterAdmin


class FakeCaddy(BaseHTTPRequestHandler):
    """Answers like Caddy 2.6: only an empty Host is allowed; /load takes what it is sent."""

    config: ClassVar[dict[str, Any]] = {}
    hosts: ClassVar[list[str | None]] = []

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host"))
        if self.headers.get("Host") != "":
            self._reply(403, {"error": "host not allowed"})
        else:
            self._reply(200, self.config)

    def do_POST(self) -> None:
        self.hosts.append(self.headers.get("Host"))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if "apps" in body and "bad" in body["apps"]:
            self._reply(400, {"error": "loading config: unknown module: bad"})
        elif "apps" in body and "crash" in body["apps"]:
            self._reply(500, {"error": "something broke"})
        else:
            FakeCaddy.config = body
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    """A stand-in admin API listening on a unix socket."""
    path = tmp_path / "admin.sock"
    FakeCaddy.config = {"admin": {"listen": f"unix/{path}"}}
    FakeCaddy.hosts = []
    server = UnixHTTPServer(str(path), FakeCaddy)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    thread.join()


def test_load_then_read_back_with_an_empty_host_header(socket_path: Path) -> None:
    config = {"admin": {"listen": f"unix/{socket_path}"}, "apps": {"http": {}}}
    with RouterAdmin(socket_path) as admin:
        assert admin.answers()
        admin.load(config)
        assert admin.config() == config
        admin.load(json.dumps(config).encode())
    assert set(FakeCaddy.hosts) == {""}


def test_a_rejected_config_is_invalid_input_with_caddys_message(socket_path: Path) -> None:
    with RouterAdmin(socket_path) as admin:
        with pytest.raises(
            InvalidInput, match="rejected the configuration: loading config: unknown"
        ):
            admin.load({"apps": {"bad": {}}})
        with pytest.raises(EnvironmentProblem, match="failed to load its configuration: something"):
            admin.load({"apps": {"crash": {}}})
        assert "apps" not in admin.config()  # nothing was replaced


def test_a_missing_socket_is_an_environment_problem(tmp_path: Path) -> None:
    with RouterAdmin(tmp_path / "nothing.sock") as admin:
        assert not admin.answers()
        with pytest.raises(EnvironmentProblem, match=r"does not answer.*does not exist"):
            admin.load({})
