"""The errors' codes: every one the source gives is documented, and each kind has its own."""

from __future__ import annotations

import re
from pathlib import Path

from cloudos import errors

ROOT = Path(__file__).resolve().parent.parent


def _documented_codes() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Errors: a stable code", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def _codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "cloudos").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'default_code(?:: str)? = "([a-z_]+)"', text))
        found |= set(re.findall(r'\bcode="([a-z_]+)"', text))
    return found


def test_every_code_the_source_gives_is_in_the_documented_table() -> None:
    given = _codes_in_source()
    assert {"error", "invalid_input", "name_taken", "wrong_password"} <= given  # the scan works
    assert given - _documented_codes() == set()


def test_each_kind_of_error_has_its_code_and_a_raise_may_be_more_precise() -> None:
    kinds = [getattr(errors, name) for name in errors.__all__ if name != "CloudOSError"]
    codes = {kind.__name__: kind("x").code for kind in [errors.CloudOSError, *kinds]}
    assert codes == {
        "CloudOSError": "error",
        "Conflict": "conflict",
        "EnvironmentProblem": "environment_problem",
        "Forbidden": "forbidden",
        "InvalidInput": "invalid_input",
        "NotFound": "not_found",
        "Unauthenticated": "unauthenticated",
    }
    taken = errors.Conflict("space 'shop' already exists", field="name", code="name_taken")
    assert (str(taken), taken.field, taken.code) == (
        "space 'shop' already exists",
        "name",
        "name_taken",
    )
    assert errors.InvalidInput("no").field is None
