"""``cloudos admin ...``: administration straight on the data directory.

These commands need no control plane and no token: whoever can read the data
directory (and the database it names) already holds everything, so they are the way
back in for a locked-out admin.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloudos.cli._output import print_note
from cloudos.errors import InvalidInput, NotFound
from cloudos.settings import load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Administer a cloud from its host.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="The cloud's data directory.")
]


@contextmanager
def cloud_database(data_dir: Path | None) -> Iterator[tuple[Session, Path]]:
    """A database session of the cloud in ``data_dir`` (committed at the end), and the dir."""
    from cloudos.store import open_database
    from cloudos.system import prepare_data_dir

    settings = load_settings(data_dir=data_dir)
    directory = prepare_data_dir(settings.data_dir)
    database = open_database(settings.effective_database_url)
    try:
        with database.session() as session:
            yield session, directory
    finally:
        database.close()


@app.command("create-token")
def create_token_command(
    data_dir: DataDirOption = None,
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
    days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Print a new API token of the first admin (created if needed), and nothing else."""
    from cloudos.identity import create_token, ensure_first_admin, first_admin
    from cloudos.store import utcnow

    with cloud_database(data_dir) as (session, directory):
        ensure_first_admin(session, directory)
        admin = first_admin(session)
        assert admin is not None  # ensure_first_admin made one
        expires = utcnow() + timedelta(days=days) if days else None
        token = create_token(session, user=admin, name=name, expires_at=expires)
    print(token)


@app.command("reset-password")
def reset_password_command(
    user: Annotated[str, typer.Argument(help="Whose password.", show_default=False)],
    data_dir: DataDirOption = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Take the new password from the first line of stdin."
        ),
    ] = False,
    disable_2fa: Annotated[
        bool,
        typer.Option("--disable-2fa", help="Also turn two-factor sign-in off (phone lost)."),
    ] = False,
) -> None:
    """Give a user a new password and lift sign-in lockouts; prints it when it is generated.

    Their browser sessions end; their API tokens stay. The audit log records it.
    """
    from sqlalchemy import select

    from cloudos.identity import audit, clear_lockout, disable_totp, set_password
    from cloudos.store.models import User

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("--password-stdin: the first line of stdin is empty")
    else:
        password = secrets.token_urlsafe(18)
    with cloud_database(data_dir) as (session, _):
        found = session.scalar(select(User).where(User.username == user))
        if found is None:
            known = ", ".join(session.scalars(select(User.username).order_by(User.username)))
            raise NotFound(f"no user {user!r} (users: {known or 'none'})")
        set_password(session, found, password)
        clear_lockout(session, user)
        if disable_2fa:
            disable_totp(found)
        audit.record(
            session,
            actor="host",
            action="user_password",
            target=f"username={user}",
            result="ok",
            detail={"via": "cloudos admin reset-password", "disable_2fa": disable_2fa},
        )
    extra = " and two-factor sign-in turned off" if disable_2fa else ""
    print_note(
        f"password of {user} reset{extra}; failed sign-ins (theirs, every address's) are forgotten",
    )
    if not password_stdin:
        print(password)
