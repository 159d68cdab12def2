"""``cloudos health``: the platform's state, and which objects the reconciler cannot converge.

A thin client of ``/healthz``: without a token it learns only ok, degraded or
unavailable; with one, the failing objects of the spaces the caller may see (all of
them, and the platform's own parts, for a cluster admin).
"""

from __future__ import annotations

from typing import Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli._output import JsonFlag, print_json, print_note, print_table
from cloudos.statuses import HealthStatus

# The exit code says the state, so scripts and monitors need not parse the output.
EXIT_CODES: dict[str, int] = {
    HealthStatus.OK: 0,
    HealthStatus.DEGRADED: 1,
    HealthStatus.UNAVAILABLE: 2,
}


def register(app: typer.Typer) -> None:
    """Add ``cloudos health`` to the command line."""
    app.command("health")(health)


def health(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show whether the cloud is ok, degraded or unavailable, and what fails (exit 0, 1, 2)."""
    with open_client(ctx, url, token) as client:
        answer: dict[str, Any] = client.health()
        signed_in = client.has_token
    status = str(answer.get("status", HealthStatus.UNAVAILABLE))
    failing: list[dict[str, Any]] | None = answer.get("failing")
    if json_output:
        print_json(answer)
    else:
        print(f"{status} (database {answer.get('database', 'unknown')})")
        if failing:
            print_table(
                ("KIND", "NAME", "SPACE", "ATTEMPTS", "NEXT TRY", "ERROR"),
                (
                    (
                        f["kind"],
                        f["name"],
                        f["space"] or "-",
                        str(f["attempts"]),
                        f"in {f['retry_in']:g} s",
                        f["error"],
                    )
                    for f in failing
                ),
            )
        elif status == HealthStatus.DEGRADED and not signed_in:
            print_note("sign in (cloudos login) or pass --token to see what fails")
        elif status == HealthStatus.DEGRADED:
            print_note("nothing you may see fails: another space's objects or the platform's")
    raise typer.Exit(EXIT_CODES.get(status, 2))


__all__ = ["health", "register"]
