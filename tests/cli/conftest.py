"""Fixtures of the command-line tests that talk to a fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_app_cli import FakeApi


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's CLOUDOS_* settings or ~/.config/cloudos leak into a test."""
    for name in ("CLOUDOS_URL", "CLOUDOS_TOKEN", "CLOUDOS_SPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def api() -> FakeApi:
    """A fake control plane API answering queued replies."""
    return FakeApi()
