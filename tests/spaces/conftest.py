"""Spaces live in the same database as apps: reuse the app tests' fixtures."""

from tests.apps.conftest import database, manager, vault

__all__ = ["database", "manager", "vault"]
