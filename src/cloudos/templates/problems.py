"""Where something is wrong in a document: paths, source marks and the error type.

A *document path* is a tuple of keys and list indexes (``("services", "web",
"ports", 0)``), shown as ``services.web.ports[0]``. A :class:`SourceMap` remembers
the line and column of every node the loader saw, so any later stage that finds a
problem at a document path (pydantic, the reference check, the Compose schema) can
point at the file position where the user has to look.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudos.errors import InvalidInput

DocPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_/-]+$")


def format_path(path: Iterable[str | int]) -> str:
    """Show a document path the way users write it: ``services.web.ports[0]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part == "*" or _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out) or "(document)"


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Line and column of the nodes of one loaded document."""

    source: str
    marks: dict[DocPath, Mark] = field(default_factory=dict)

    def find(self, path: Sequence[str | int]) -> Mark | None:
        """The mark of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:end]))
            if mark is not None:
                return mark
        return None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, at a path (and a file position when known)."""

    message: str
    path: DocPath = ()
    source: str | None = None
    mark: Mark | None = None

    def __str__(self) -> str:
        parts = []
        if self.source is not None:
            mark = f":{self.mark.line}:{self.mark.column}" if self.mark else ""
            parts.append(f"{self.source}{mark}")
        if self.path:
            parts.append(format_path(self.path))
        return ": ".join([*parts, self.message])


class TemplateError(InvalidInput):
    """A template, modifier or value is invalid; ``problems`` lists every finding."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


def problem_at(
    message: str, path: Sequence[str | int], source_map: SourceMap | None, source: str | None
) -> Problem:
    """A problem located through ``source_map`` when there is one."""
    mark = source_map.find(path) if source_map is not None else None
    src = source_map.source if source_map is not None else source
    return Problem(message=message, path=tuple(path), source=src, mark=mark)


def child_of(node: Any, key: object) -> tuple[bool, Any]:
    """Whether ``node`` (a mapping or list) has ``key`` (a str or an index), and its child."""
    if isinstance(node, Mapping):
        if isinstance(key, str) and key in node:
            return True, node[key]
    elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return True, node[key]
    return False, None


def existing_prefix(data: object, loc: Sequence[object]) -> DocPath:
    """The longest prefix of ``loc`` (a pydantic/jsonschema location) present in ``data``.

    Location parts that are not keys of the data (pydantic's union and function
    tags) are skipped, so the result is always a real document path.
    """
    out: list[str | int] = []
    node: Any = data
    for part in loc:
        found, child = child_of(node, part)
        if found:
            out.append(part)  # type: ignore[arg-type]  # child_of only finds str/int keys
            node = child
        elif part == "[key]":
            break
    return tuple(out)


__all__ = [
    "DocPath",
    "Mark",
    "Problem",
    "SourceMap",
    "TemplateError",
    "child_of",
    "existing_prefix",
    "format_path",
    "problem_at",
]
