"""``cloudos space ...``: create, list and remove spaces, through the control plane's API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli.app import print_listing

app = typer.Typer(help="Spaces: the units apps live in.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="JSON on stdout, for scripts.")]


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Base domain of its apps (default: NAME.localhost)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a space with its own network and base domain."""
    body: dict[str, str] = {"name": name}
    if domain is not None:
        body["domain"] = domain
    with open_client(ctx, url, token) as client:
        space = client.post("/spaces", body)
    print(f"space {space['name']} created (domain {space['domain']})")


@app.command("ls")
def list_command(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the spaces."""
    with open_client(ctx, url, token) as client:
        spaces: list[dict[str, Any]] = client.get("/spaces")
    print_listing(
        spaces,
        json_output=json_output,
        empty="no spaces",
        columns=("NAME", "DOMAIN", "APPS", "CREATED"),
        row=lambda space: (
            space["name"],
            space["domain"],
            str(space["apps"]),
            str(space["created_at"]),
        ),
    )


@app.command("rm")
def remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even while apps remain: they go with it.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a space; refused while it holds apps, unless --force."""
    with open_client(ctx, url, token) as client:
        client.delete(f"/spaces/{quote(name, safe='')}", params={"force": force})
    print(f"space {name} removed")


__all__ = ["app"]
