"""The database opens, migrates, and fails with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from cloudos.errors import EnvironmentProblem, InvalidInput
from cloudos.store import Database, User, open_database


def test_migrations_create_the_schema(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {"users", "api_tokens", "alembic_version"} <= tables


def test_opening_twice_keeps_rows(database: Database) -> None:
    with database.session() as session:
        session.add(User(username="ada", password_hash="x"))
    again = open_database(database.engine.url.render_as_string(hide_password=False))
    with again.session() as session:
        assert session.scalar(select(User.username)) == "ada"
    again.close()


def test_a_failed_transaction_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        session.add(User(username="ghost", password_hash="x"))
        session.flush()
        raise RuntimeError("boom")
    with database.session() as session:
        assert session.scalar(select(User).where(User.username == "ghost")) is None


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.close()


def test_unreachable_postgres_is_one_clear_error() -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        open_database("postgresql://u:secret@127.0.0.1:9/nothing")
    message = str(caught.value)
    assert "cannot be reached" in message
    assert "127.0.0.1:9" in message
    assert "secret" not in message


def test_unsupported_or_malformed_url() -> None:
    with pytest.raises(InvalidInput, match="only sqlite and postgresql"):
        open_database("mysql://x@localhost/db")
    with pytest.raises(InvalidInput, match="not a valid"):
        open_database("::not a url::")


def test_data_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(EnvironmentProblem, match="cannot be created"):
        open_database(f"sqlite:///{blocker / 'sub' / 'c.db'}")


def test_migrations_match_the_models(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cloudos.store import Base

    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_sqlite_file_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    # Issue 16: the database (password hashes, the audit log) was created 0644.
    path = tmp_path / "data" / "cloudos.db"
    database = open_database(f"sqlite:///{path}")
    with database.session() as session:
        session.add(User(username="ada", password_hash="x"))
    wal = path.with_name("cloudos.db-wal")
    assert wal.exists()
    assert {oct(p.stat().st_mode & 0o777) for p in (path, wal)} == {"0o600"}
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    database.close()


def test_an_existing_world_readable_database_is_made_private_on_open(tmp_path: Path) -> None:
    path = tmp_path / "cloudos.db"
    open_database(f"sqlite:///{path}").close()
    path.chmod(0o644)
    again = open_database(f"sqlite:///{path}")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with again.session() as session:
        assert session.scalar(select(User.username)) is None
    again.close()


def test_migration_0008_adds_known_addresses_to_an_existing_database(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from cloudos.store._database import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = open_database(url, migrate=False)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, is_admin, created_at)"
                " VALUES ('old', 'x', 0, '2026-01-01 00:00:00')"
            )
        )
    old.close()
    database = open_database(url)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM users")).scalars().all() == ["old"]
        assert connection.execute(text("SELECT count(*) FROM known_addresses")).scalar() == 0
    database.close()
