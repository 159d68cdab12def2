"""The control plane app on a real SQLite database, with an admin token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from fastapi.testclient import TestClient

from cloudos.identity import create_token, create_user
from cloudos.settings import Settings
from cloudos.store import Database, open_database
from cloudos.web import create_app
from tests.helpers import allow_test_ports


class _NoEngine:
    def __call__(self) -> NoReturn:
        raise AssertionError("this test must not reach the engine")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database (space ``default`` may publish host ports)."""
    database = allow_test_ports(open_database(f"sqlite:///{tmp_path / 'cloudos.db'}"))
    yield database
    database.close()


@pytest.fixture
def client(tmp_path: Path, database: Database) -> Iterator[TestClient]:
    """A test client of the app."""
    settings = Settings(data_dir=tmp_path, instance="web-test")
    app = create_app(
        settings=settings, database=database, connect_engine=_NoEngine(), reconcile=False
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_token(database: Database) -> str:
    """An API token of a cluster admin."""
    with database.session() as session:
        user = create_user(session, username="root", password="pw", is_admin=True)
        return create_token(session, user=user, name="test")
