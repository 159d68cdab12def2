"""``cloudos token ...``: your API tokens; a secret is shown once, when it is made."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli._output import JsonFlag, print_listing, print_note
from cloudos.cli.member import Role

app = typer.Typer(
    help="API tokens: named, optionally scoped to a space and role, expiring, revocable.",
    no_args_is_help=True,
)


def token_state(token: dict[str, Any]) -> str:
    """``active``, ``revoked`` or ``expires <time>``, in words."""
    if token["revoked"]:
        return "revoked"
    return f"expires {token['expires_at']}" if token["expires_at"] else "active"


@app.command("ls")
def list_command(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List your tokens (never their secrets)."""
    with open_client(ctx, url, token) as client:
        tokens: list[dict[str, Any]] = client.get("/tokens")
    print_listing(
        tokens,
        json_output=json_output,
        empty="no tokens",
        columns=("ID", "NAME", "SPACE", "ROLE", "CREATED", "LAST USED", "STATE"),
        row=lambda row: (
            str(row["id"]),
            row["name"],
            row["space"] or "(all)",
            row["role"] or "(yours)",
            str(row["created_at"]),
            str(row["last_used_at"] or "never"),
            token_state(row),
        ),
    )


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name to recognise it by.", show_default=False)],
    space: Annotated[
        str | None,
        typer.Option("--space", "-s", help="It acts only in this space.", show_default=False),
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(
            "--role", help="With --space: at most this role (default: yours).", show_default=False
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days", min=1, max=3650, help="Expire after this many days (default: never)."
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Make a token and print its secret, once."""
    body = {
        "name": name,
        "space": space,
        "role": None if role is None else role.value,
        "expires_days": days,
    }
    with open_client(ctx, url, token) as client:
        created = client.post("/tokens", body)
    scope = f" for space {created['space']} as {created['role']}" if created["space"] else ""
    print_note(
        f"token {created['id']} ({created['name']}){scope} created; copy it now, "
        "it is not shown again:",
    )
    print(created["token"])


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="The token's id (`cloudos token ls`).")
    ],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke one of your tokens; it stops working at once."""
    with open_client(ctx, url, token) as client:
        client.delete(f"/tokens/{token_id}")
    print(f"token {token_id} revoked")


__all__ = ["app", "token_state"]
