"""A fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cloudos.store import Database, open_database


def _reset_postgres(url: str) -> None:
    # The whole schema: tables of other versions of the models (another checkout's
    # run against the same test database) must not survive either.
    database = open_database(url, migrate=False)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cloudos.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
    database = open_database(url)
    yield database
    database.close()
