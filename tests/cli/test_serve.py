"""``cloudos serve`` and ``cloudos admin create-token`` on the host, for real."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import Runner, control_plane


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

    with control_plane(tmp_path) as base:
        health = httpx.get(f"{base}/healthz", timeout=5)
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert health.status_code == 200
    assert (me.json()["username"], me.json()["is_admin"]) == ("admin", True)
