"""The identity tests use the store's database fixture: SQLite and PostgreSQL."""

from tests.store.conftest import database

__all__ = ["database"]
