"""``cloudos serve`` and ``cloudos admin create-token`` on the host, for real."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import Runner, free_port


def test_version(cloudos: Runner) -> None:
    from cloudos import __version__

    result = cloudos("version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_create_token_prints_only_a_working_token(cloudos: Runner, tmp_path: Path) -> None:
    first = cloudos("admin", "create-token", "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert first.stdout == token + "\n"
    assert token.startswith("cos_")
    credentials = (tmp_path / "initial-admin-password").read_text()
    assert "user: admin" in credentials
    second = cloudos("admin", "create-token", "--data-dir", str(tmp_path), "--name", "other")
    assert second.stdout.strip() != token

    port = free_port()
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudos",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "serve did not answer within 30 s"
                time.sleep(0.2)
        assert health.status_code == 200
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        server.terminate()
        server.wait(timeout=20)
        assert (me.json()["username"], me.json()["is_admin"]) == ("admin", True)
