"""Structure-aware ``${name}`` substitution.

Values are inserted into the parsed document as data, never pasted into YAML text,
so a value holding ``:``, ``#``, quotes or newlines stays exactly that string. Rules:

- a string that is exactly ``${name}`` becomes the value itself, with its type
  (an ``int``/``port`` parameter gives an integer, a ``map`` parameter a mapping);
- inside a longer string the value is formatted (``true``/``false`` for booleans);
- ``$$`` is a literal ``$``; a ``$`` not followed by ``{`` or ``$`` is literal too;
- names are parameters (``db_password``) or dotted built-ins (``app.name``,
  ``addons.mysql.password``) looked up in one flat mapping.

The rendered document holds final strings (``$`` single). The stack writer escapes
``$`` as ``$$`` again, because ``docker stack deploy`` interpolates variables itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from cloudos.templates.problems import DocPath

_TOKEN = re.compile(r"\$(?:\$|\{([^{}$]*)\}|(\{))?")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


class PlaceholderError(ValueError):
    """A string holds a malformed ``${...}`` or names an unknown value."""


class _Ref(str):
    """A placeholder name inside a compiled string (a ``str`` subclass, for speed)."""

    __slots__ = ()


Pieces = tuple[str, ...]


@lru_cache(maxsize=4096)
def compile_string(text: str) -> Pieces:
    """Split ``text`` into literal pieces and :class:`_Ref` names."""
    pieces: list[str] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos : match.start()])
        pos = match.end()
        whole = match.group(0)
        if whole == "$$" or whole == "$":
            literal.append("$")
            continue
        name = match.group(1)
        if name is None or not _NAME.match(name.strip()):
            shown = whole if name is None else "${" + name + "}"
            raise PlaceholderError(f"malformed placeholder {shown!r} (write $$ for a literal $)")
        if "".join(literal):
            pieces.append("".join(literal))
        literal = []
        pieces.append(_Ref(name.strip()))
    literal.append(text[pos:])
    tail = "".join(literal)
    if tail or not pieces:
        pieces.append(tail)
    return tuple(pieces)


def references(text: str) -> list[str]:
    """The names a string refers to (raises :class:`PlaceholderError` if malformed)."""
    if "$" not in text:
        return []
    return [piece for piece in compile_string(text) if isinstance(piece, _Ref)]


def walk_strings(node: Any, path: DocPath = ()) -> Iterator[tuple[DocPath, str]]:
    """Every string (mapping keys included) in a document, with its path."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and "$" in key:
                yield (*path, key), key
            yield from walk_strings(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk_strings(item, (*path, index))


def format_value(value: object) -> str:
    """How a value reads inside a longer string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise PlaceholderError("a mapping or list value cannot be part of a longer string")
    return str(value)


def substitute_string(text: str, values: Mapping[str, object]) -> object:
    """The value of one string after substitution (typed when it is one placeholder)."""
    if "$" not in text:
        return text
    pieces = compile_string(text)
    if len(pieces) == 1:
        only = pieces[0]
        if isinstance(only, _Ref):
            return _copy(_lookup(only, values))
        return only
    return "".join(
        format_value(_lookup(piece, values)) if isinstance(piece, _Ref) else piece
        for piece in pieces
    )


def _lookup(name: str, values: Mapping[str, object]) -> object:
    try:
        return values[name]
    except KeyError:
        raise PlaceholderError(f"unknown value ${{{name}}}") from None


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def instantiate(node: Any, values: Mapping[str, object]) -> Any:
    """A fresh copy of ``node`` with every placeholder substituted."""
    if isinstance(node, str):
        return substitute_string(node, values) if "$" in node else node
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if "$" in key:
                key = format_value(substitute_string(key, values))
            out[key] = instantiate(value, values)
        return out
    if isinstance(node, list):
        return [instantiate(item, values) for item in node]
    return node


def has_placeholders(node: Any) -> bool:
    """Whether any string in ``node`` holds a ``$`` (so it needs instantiation)."""
    return any("$" in text for _, text in walk_strings(node))


Instantiator = Callable[[Mapping[str, object]], Any]


def compiled(node: Any) -> Instantiator:
    """A function producing fresh copies of ``node`` with placeholders substituted."""
    if not has_placeholders(node):
        return lambda _values: _copy(node)
    return lambda values: instantiate(node, values)


__all__ = [
    "PlaceholderError",
    "compile_string",
    "compiled",
    "format_value",
    "has_placeholders",
    "instantiate",
    "references",
    "substitute_string",
    "walk_strings",
]
