"""``cloudos addon ...``: the database and cache servers apps get their data from."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli._output import err_console, print_listing
from cloudos.cli.app import NameArgument, SpaceOption, app_path
from cloudos.errors import CloudOSError, InvalidInput, NotFound

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


KindOption = Annotated[
    str,
    typer.Option(
        "--kind",
        "-k",
        help="Which of the app's addons: mysql, postgresql or redis.",
        show_default=False,
    ),
]
_CHUNK = 1024 * 1024


@app.command("dump")
def dump_command(
    ctx: typer.Context,
    name: NameArgument,
    kind: KindOption,
    space: SpaceOption = "default",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the dump here (default: stdout).", show_default=False
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Write a dump of an app's database (SQL; Redis: its keys) to stdout or a file."""
    if output is None and sys.stdout.isatty():
        raise InvalidInput("a dump is not for a terminal: redirect stdout (> FILE) or use -o FILE")
    with open_client(ctx, url, token) as client:
        if output is None:
            written = client.download(app_path(space, name, "addons", kind, "dump"), _stdout())
            sys.stdout.buffer.flush()
        else:
            try:
                with output.open("wb") as sink:
                    written = client.download(app_path(space, name, "addons", kind, "dump"), sink)
            except OSError as err:
                raise InvalidInput(f"{output}: cannot write: {err.strerror}") from err
            except CloudOSError:
                output.unlink(missing_ok=True)  # never leave a cut-off dump that looks whole
                raise
    err_console.print(f"dumped {kind} of {name}: {written} bytes", highlight=False, markup=False)


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    name: NameArgument,
    kind: KindOption,
    space: SpaceOption = "default",
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="Read the dump from here (default: stdin).", show_default=False
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Load a dump made by `cloudos addon dump` into an app's database (its tables are
    replaced by the dump's)."""
    if input_file is None and sys.stdin.isatty():
        raise InvalidInput("give the dump on stdin (< FILE) or with -i FILE")
    try:
        source = input_file.open("rb") if input_file is not None else _stdin()
    except OSError as err:
        raise InvalidInput(f"{input_file}: cannot read: {err.strerror}") from err
    with source, open_client(ctx, url, token) as client:
        # Ask first: an answer that comes while a large body is still on its way may be
        # lost to a broken connection, and "no such addon" deserves its own words.
        app_data = client.get(app_path(space, name))
        kinds = [addon["kind"] for addon in app_data.get("addons") or []]
        if kind not in kinds:
            raise NotFound(
                f"app {name!r} has no {kind!r} addon (its addons: {', '.join(kinds) or 'none'})"
            )
        done = client.upload(app_path(space, name, "addons", kind, "restore"), _chunks(source))
    print(f"restored {done['bytes']} bytes into {kind} database {done['database']} of {name}")


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


def _stdout() -> BinaryIO:
    return sys.stdout.buffer


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


__all__ = ["app"]
