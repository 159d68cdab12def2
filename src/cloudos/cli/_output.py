"""Consoles shared by every command: results on stdout, messages on stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    """Print one JSON document on stdout, nothing else (for scripts)."""
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


__all__ = ["console", "err_console", "print_json"]
