"""Database session, models and migrations."""

from cloudos.store._database import Database, open_database, upgrade_schema
from cloudos.store.models import ApiToken, Base, User, utcnow

__all__ = ["ApiToken", "Base", "Database", "User", "open_database", "upgrade_schema", "utcnow"]
