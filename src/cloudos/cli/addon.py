"""``cloudos addon ...``: the database and cache servers apps get their data from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli.app import print_listing

app = typer.Typer(help="Addon servers: MySQL (MariaDB), PostgreSQL, Redis.", no_args_is_help=True)


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


@app.command("ls")
def list_command(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the addon servers with their health and size."""
    with open_client(ctx, url, token) as client:
        servers: list[dict[str, Any]] = client.get("/addons")
    print_listing(
        servers,
        json_output=json_output,
        empty="no addon servers",
        columns=("KIND", "SPACE", "FOR", "APPS", "HEALTH", "SIZE", "STACK"),
        row=lambda s: (
            s["kind"],
            s["space"],
            s["dedicated_to"] or "space",
            str(s["apps"]),
            "healthy" if s["healthy"] else ("running" if s["running"] else "down"),
            _size(s["size_bytes"]),
            s["stack"],
        ),
    )


__all__ = ["app"]
