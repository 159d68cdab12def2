"""Importers: existing app definitions (Compose, CapRover, Portainer) as templates.

Each importer builds a plain template document, checks it with the real loader and
a sample render, and returns an :class:`ImportResult` per app: the template (or
none) with the warnings (what could not be carried over as it was) and the errors
(why the app could not be converted). Pure code: files in, results out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from cloudos.errors import InvalidInput
from cloudos.templates.importers._common import ImportResult, dump_template
from cloudos.templates.importers.caprover import import_caprover, import_caprover_file
from cloudos.templates.importers.compose import import_compose, import_compose_file
from cloudos.templates.importers.portainer import import_portainer, import_portainer_file

SourceKind = Literal["compose", "caprover", "portainer"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("compose", "caprover", "portainer")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "compose": (".yml", ".yaml"),
    "caprover": (".yml", ".yaml"),
    "portainer": (".json",),
}


def _one(kind: SourceKind) -> Callable[[Path], list[ImportResult]]:
    if kind == "compose":
        return lambda path: [import_compose_file(path)]
    if kind == "caprover":
        return lambda path: [import_caprover_file(path)]
    return import_portainer_file


def source_files(kind: SourceKind, path: Path) -> list[Path]:
    """The files to import: ``path`` itself, or the matching files below a folder."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            item
            for item in path.rglob("*")
            if item.is_file()
            and item.suffix.lower() in _SUFFIXES[kind]
            and not any(part.startswith(".") for part in item.relative_to(path).parts)
        )
    raise InvalidInput(f"{path}: no such file or folder")


def import_path(kind: SourceKind, path: Path) -> Iterator[ImportResult]:
    """Import every app in ``path`` (a file or a folder of them) as ``kind``."""
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"unknown source {kind!r} (one of {', '.join(SOURCE_KINDS)})")
    files = source_files(kind, path)
    if not files:
        wanted = ", ".join(_SUFFIXES[kind])
        raise InvalidInput(f"{path}: no {wanted} files to import")
    convert = _one(kind)
    for file in files:
        yield from convert(file)


__all__ = [
    "SOURCE_KINDS",
    "ImportResult",
    "SourceKind",
    "dump_template",
    "import_caprover",
    "import_caprover_file",
    "import_compose",
    "import_compose_file",
    "import_path",
    "import_portainer",
    "import_portainer_file",
    "source_files",
]
