"""``cloudos template import``: convert existing app definitions into templates.

Every app that converts is written as ``DIR/<name>.yaml``; the summary lists each
app as converted, converted with warnings (what could not be carried over), or
failed (why). The command succeeds when at least one app converted: a folder of
many apps where a few fail is a normal result. It fails (exit code 1) when nothing
converted, or when PATH does not exist or holds no file of the kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cloudos.cli._output import console
from cloudos.errors import InvalidInput
from cloudos.templates.importers import SOURCE_KINDS, ImportResult, import_path


def _file_name(result: ImportResult, taken: set[str]) -> str:
    name, counter = f"{result.slug}.yaml", 2
    while name in taken:
        name, counter = f"{result.slug}-{counter}.yaml", counter + 1
    taken.add(name)
    return name


def _write(results: list[ImportResult], output: Path) -> dict[int, Path]:
    if output.exists() and not output.is_dir():
        raise InvalidInput(f"-o {output}: not a folder")
    written: dict[int, Path] = {}
    taken: set[str] = set()
    try:
        output.mkdir(parents=True, exist_ok=True)
        for index, result in enumerate(results):
            if result.converted:
                target = output / _file_name(result, taken)
                target.write_text(result.yaml(), encoding="utf-8")
                written[index] = target
    except OSError as err:
        raise InvalidInput(f"-o {output}: cannot write: {err}") from err
    return written


def _summary(results: list[ImportResult], written: dict[int, Path]) -> None:
    table = Table(title="Import summary", show_lines=False)
    table.add_column("app", overflow="fold")
    table.add_column("result")
    table.add_column("template or reason", overflow="fold")
    for index, result in enumerate(results):
        if not result.converted:
            table.add_row(result.slug, "[red]failed[/]", result.errors[0] if result.errors else "")
        elif result.warnings:
            count = len(result.warnings)
            table.add_row(
                result.slug,
                f"[yellow]{count} warning{'s' if count > 1 else ''}[/]",
                str(written[index]),
            )
        else:
            table.add_row(result.slug, "[green]converted[/]", str(written[index]))
    console.print(table)
    for result in results:
        lines = [f"  error: {e}" for e in result.errors] + [
            f"  warning: {w}" for w in result.warnings
        ]
        if lines:
            console.print(f"{result.source}:", highlight=False, soft_wrap=True, markup=False)
            for line in lines:
                console.print(line, highlight=False, soft_wrap=True, markup=False)
    ok = sum(1 for r in results if r.converted)
    warned = sum(1 for r in results if r.converted and r.warnings)
    console.print(
        f"{ok} converted ({warned} with warnings), {len(results) - ok} failed",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``cloudos template`` sub-app."""

    @app.command("import")
    def import_command(
        path: Annotated[Path, typer.Argument(help="A file, or a folder of them.")],
        source: Annotated[
            str,
            typer.Option("--from", metavar="|".join(SOURCE_KINDS), help="The format of the apps."),
        ],
        output: Annotated[
            Path, typer.Option("-o", "--output", help="Folder for the templates.")
        ] = Path(),
    ) -> None:
        """Convert Compose files, CapRover one-click apps or Portainer templates."""
        if source not in SOURCE_KINDS:
            raise InvalidInput(f"--from {source!r}: one of {', '.join(SOURCE_KINDS)}")
        results = list(import_path(source, path))
        written = _write(results, output)
        _summary(results, written)
        if not written:
            raise InvalidInput(f"{path}: nothing could be converted ({len(results)} failed)")


__all__ = ["register"]
