"""``cloudos template ...``: validate, render, import and describe templates."""

from __future__ import annotations

import typer

app = typer.Typer(help="Work with app templates and modifiers.", no_args_is_help=True)
