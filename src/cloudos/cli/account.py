"""``cloudos login|logout`` and ``cloudos 2fa ...``: the caller's own account.

``login`` signs in with a name and password (and a two-factor code when the account
has one), asks the control plane for an API token named ``cli@<host>`` in the same
request, and keeps URL and token in the config file every other command reads
(``cli/_client.py``). ``logout`` revokes that very token (``GET /me`` names it) and
takes it out of the file.
"""

from __future__ import annotations

import socket
import sys
from typing import Annotated, Any

import typer

from cloudos.cli._client import (
    ApiClient,
    CredentialsRefused,
    TokenOption,
    UrlOption,
    config_file,
    open_client,
    resolve_connection,
    save_config,
    stored_token,
)
from cloudos.cli._prompt import CodeOption, ask, ask_code, read_secret
from cloudos.errors import CloudOSError, InvalidInput

# The control plane's answer (HTTP 401) when the password was right but a code is due.
SECOND_FACTOR_NEEDED = "a two-factor code is needed"

twofactor_app = typer.Typer(
    help="Two-factor sign-in with an authenticator app (TOTP).", no_args_is_help=True
)


def login_command(
    ctx: typer.Context,
    url: UrlOption = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", "-u", help="Your user name (asked for when not given).", show_default=False
        ),
    ] = None,
    code: CodeOption = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=3650,
            help="The token expires after this many days (default: never).",
        ),
    ] = None,
) -> None:
    """Sign in and keep an API token in your config file, for every other command."""
    if user is None:
        if not sys.stdin.isatty():
            raise InvalidInput("--user NAME: needed when the password comes from stdin")
        user = ask("user", missing="user name: none given")
    password = read_secret(f"password for {user}", missing="password: none given")
    body: dict[str, Any] = {
        "username": user,
        "password": password,
        "code": code,
        "token_name": f"cli@{socket.gethostname()}",
        "token_days": days,
    }
    with open_client(ctx, url, None, anonymous=True) as client:
        answer = _sign_in(client, body)
        where = client.url
    path = save_config({"url": where, "token": answer["token"]})
    role = " (cluster admin)" if answer["is_admin"] else ""
    print(f"signed in to {where} as {answer['username']}{role}; token kept in {path}")


def _sign_in(client: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /auth/login``; asks for the second factor once when the answer wants it."""
    try:
        answer: dict[str, Any] = client.post("/auth/login", body)
    except CredentialsRefused as refused:
        if refused.detail != SECOND_FACTOR_NEEDED or body["code"]:
            raise CloudOSError(refused.detail) from refused
        body["code"] = ask_code()
        try:
            answer = client.post("/auth/login", body)
        except CredentialsRefused as again:
            raise CloudOSError(again.detail) from again
    return answer


def logout_command(ctx: typer.Context, url: UrlOption = None, token: TokenOption = None) -> None:
    """Revoke the token you are signed in with and take it out of your config file."""
    connection = resolve_connection(url, token)
    if connection.token is None:
        raise CloudOSError(f"not signed in: no token in {config_file()}, --token or CLOUDOS_TOKEN")
    with open_client(ctx, connection.url, connection.token) as client:
        try:
            token_id = client.get("/me").get("token_id")
        except CredentialsRefused:
            note = "the token was already expired or revoked"
        else:
            if token_id is None:
                raise CloudOSError(
                    f"the control plane at {client.url} does not say which token is in use: "
                    "find it with `cloudos token ls` and run `cloudos token revoke ID`"
                )
            client.delete(f"/tokens/{token_id}")
            note = f"token {token_id} revoked"
    if stored_token() == connection.token:
        path = save_config({"token": None})
        print(f"{note}; removed from {path}")
    else:
        print(note)


@twofactor_app.command("enable")
def enable_command(ctx: typer.Context, url: UrlOption = None, token: TokenOption = None) -> None:
    """Turn two-factor sign-in on (asks for your password): add the secret to your app,
    confirm with a code."""
    password = read_secret("password", missing="password: none given")
    with open_client(ctx, url, token) as client:
        started = client.post("/me/2fa", {"password": password})
        print(f"secret: {started['secret']}")
        print(f"otpauth URI (for a QR code): {started['uri']}")
        code = ask("code shown by the authenticator app", missing="code: none given")
        confirmed = client.post("/me/2fa/confirm", {"code": code})
    print("two-factor sign-in is on. Recovery codes, each usable once instead of a code;")
    print("keep them somewhere safe, they are not shown again:")
    for recovery in confirmed["recovery_codes"]:
        print(f"  {recovery}")


@twofactor_app.command("disable")
def disable_command(
    ctx: typer.Context, url: UrlOption = None, token: TokenOption = None, code: CodeOption = None
) -> None:
    """Turn two-factor sign-in off (asks for your password and a current code)."""
    password = read_secret("password", missing="password: none given")
    if code is None:
        code = ask_code()
    with open_client(ctx, url, token) as client:
        client.post("/me/2fa/disable", {"password": password, "code": code})
    print("two-factor sign-in is off")


def register(app: typer.Typer) -> None:
    """Add ``login``, ``logout`` and ``2fa`` to the top-level command."""
    app.command("login")(login_command)
    app.command("logout")(logout_command)
    app.add_typer(twofactor_app, name="2fa")


__all__ = ["SECOND_FACTOR_NEEDED", "register", "twofactor_app"]
