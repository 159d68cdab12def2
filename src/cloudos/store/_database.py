"""The database: one SQLAlchemy engine, sessions, and migrations on open.

SQLite (in WAL mode, with foreign keys on) is the embedded default; any PostgreSQL
URL works too. Schema changes go through Alembic only; :func:`open_database` brings
the schema to the newest revision, so every entry point sees the same schema.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloudos.errors import EnvironmentProblem, InvalidInput

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class Database:
    """A connected database: hands out sessions that commit or roll back as a unit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect to ``url``, check it answers, and (by default) migrate it to the newest schema."""
    engine = _create_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as err:
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise EnvironmentProblem(f"database {shown} cannot be reached: {reason}") from err
    database = Database(engine)
    if migrate:
        upgrade_schema(database)
    return database


def upgrade_schema(database: Database) -> None:
    """Apply every Alembic migration that has not run yet."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as err:
        raise EnvironmentProblem(f"database {database.url}: migration failed: {err}") from err


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise InvalidInput(f"database URL {url!r} is not a valid SQLAlchemy URL") from err
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _check_sqlite_dir(Path(parsed.database).parent)
            _private_sqlite_files(Path(parsed.database))
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        options["connect_args"] = {"connect_timeout": 5}
        return create_engine(parsed, **options)
    raise InvalidInput(
        f"database URL {parsed.render_as_string(hide_password=True)!r}: only sqlite and "
        "postgresql are supported"
    )


def _check_sqlite_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentProblem(
            f"data directory {directory} cannot be created: {err.strerror}"
        ) from err
    if not os.access(directory, os.W_OK | os.X_OK):
        raise EnvironmentProblem(
            f"data directory {directory} is not writable by this user (uid {os.getuid()})"
        )


def _private_sqlite_files(database: Path) -> None:
    """Create the database file readable by its owner only (it holds password hashes and
    the audit log), and make an existing one and its WAL files so too. SQLite gives the
    WAL and shared-memory files it creates the database file's mode."""
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        for path in (database, *(database.with_name(database.name + x) for x in SQLITE_SIDES)):
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
    except OSError as err:
        raise EnvironmentProblem(
            f"database file {database} cannot be made private: {err.strerror}; run "
            f"`chmod 600 {database}` as its owner"
        ) from err


SQLITE_SIDES = ("-wal", "-shm", "-journal")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


__all__ = ["Database", "open_database", "upgrade_schema"]
