"""What every command shows: results on stdout (tables, JSON), messages on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="JSON on stdout, for scripts.")]


def print_json(value: Any) -> None:
    """Print one JSON document on stdout, nothing else (for scripts)."""
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def print_note(text: str) -> None:
    """A message for people on stderr, as is (no markup, no wrapping), so stdout stays data."""
    err_console.print(text, highlight=False, markup=False, soft_wrap=True)


def print_listing(
    items: list[dict[str, Any]],
    *,
    json_output: bool,
    empty: str,
    columns: Sequence[str],
    row: Callable[[dict[str, Any]], Sequence[str]],
) -> None:
    """A list for scripts (JSON) or people (a table; a note on stderr when it is empty)."""
    if json_output:
        print_json(items)
    elif not items:
        err_console.print(empty, highlight=False, markup=False)
    else:
        print_table(columns, [row(item) for item in items])


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A borderless table on stdout; cells are plain text, never Rich markup."""
    table = Table(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: names, reasons and log-ish messages may hold "[...]".
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


__all__ = [
    "JsonFlag",
    "console",
    "err_console",
    "print_json",
    "print_listing",
    "print_note",
    "print_table",
]
