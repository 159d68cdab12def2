"""Paths into a stack document, with ``*`` wildcards.

Syntax: dot-separated keys, ``[n]`` for a list index, ``*`` (or ``[*]``) for every
key or item, and ``["a.b"]`` for a key holding dots (Docker labels do). Examples:
``services.*.deploy``, ``services.web.ports[0]``,
``services.*.deploy.labels["cloudos.app"]``. Paths are compiled once and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cloudos.templates.problems import DocPath, child_of

WILDCARD = "*"
_TOKEN = re.compile(r'\.?([A-Za-z0-9_*/-][A-Za-z0-9_/-]*|\*)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]')

Segment = str | int


class PathError(ValueError):
    """A path is not valid syntax."""


@lru_cache(maxsize=1024)
def parse_path(text: str) -> tuple[Segment, ...]:
    """The segments of ``text`` (``"*"`` is the wildcard)."""
    segments: list[Segment] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or (pos == 0 and text.startswith(".")) or match.end() == pos:
            raise PathError(f"bad path {text!r} at character {pos + 1}")
        key, index, quoted = match.groups()
        if key is not None:
            segments.append(key)
        elif index is not None:
            segments.append(WILDCARD if index == "*" else int(index))
        else:
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = match.end()
    if not segments:
        raise PathError("empty path")
    return tuple(segments)


@dataclass(frozen=True)
class Target:
    """A place a path reaches: ``container[key]`` at ``path``; it may not exist yet.

    ``missing`` holds the trailing keys that do not exist yet below ``container``
    (empty when ``container[key]`` exists, or only the key is missing).
    """

    path: DocPath
    container: Any
    key: Segment
    missing: tuple[Segment, ...] = ()

    @property
    def exists(self) -> bool:
        """Whether the target node is present."""
        if self.missing:
            return False
        if isinstance(self.container, dict):
            return self.key in self.container
        return isinstance(self.key, int) and 0 <= self.key < len(self.container)

    @property
    def value(self) -> Any:
        """The current node (``None`` when missing)."""
        return self.container[self.key] if self.exists else None

    def ensure_parent(self) -> Any:
        """Create the missing mappings above the target and return its container."""
        container = self.container
        chain = (self.key, *self.missing)
        for segment in chain[:-1]:
            nxt = container.get(segment) if isinstance(container, dict) else None
            if not isinstance(nxt, dict):
                nxt = {}
                container[segment] = nxt
            container = nxt
        return container

    @property
    def leaf(self) -> Segment:
        """The last key of the target."""
        return (self.key, *self.missing)[-1]


def find(document: Any, segments: tuple[Segment, ...]) -> list[Target]:
    """Every place ``segments`` reaches in ``document``, in document order."""
    found: list[Target] = []
    _walk(document, segments, (), found)
    return found


def _walk(node: Any, segments: tuple[Segment, ...], path: DocPath, out: list[Target]) -> None:
    head, rest = segments[0], segments[1:]
    if head == WILDCARD:
        if isinstance(node, dict):
            keys: list[Segment] = list(node)
        elif isinstance(node, list):
            keys = list(range(len(node)))
        else:
            return
    else:
        keys = [head]
    for key in keys:
        if isinstance(node, dict) and isinstance(key, str):
            present = key in node
        elif isinstance(node, list) and isinstance(key, int):
            present = 0 <= key < len(node)
        else:
            return
        here = (*path, key)
        if not rest:
            out.append(Target(here, node, key))
        elif present and isinstance(node[key], dict | list):
            _walk(node[key], rest, here, out)
        elif (
            (not present or node[key] is None)
            and WILDCARD not in rest
            and isinstance(node, dict)
            and all(isinstance(s, str) for s in rest)
        ):
            out.append(Target((*here, *rest), node, key, rest))


def get(node: Any, segments: tuple[Segment, ...]) -> tuple[bool, Any]:
    """Whether a wildcard-free path exists below ``node``, and its value."""
    for segment in segments:
        found, node = child_of(node, segment)
        if not found:
            return False, None
    return True, node


__all__ = ["WILDCARD", "PathError", "Target", "find", "get", "parse_path"]
