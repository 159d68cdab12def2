"""The audit log keeps what it was given, masks secrets, and cannot be edited."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from cloudos.identity import audit
from cloudos.store import Database


def test_secrets_are_masked_at_any_depth() -> None:
    masked = audit.redact(
        {
            "name": "blog",
            "password": "hunter2",
            "values": {"admin_password": "s3cret", "title": "Hi", "api_key": "k"},
            "users": [{"token": "t", "user": "ann"}],
        }
    )
    assert masked == {
        "name": "blog",
        "password": audit.MASK,
        "values": {"admin_password": audit.MASK, "title": "Hi", "api_key": audit.MASK},
        "users": [{"token": audit.MASK, "user": "ann"}],
    }


def test_the_database_refuses_to_change_or_delete_audit_events(database: Database) -> None:
    with database.session() as session:
        audit.record(session, actor="ann", action="app_install", result="ok 201", space="shop")
    for statement in ("UPDATE audit_events SET actor = 'eve'", "DELETE FROM audit_events"):
        with database.engine.connect() as connection, pytest.raises(DatabaseError):
            connection.execute(text(statement))
            connection.commit()
    with database.session() as session:
        (event,) = audit.query(session)
        assert (event.actor, event.space) == ("ann", "shop")
