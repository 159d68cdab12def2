"""Display names people choose (a token's name): printable text only.

A name is shown to others and to its owner in lists (the token list, the audit log,
a terminal). A control character can rewrite a terminal line, and a bidirectional
control (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) or an invisible formatting
character makes a name read as another (a token named "ci-", U+202E, "dorp" is
shown as "ci-prod"). So a display name may hold letters, marks, digits, punctuation,
symbols and plain spaces, nothing else: every Unicode category ``C*`` (controls,
formats, surrogates, private use, unassigned) and the line and paragraph separators
are refused, with the position of the first such character.

One check serves every door: :data:`DisplayName` is the pydantic type of the API's
fields, :func:`check_display_name` the same check for forms and other callers.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from cloudos.errors import InvalidInput

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def display_name_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a display name (naming the first bad character's
    position, counted from 1), or ``None`` when it is fine."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, "unnamed")
            return (
                f"character {position} is U+{ord(char):04X} ({name}), a control or invisible "
                "formatting character: use printable text"
            )
    if value != value.strip():
        return "starts or ends with white space"
    return None


def check_display_name(value: str, *, field: str = "name") -> str:
    """``value`` if it is a printable display name, else :class:`InvalidInput` naming
    ``field`` and the bad character's position."""
    problem = display_name_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field}: {problem}", field=field)
    return value


def _validate(value: str) -> str:
    problem = display_name_problem(value)
    if problem is not None:
        raise PydanticCustomError("display_name", problem)
    return value


DisplayName = Annotated[str, AfterValidator(_validate)]
"""A display name in a request model: printable text (see the module docstring)."""

__all__ = ["DisplayName", "check_display_name", "display_name_problem"]
