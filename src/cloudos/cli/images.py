"""``cloudos images``: build the platform's images and show whether they are up to date."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cloudos.cli._output import console, err_console, print_json
from cloudos.engine._client import connect_engine
from cloudos.engine.images import (
    BuildEvent,
    build_images,
    image_status,
    platform_images,
    select_images,
)
from cloudos.settings import load_settings

app = typer.Typer(help="The platform's own images (router, databases, runtimes, control).")

_OUTCOME_STYLE = {"built": "green", "up-to-date": "dim", "failed": "bold red"}


@app.command("build")
def build(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Images to build (default: all of them).", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even the images that are up to date.")
    ] = False,
) -> None:
    """Build the platform images that are missing or out of date."""
    chosen = select_images(platform_images(), names)  # unknown names fail before any work
    settings = load_settings()
    client = connect_engine(settings.docker_host)
    view = _BuildView([image.name for image in chosen])
    with Live(view.render(), console=err_console, refresh_per_second=4, transient=False) as live:

        def on_event(event: BuildEvent) -> None:
            view.update(event)
            live.update(view.render())

        build_images(client, names=names, force=force, progress=on_event)


@app.command("ls")
def list_images(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List the platform images: present, up to date, size."""
    settings = load_settings()
    client = connect_engine(settings.docker_host)
    statuses = image_status(client)
    if as_json:
        print_json([status.as_dict() for status in statuses])
        return
    table = Table(box=None, header_style="bold")
    for column in ("IMAGE", "PRESENT", "UP TO DATE", "SIZE", "CREATED"):
        table.add_column(column)
    for status in statuses:
        table.add_row(
            status.ref,
            "yes" if status.present else "[red]no[/]",
            "yes" if status.up_to_date else "[yellow]no[/]",
            f"{status.size / 1e6:.0f} MB" if status.size else "",
            (status.created or "")[:19].replace("T", " "),
        )
    console.print(table)


class _BuildView:
    """One line per image: waiting, building (with its last log line), then the outcome."""

    def __init__(self, names: list[str]) -> None:
        self._order = list(dict.fromkeys(names))
        self._state: dict[str, str] = dict.fromkeys(self._order, "waiting")
        self._detail: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._elapsed: dict[str, float] = {}

    def update(self, event: BuildEvent) -> None:
        if event.image not in self._state:
            self._order.append(event.image)
        if event.kind == "started":
            self._state[event.image] = "checking"
            self._started[event.image] = time.monotonic()
        elif event.kind == "log":
            self._state[event.image] = "building"
            self._detail[event.image] = event.line
        elif event.result is not None:
            self._state[event.image] = event.result.outcome
            self._elapsed[event.image] = event.result.seconds
            self._detail.pop(event.image, None)

    def render(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis", max_width=60)
        for name in self._order:
            state = self._state.get(name, "waiting")
            if name in self._elapsed:
                seconds = self._elapsed[name]
            elif name in self._started:
                seconds = time.monotonic() - self._started[name]
            else:
                seconds = None
            table.add_row(
                name,
                Text(state, style=_OUTCOME_STYLE.get(state, "cyan")),
                f"{seconds:.0f}s" if seconds is not None else "",
                Text(self._detail.get(name, ""), style="dim"),
            )
        return table


__all__ = ["app"]
