"""Parameter values are checked and typed before anything is generated."""

from __future__ import annotations

from typing import Any

import pytest

from cloudos.templates import SAMPLE_CONTEXT, Parameter, TemplateError, render
from cloudos.templates.values import ValueProblem, coerce, resolve, sample_value
from tests.templates.conftest import make_template


def param(**fields: Any) -> Parameter:
    return Parameter.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "raw", "expected"),
    [
        ({"type": "int"}, "42", 42),
        ({"type": "int"}, " -3 ", -3),
        ({"type": "port"}, "443", 443),
        ({"type": "bool"}, "yes", True),
        ({"type": "bool"}, "Off", False),
        ({"type": "enum", "choices": ["a", "b"]}, "b", "b"),
        ({"type": "enum", "choices": [1, 2]}, "2", 2),
        ({"type": "domain"}, "App.Example.COM", "app.example.com"),
        ({"type": "email"}, "me@example.com", "me@example.com"),
        ({"type": "size"}, "512M", "512M"),
        ({"type": "size"}, "1.5GiB", "1.5GiB"),
        ({"type": "map"}, "A=1\nB=x=y", {"A": "1", "B": "x=y"}),
        ({"type": "map"}, "A=1,B=2", {"A": "1", "B": "2"}),
        ({"type": "text"}, "two\nlines", "two\nlines"),
        ({"type": "string", "pattern": "[a-z]+"}, "abc", "abc"),
    ],
)
def test_good_values_are_typed(fields: dict[str, Any], raw: object, expected: object) -> None:
    assert coerce(param(**fields), raw) == expected


@pytest.mark.parametrize(
    ("fields", "raw", "message"),
    [
        ({"type": "int"}, "4.2", "not a whole number"),
        ({"type": "int", "max": 5}, 6, "more than the maximum 5"),
        ({"type": "port"}, "0", "less than the minimum 1"),
        ({"type": "port"}, 70000, "more than the maximum 65535"),
        ({"type": "bool"}, "maybe", "not true or false"),
        ({"type": "enum", "choices": ["a"]}, "b", "not one of a"),
        ({"type": "domain"}, "not a domain", "not a domain name"),
        ({"type": "email"}, "me@", "not an e-mail address"),
        ({"type": "size"}, "lots", "not a size"),
        ({"type": "string"}, "a\nb", "one line"),
        ({"type": "string"}, "bell\x07", "control characters"),
        ({"type": "string", "pattern": "[a-z]+"}, "ABC", "does not match the pattern"),
        ({"type": "password", "min": 12}, "short", "less than the minimum 12 characters"),
        ({"type": "map"}, "novalue", "is not KEY=VALUE"),
        ({"type": "string"}, ["a"], "expected text"),
    ],
)
def test_bad_values_say_why(fields: dict[str, Any], raw: object, message: str) -> None:
    with pytest.raises(ValueProblem, match=message):
        coerce(param(**fields), raw)


def test_resolve_order_given_default_generated_sample() -> None:
    params = {
        "given": param(type="string", default="d"),
        "default": param(type="string", default="d"),
        "secret": param(type="password", generate={"length": 40}),
        "needed": param(type="email", required=True),
        "optional": param(type="int"),
    }
    values, problems = resolve(params, {"given": "g"}, sample=True)
    assert problems == {}
    assert values["given"] == "g"
    assert values["default"] == "d"
    assert len(str(values["secret"])) == 40
    assert values["needed"] == "admin@example.com"
    assert values["optional"] is None


def test_samples_are_deterministic_and_valid() -> None:
    for kind in ("string", "text", "int", "bool", "password", "secret", "domain", "email"):
        p = param(type=kind)
        assert sample_value("x", p) == sample_value("x", p)
        coerce(p, sample_value("x", p))


def test_generated_passwords_differ_and_are_returned() -> None:
    template = make_template(
        parameters={"pw": {"type": "password"}},
        services={"web": {"image": "x:1", "environment": {"PW": "${pw}"}}},
    )
    first = render(template, context=SAMPLE_CONTEXT)
    second = render(template, context=SAMPLE_CONTEXT)
    assert first.values["pw"] != second.values["pw"]
    again = render(template, context=SAMPLE_CONTEXT, values=first.values)
    assert again.yaml == first.yaml


def test_render_names_the_bad_parameter() -> None:
    template = make_template(parameters={"port": {"type": "port", "required": True}})
    with pytest.raises(TemplateError, match=r"parameters.port: is required"):
        render(template, context=SAMPLE_CONTEXT)
    with pytest.raises(TemplateError, match=r"parameters.port: 'http' is not a whole number"):
        render(template, context=SAMPLE_CONTEXT, values={"port": "http"})
    with pytest.raises(TemplateError, match=r"parameters.nope: unknown parameter"):
        render(template, context=SAMPLE_CONTEXT, values={"port": 1, "nope": 1})
