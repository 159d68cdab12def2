"""Spaces live in the same database as apps: reuse the app tests' fixtures."""

import pytest

from cloudos.apps import AppManager
from cloudos.spaces import GRANTS, create_space, set_policy
from tests.apps.conftest import database, manager, vault

__all__ = ["acme", "database", "every_grant", "manager", "vault"]


@pytest.fixture
def acme(manager: AppManager) -> AppManager:
    """The app manager, with a space ``acme`` that allows nothing (no grant, no port)."""
    with manager.database.session() as session:
        create_space(session, name="acme")
    return manager


@pytest.fixture
def every_grant(acme: AppManager) -> AppManager:
    """The app manager, with space ``acme`` allowing every grant (and still no port)."""
    with acme.database.session() as session:
        set_policy(session, name="acme", allow=list(GRANTS))
    return acme
