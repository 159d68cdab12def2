"""``cloudos member ...``: who works in a space, with which role, and invitations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, api_path, open_client
from cloudos.cli._output import JsonFlag, print_listing, print_note
from cloudos.cli._prompt import read_secret
from cloudos.errors import InvalidInput

app = typer.Typer(help="Members of a space and invitations into it.", no_args_is_help=True)


class Role(StrEnum):
    """A role in a space, weakest first."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    ADMIN = "admin"
    OWNER = "owner"


SpaceOption = Annotated[
    str,
    typer.Option("--space", "-s", envvar="CLOUDOS_SPACE", help="The space.", show_default=False),
]
RoleOption = Annotated[
    Role,
    typer.Option(
        "--role",
        help="viewer: read only; developer: install and change apps; "
        "admin: also members and domains; owner: also remove the space.",
        show_default=False,
    ),
]
UserArgument = Annotated[str, typer.Argument(help="The user's name.", show_default=False)]


@app.command("ls")
def list_command(
    ctx: typer.Context,
    space: SpaceOption,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the space's members and their roles."""
    with open_client(ctx, url, token) as client:
        members: list[dict[str, Any]] = client.get(api_path("spaces", space, "members"))
    print_listing(
        members,
        json_output=json_output,
        empty=f"no members in space {space}",
        columns=("USER", "ROLE", "SINCE"),
        row=lambda member: (member["username"], member["role"], str(member["since"])),
    )


@app.command("add")
def add_command(
    ctx: typer.Context,
    user: UserArgument,
    space: SpaceOption,
    role: RoleOption,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Make a user a member of the space, or change their role there."""
    with open_client(ctx, url, token) as client:
        member = client.put(api_path("spaces", space, "members", user), {"role": role.value})
    print(f"{member['username']} is {member['role']} in space {space}")


@app.command("rm")
def remove_command(
    ctx: typer.Context,
    user: UserArgument,
    space: SpaceOption,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Take a user out of the space."""
    with open_client(ctx, url, token) as client:
        client.delete(api_path("spaces", space, "members", user))
    print(f"{user} removed from space {space}")


@app.command("invite")
def invite_command(
    ctx: typer.Context,
    space: SpaceOption,
    role: RoleOption = Role.DEVELOPER,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print an invitation code into the space (single use, valid 7 days; shown once)."""
    with open_client(ctx, url, token) as client:
        invitation = client.post(api_path("spaces", space, "invitations"), {"role": role.value})
    print_note(
        f"invitation into space {space} as {invitation['role']}, single use, valid until "
        f"{invitation['expires_at']}; it is not shown again. "
        "Use it with `cloudos member accept CODE`:",
    )
    print(invitation["code"])


@app.command("accept")
def accept_command(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The invitation code.", show_default=False)],
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="Join as this new user (the password is asked twice, or read from stdin); "
            "without it, join as the signed-in user.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Join a space with an invitation code."""
    body: dict[str, str] = {"code": code}
    if user is not None:
        body["username"] = user
        body["password"] = read_secret(
            f"password for {user}", missing=f"user {user}: no password given", confirm=True
        )
    with open_client(ctx, url, token, anonymous=user is not None) as client:
        if user is None and not client.has_token:
            raise InvalidInput(
                "not signed in: run `cloudos login` first, or join as a new user with --user NAME"
            )
        joined = client.post("/invitations/accept", body)
    who = f"{user} joined" if user is not None else "joined"
    print(f"{who} space {joined['space']} as {joined['role']}")
    if user is not None:
        print(f"sign in with `cloudos login --user {user}`")


__all__ = ["Role", "RoleOption", "app"]
