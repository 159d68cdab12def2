"""``cloudos admin ...``: administration straight on the data directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from cloudos.settings import load_settings

app = typer.Typer(help="Administer a cloud from its host.", no_args_is_help=True)


@app.command("create-token")
def create_token_command(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The cloud's data directory.")
    ] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
    days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Print a new API token of the first admin (created if needed), and nothing else."""
    from cloudos.identity import create_token, ensure_first_admin, first_admin
    from cloudos.store import open_database, utcnow
    from cloudos.system import prepare_data_dir

    settings = load_settings(data_dir=data_dir)
    directory = prepare_data_dir(settings.data_dir)
    database = open_database(settings.effective_database_url)
    try:
        with database.session() as session:
            ensure_first_admin(session, directory)
            admin = first_admin(session)
            assert admin is not None  # ensure_first_admin made one
            expires = utcnow() + timedelta(days=days) if days else None
            token = create_token(session, user=admin, name=name, expires_at=expires)
    finally:
        database.close()
    print(token)
