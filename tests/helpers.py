"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cloudos.spaces import DEFAULT_SPACE, set_ports
from cloudos.store import Database

Runner = Callable[..., subprocess.CompletedProcess[str]]

# The end-to-end apps publish host ports (free_port() picks them); spaces allow none by
# default, so tests whose subject is something else let the space ``default`` publish
# these, as a cluster admin would (tests/spaces/test_policy_ports.py checks the rule).
TEST_PORTS = "1-65535"


def allow_test_ports(database: Database) -> Database:
    """``database`` with the space ``default`` allowed host ports TEST_PORTS."""
    with database.session() as session:
        set_ports(session, name=DEFAULT_SPACE, ports=TEST_PORTS)
    return database


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening_addresses(port: int) -> set[str]:
    """The addresses something on this machine listens on at TCP ``port``, as the
    kernel's socket tables (/proc/net/tcp, tcp6) show them."""
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints the address as 32-bit words in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            family = socket.AF_INET if size == 4 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> None:
    """The command failed with ``code``, one clear line on stderr and no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        time.sleep(0.5)


def wait_for_http(
    url: str, *, timeout: float = 120, ok: Callable[[httpx.Response], bool] | None = None
) -> httpx.Response:
    """Poll ``url`` until it answers (and ``ok`` accepts the answer); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if ok is None or ok(response):
                return response
            last = response.status_code
        except httpx.HTTPError as err:
            last = err
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s (last: {last!r})")


@contextmanager
def control_plane(data_dir: Path, *, timeout: float = 60) -> Iterator[str]:
    """A real ``cloudos serve`` on ``data_dir`` and a free port until the block ends; its URL.

    It never reaches the machine's engine: its reconciler would deploy a router (and
    the default space's network) there under a throwaway instance name that nothing
    removes, holding host ports other tests need.
    """
    port = free_port()
    command = [sys.executable, "-m", "cloudos", "serve", "--data-dir", str(data_dir)]
    unreachable = f"unix://{data_dir.resolve()}/no-engine.sock"
    env = {**os.environ, "CLOUDOS_ROUTER": "false", "DOCKER_HOST": unreachable}
    with subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as server:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, f"serve did not answer within {timeout} s"
                time.sleep(0.2)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(timeout=20)
