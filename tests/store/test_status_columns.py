"""App statuses are stored as the same strings as before, and only the enum's values."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from cloudos.errors import EnvironmentProblem
from cloudos.statuses import AppStatus, DesiredState
from cloudos.store import Database
from cloudos.store.models import App, Space


def _add_app(database: Database, **columns: object) -> None:
    with database.session() as session:
        space = Space(name="shop", domain="shop.localhost")
        session.add(App(space=space, name="blog", stack="t-shop-blog", template_id="x", **columns))


def test_statuses_are_stored_as_their_words(database: Database) -> None:
    # Existing databases hold these strings: the enum must read and write the same ones.
    _add_app(database, status=AppStatus.ROLLED_BACK, desired_state=DesiredState.STOPPED)
    with database.session() as session:
        stored = session.execute(text("SELECT status, desired_state FROM apps")).one()
        app = session.scalars(select(App)).one()
        assert tuple(stored) == ("rolled back", "stopped")
        assert (app.status, app.desired_state) == (AppStatus.ROLLED_BACK, DesiredState.STOPPED)


def test_a_status_the_enum_lacks_is_not_written(database: Database) -> None:
    with pytest.raises(StatementError, match=r"apps\.status: 'sleeping' is not one of 'pending'"):
        _add_app(database, status="sleeping")
    with database.session() as session:
        assert session.scalars(select(App)).all() == []  # nothing half-done


def test_a_desired_state_the_enum_lacks_is_not_written(database: Database) -> None:
    with pytest.raises(StatementError, match=r"apps\.desired_state: 'paused' is not one of"):
        _add_app(database, desired_state="paused")


def test_an_unknown_status_in_the_database_is_refused_naming_it(database: Database) -> None:
    _add_app(database)
    with database.session() as session:
        session.execute(text("UPDATE apps SET status = 'hibernating'"))
    refused = pytest.raises(EnvironmentProblem, match=r"'hibernating' in apps\.status")
    with refused, database.session() as session:
        session.scalars(select(App)).one()
