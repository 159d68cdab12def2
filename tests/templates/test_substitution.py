"""Substitution inserts values as data: tricky characters survive exactly."""

from __future__ import annotations

import pytest
import yaml

from cloudos.templates import SAMPLE_CONTEXT, TemplateError, render
from cloudos.templates.substitution import PlaceholderError, substitute_string
from tests.templates.conftest import make_template

TRICKY = [
    "a: b",
    "{not: a mapping}",
    "# not a comment",
    "line one\nline two\n",
    "price: $5 and $$ and ${x}",
    "'single' and \"double\" quotes",
    "- not a list",
    "&anchor *alias !tag",
    "  leading and trailing spaces  ",
    "yes",
    "0755",
    "null",
    "ünïcödé ✓",
]


def render_env(value: str) -> str:
    template = make_template(
        parameters={"v": {"type": "text", "required": True}},
        services={"web": {"image": "x:1", "environment": {"V": "${v}", "W": "<${v}>"}}},
    )
    result = render(template, context=SAMPLE_CONTEXT, values={"v": value})
    return result.yaml


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_values_reach_the_stack_exactly(value: str) -> None:
    stack = yaml.safe_load(render_env(value))
    env = stack["services"]["web"]["environment"]
    # The stack escapes $ as $$ for docker's own interpolation; undo it like docker does.
    assert env["V"].replace("$$", "$") == value
    assert env["W"].replace("$$", "$") == f"<{value}>"


def test_dollar_signs_are_doubled_for_docker() -> None:
    assert "price: $$5" in render_env("price: $5")


def test_a_whole_placeholder_keeps_the_type() -> None:
    values = {"port": 8080, "on": True, "name": "web"}
    assert substitute_string("${port}", values) == 8080
    assert substitute_string("${on}", values) is True
    assert substitute_string("${name}:${port}", values) == "web:8080"
    assert substitute_string("${on}-${port}", values) == "true-8080"


def test_escapes() -> None:
    assert substitute_string("$${port}", {}) == "${port}"
    assert substitute_string("a$b", {}) == "a$b"
    assert substitute_string("cost $", {}) == "cost $"
    assert substitute_string("$$$$", {}) == "$$"


@pytest.mark.parametrize("text", ["${", "${}", "${a b}", "${a.}", "${1x}", "${a${b}}"])
def test_malformed_placeholders_are_errors(text: str) -> None:
    with pytest.raises(PlaceholderError):
        substitute_string(text, {"a": 1, "b": 2})


def test_a_port_parameter_becomes_an_integer_in_ports() -> None:
    template = make_template(
        parameters={"port": {"type": "port", "default": 8080}},
        services={"web": {"image": "x:1", "ports": [{"target": "${port}", "published": 80}]}},
    )
    result = render(template, context=SAMPLE_CONTEXT, values={"port": "9090"})
    assert result.stack["services"]["web"]["ports"][0]["target"] == 9090
    assert "target: 9090\n" in result.yaml


def test_keys_are_substituted_too() -> None:
    template = make_template(
        services={"web": {"image": "x:1", "deploy": {"labels": {"owner.${app.name}": "yes"}}}}
    )
    result = render(template, context=SAMPLE_CONTEXT)
    assert result.stack["services"]["web"]["deploy"]["labels"] == {"owner.sample-app": "yes"}


def test_a_map_value_cannot_be_embedded_in_text() -> None:
    template = make_template(
        parameters={"m": {"type": "map", "default": {"A": "1"}}},
        services={"web": {"image": "x:${m}"}},
    )
    with pytest.raises(TemplateError, match="mapping"):
        render(template, context=SAMPLE_CONTEXT)
