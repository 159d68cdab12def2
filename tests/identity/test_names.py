"""Display names (a token's name) are printable text: what spoofs a list is refused,
with the position of the character at fault."""

from __future__ import annotations

import re

import pytest

from cloudos.errors import InvalidInput
from cloudos.identity import check_display_name, display_name_problem


@pytest.mark.parametrize(
    ("name", "position", "code"),
    [
        ("ci-\u202edorp", 4, "U+202E"),  # RIGHT-TO-LEFT OVERRIDE: shown as "ci-prod"
        ("\u2066admin\u2069", 1, "U+2066"),  # LEFT-TO-RIGHT ISOLATE
        ("deploy\u200f", 7, "U+200F"),  # RIGHT-TO-LEFT MARK
        ("ci\u200bprod", 3, "U+200B"),  # ZERO WIDTH SPACE: two names that look alike
        ("ci\x1b[2Jprod", 3, "U+001B"),  # ESCAPE: rewrites the terminal
        ("line\nbreak", 5, "U+000A"),
        ("para\u2029graph", 5, "U+2029"),
        ("nul\x00", 4, "U+0000"),
        ("private\ue000", 8, "U+E000"),
    ],
)
def test_names_with_controls_or_bidi_overrides_are_refused_at_their_position(
    name: str, position: int, code: str
) -> None:
    problem = display_name_problem(name)
    assert problem is not None
    assert problem.startswith(f"character {position} is {code} (")
    expected = re.escape(f"token name: character {position} is {code} (")
    with pytest.raises(InvalidInput, match=f"^{expected}"):
        check_display_name(name, field="token name")


@pytest.mark.parametrize("name", ["ci", "cli@build-01", "déploiement é", "CI – prod 🚀", "東京"])
def test_printable_names_in_any_script_pass(name: str) -> None:
    assert display_name_problem(name) is None
    assert check_display_name(name) == name


def test_white_space_around_a_name_is_refused() -> None:
    assert display_name_problem(" ci") == "starts or ends with white space"
