"""Fixtures for app lifecycle unit tests: a real SQLite database and vault, no Docker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudos.apps import AppManager, TemplateRef
from cloudos.store import Database, open_database
from cloudos.vault import Vault
from tests.helpers import allow_test_ports

HELLO = (Path(__file__).parent.parent / "e2e" / "apps" / "hello.yaml").read_text()


def hello() -> TemplateRef:
    """The end-to-end test app's template (a password parameter, a volume, a host port)."""
    return TemplateRef(text=HELLO, source="hello.yaml")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database (it holds the space ``default``, whose apps may
    publish host ports 1024-65535)."""
    database = allow_test_ports(open_database(f"sqlite:///{tmp_path / 'cloudos.db'}"))
    yield database
    database.close()


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    """The data directory's vault."""
    return Vault.open(tmp_path)


@pytest.fixture
def manager(database: Database, vault: Vault) -> AppManager:
    """An app manager of cloud ``t`` in dnsrr mode, counting its wake-ups."""
    wakes: list[None] = []
    manager = AppManager(
        database=database,
        vault=vault,
        instance="t",
        endpoint_mode=lambda: "dnsrr",
        wake=lambda: wakes.append(None),
    )
    manager.wakes = wakes  # type: ignore[attr-defined]
    return manager
