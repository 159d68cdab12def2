"""An example string that a parameter's ``pattern`` accepts (for ``--sample``).

Walks the parsed regular expression and takes the first, shortest way through it
(the first branch, the minimum repeat, the first character a class allows).
Lookaheads are not solved; instead a few common prefixes (a letter, a digit, a
sign) are tried, which satisfies the usual "must contain" password rules. The
result is always checked with ``re.fullmatch``; ``None`` when nothing fits.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # stdlib, no stubs
from typing import Any

_CATEGORY = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
}
_PREFIXES = ("", "Aa1!", "a", "A", "1", "!", "a1", "Aa1@", "Aa1-")
_PREFERRED = "aA0-_.@/ "


def example_for(pattern: str) -> str | None:
    """A short string ``pattern`` fully matches, or ``None``."""
    try:
        parsed = sre_parse.parse(pattern)
        base = _walk(parsed)
    except (re.error, RecursionError, _NoExample):
        return None
    for prefix in _PREFIXES:
        for candidate in (prefix + base, base + prefix):
            if re.fullmatch(pattern, candidate) is not None:
                return candidate
    return None


class _NoExample(Exception):
    """The pattern holds something the walker does not construct."""


def _walk(items: Any) -> str:
    return "".join(_item(op, arg) for op, arg in items)


def _item(op: Any, arg: Any) -> str:
    name = str(op)
    if name == "LITERAL":
        return chr(arg)
    if name == "NOT_LITERAL":
        return "a" if chr(arg) != "a" else "b"
    if name == "ANY":
        return "a"
    if name == "IN":
        return _in(arg)
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, body = arg
        return _walk(body) * int(low)
    if name == "SUBPATTERN":
        return _walk(arg[-1])
    if name == "ATOMIC_GROUP":
        return _walk(arg)
    if name == "BRANCH":
        return _walk(arg[1][0])
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return ""
    raise _NoExample(name)


def _in(arg: Any) -> str:
    negate = any(str(op) == "NEGATE" for op, _ in arg)
    allowed: list[str] = []
    for op, value in arg:
        name = str(op)
        if name == "LITERAL":
            allowed.append(chr(value))
        elif name == "RANGE":
            allowed.append(chr(value[0]))
        elif name == "CATEGORY":
            allowed.append(_CATEGORY.get(str(value), "a"))
    if not negate:
        if not allowed:
            raise _NoExample("empty class")
        return allowed[0]
    for char in _PREFERRED:
        if char not in allowed:
            return char
    raise _NoExample("negated class")


__all__ = ["example_for"]
