"""``cloudos user ...``: the cloud's users (cluster admins), and your own password."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cloudos.cli._client import TokenOption, UrlOption, api_path, open_client
from cloudos.cli._output import JsonFlag, print_listing
from cloudos.cli._prompt import CodeOption, ask_code, confirm_or_stop, read_secret

app = typer.Typer(help="Users: who may sign in (cluster admins manage them).", no_args_is_help=True)

UserArgument = Annotated[str, typer.Argument(help="The user's name.", show_default=False)]


def roles_text(spaces: list[dict[str, str]]) -> str:
    """``dev:owner, web:viewer``: a user's role in each of their spaces."""
    return ", ".join(f"{entry['space']}:{entry['role']}" for entry in spaces) or "-"


@app.command("ls")
def list_command(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the users, their roles in spaces and whether they use two-factor sign-in."""
    with open_client(ctx, url, token) as client:
        users: list[dict[str, Any]] = client.get("/users")
    print_listing(
        users,
        json_output=json_output,
        empty="no users",
        columns=("NAME", "ADMIN", "2FA", "SPACES", "CREATED"),
        row=lambda user: (
            user["username"],
            "yes" if user["is_admin"] else "no",
            "on" if user["two_factor"] else "off",
            roles_text(user["spaces"]),
            str(user["created_at"]),
        ),
    )


@app.command("add")
def add_command(
    ctx: typer.Context,
    name: UserArgument,
    admin: Annotated[bool, typer.Option("--admin", help="Make them a cluster admin.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Add a user; the password is asked twice (or read from the first line of stdin)."""
    password = read_secret(
        f"password for {name}", missing=f"user {name}: no password given", confirm=True
    )
    with open_client(ctx, url, token) as client:
        user = client.post("/users", {"username": name, "password": password, "is_admin": admin})
    print(f"user {user['username']} added" + (" (cluster admin)" if user["is_admin"] else ""))


@app.command("rm")
def remove_command(
    ctx: typer.Context,
    name: UserArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a user with their tokens and memberships (the last cluster admin stays)."""
    if not yes:
        confirm_or_stop(
            f"Remove user {name} with their tokens and memberships?",
            refusal=f"user {name} not removed (pass --yes to skip the question)",
        )
    with open_client(ctx, url, token) as client:
        client.delete(api_path("users", name))
    print(f"user {name} removed")


@app.command("passwd")
def password_command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            help="Whose password to reset (cluster admins); without it, your own.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    code: CodeOption = None,
) -> None:
    """Change your password (asks the current one, and a code with two-factor sign-in on),
    or reset another user's."""
    if name is None:
        current = read_secret("current password", missing="current password: none given")
        new = read_secret("new password", missing="new password: none given", confirm=True)
        with open_client(ctx, url, token) as client:
            if code is None and client.get("/me").get("two_factor"):
                code = ask_code()
            body = {"current_password": current, "new_password": new, "code": code}
            client.put("/me/password", body)
        print("password changed; your browser sessions have ended (tokens still work)")
        return
    new = read_secret(
        f"new password for {name}", missing=f"user {name}: no password given", confirm=True
    )
    with open_client(ctx, url, token) as client:
        client.put(api_path("users", name, "password"), {"password": new})
    print(f"password of {name} reset; their browser sessions have ended")


__all__ = ["app", "roles_text"]
