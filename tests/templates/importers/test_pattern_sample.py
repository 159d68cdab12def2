"""``--sample`` values fit a parameter's pattern (needed by imported CapRover apps)."""

from __future__ import annotations

import re

import pytest

from cloudos.templates import Parameter, sample_value
from cloudos.templates._pattern_sample import example_for


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$",
        r"^(?=.*\d).{10,}$",
        r"^(?=.*[A-Za-z])(?=.*\d)(?=.*[@$!%*#?&])[A-Za-z\d@$!%*#?&]{8,}$",
        r"(?s:.*?)(?:\/[^\s-][a-zA-Z0-9_\/-]*[^\/][^\s-])(?s:.*)",
        r"^Y{1}$",
        r"^(master|slave|)$",
        r"^([^\s]{44})$",
    ],
)
def test_example_matches_pattern(pattern: str) -> None:
    example = example_for(pattern)
    assert example is not None
    assert re.fullmatch(pattern, example)


def test_sample_value_keeps_the_usual_sample_when_the_pattern_accepts_it() -> None:
    assert sample_value("x", Parameter(type="string", pattern="^[a-z]+$")) == "sample"


def test_sample_value_fits_a_pattern_the_usual_sample_breaks() -> None:
    value = sample_value("mail", Parameter(type="string", pattern=r"^.+@.+\..+$"))
    assert isinstance(value, str)
    assert re.fullmatch(r"^.+@.+\..+$", value)
