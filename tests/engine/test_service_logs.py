"""Reading a service's logs from an engine that never ends the stream (moby/moby#38640).

The engine here is a stand-in on a Unix socket that answers the two requests a log read
makes: it sends two log frames and then neither more bytes nor the end of the response,
which is what the real engine sometimes does. The real engine's logs are read end to
end in tests/e2e/test_apps.py and tests/e2e/test_app_router.py.
"""

from __future__ import annotations

import json
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import docker
import pytest

from cloudos.engine import service_logs

SERVICE = {"ID": "svc1", "Spec": {"Name": "s_web", "TaskTemplate": {"ContainerSpec": {}}}}


def frame(text: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxL", stream, len(text)) + text


class StallingEngine(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    released = threading.Event()
    asked: ClassVar[list[str]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def address_string(self) -> str:
        return "unix"

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        if self.path.endswith("/services/s_web") or self.path.endswith("/services/svc1"):
            body = json.dumps(SERVICE).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "/services/svc1/logs" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for data in (frame(b"one\n"), frame(b"two\n", stream=2)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            type(self).released.wait(timeout=60)  # never the final chunk
            return
        body = b'{"message": "no such service"}'
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[docker.DockerClient]:
    path = tmp_path / "engine.sock"
    StallingEngine.released.clear()
    StallingEngine.asked.clear()
    server = Server(str(path), StallingEngine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = docker.DockerClient(base_url=f"unix://{path}", version="1.41", timeout=5)
    yield client
    StallingEngine.released.set()
    client.close()
    server.shutdown()
    server.server_close()


def test_a_log_read_that_the_engine_never_ends_returns_what_was_logged(
    engine: docker.DockerClient,
) -> None:
    started = time.monotonic()
    chunks = list(service_logs(engine, service="s_web", tail=100, idle=1.0))
    assert chunks == [b"one\n", b"two\n"]
    assert time.monotonic() - started < 10  # bounded by the idle time, not forever
    [logs] = [path for path in StallingEngine.asked if "/logs" in path]
    assert "tail=100" in logs
    assert "follow=0" in logs


def test_a_missing_service_has_no_logs(engine: docker.DockerClient) -> None:
    assert list(service_logs(engine, service="gone")) == []
