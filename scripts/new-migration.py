"""Write a new Alembic migration by comparing the models with a scratch database.

Usage: .venv/bin/python scripts/new-migration.py "what changed"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from cloudos.store._database import MIGRATIONS_DIR


def main() -> None:
    """Upgrade a scratch SQLite database, then autogenerate the difference."""
    message = sys.argv[1] if len(sys.argv) > 1 else "change"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main()
