"""``cloudos template import``: convert existing app definitions into templates."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``cloudos template`` sub-app."""
