"""``cloudos audit ls``: the audit log, cluster-wide or one space's, filtered or exported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, api_path, open_client
from cloudos.cli._output import JsonFlag, print_listing
from cloudos.cli.app import since_param
from cloudos.errors import InvalidInput

app = typer.Typer(
    help="The audit log: who changed what, from where, with what result.", no_args_is_help=True
)


def since_time(text: str, *, now: datetime | None = None) -> str:
    """``--since`` as the time the API wants: a duration (``2h``) counts back from now."""
    value = since_param(text)
    if value.isdigit():
        start = (now or datetime.now(UTC)) - timedelta(seconds=int(value))
        return start.isoformat()
    return value


@app.command("ls")
def list_command(
    ctx: typer.Context,
    space: Annotated[
        str | None,
        typer.Option(
            "--space", "-s", help="Only this space (space admins); default: all (cluster admins)."
        ),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this user did.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only actions starting with this (e.g. login, user_).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only since then: 90 (seconds), 10m, 2h, 1d, or an RFC 3339 time."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="At most this many events.")] = 200,
    json_output: JsonFlag = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Export as JSON lines on stdout, as they arrive.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show the audit log, newest first."""
    if json_output and jsonl:
        raise InvalidInput("--json and --jsonl: choose one")
    path = api_path("spaces", space, "audit") if space is not None else "/audit"
    params: dict[str, Any] = {
        "actor": actor,
        "action": action,
        "since": None if since is None else since_time(since),
        "limit": limit,
    }
    with open_client(ctx, url, token) as client:
        if jsonl:
            for line in client.stream_lines(path, params=params | {"format": "jsonl"}):
                if line:
                    print(line, flush=True)
            return
        events: list[dict[str, Any]] = client.get(path, params=params)
    print_listing(
        events,
        json_output=json_output,
        empty="no events",
        columns=("AT", "ACTOR", "FROM", "ACTION", "SPACE", "TARGET", "RESULT"),
        row=lambda event: (
            str(event["at"]),
            event["actor"],
            event["client_address"] or "-",
            event["action"],
            event["space"] or "-",
            event["target"] or "-",
            event["result"],
        ),
    )


__all__ = ["app", "since_time"]
