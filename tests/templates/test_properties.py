"""Property tests: arbitrary input never crashes; what renders is a valid stack."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any, TypeVar, get_args

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudos.templates import (
    SAMPLE_CONTEXT,
    Template,
    TemplateError,
    check_with_docker,
    modifier_from_dict,
    render,
    template_from_dict,
    template_from_text,
)
from cloudos.templates.model import ParamType
from tests.conftest import unavailable
from tests.templates.conftest import template_doc

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARAM_TYPES: tuple[str, ...] = get_args(ParamType)
T = TypeVar("T")
TEMPLATE_KEYS = [*Template.model_fields, "x-extra"]


def template_for(kind: str) -> Template:
    extra: dict[str, Any] = {"choices": ["a", "b"]} if kind == "enum" else {}
    if kind == "map":
        service: dict[str, Any] = {"image": "x:1", "environment": "${p}"}
    else:
        service = {
            "image": "x:1",
            "environment": {"V": "${p}", "W": "<${p}>"},
            "deploy": {"labels": {"v": "${p}"}},
        }
    return template_from_dict(
        template_doc(
            parameters={"p": {"type": kind, "required": True, **extra}},
            services={"web": service},
        )
    )


TEMPLATES = {kind: template_for(kind) for kind in PARAM_TYPES}


def attempt(action: Callable[[], T]) -> tuple[T | None, str | None]:
    """The result of ``action``, or the message of the TemplateError it raised."""
    try:
        return action(), None
    except TemplateError as err:
        return None, str(err)


def unescape(value: object) -> object:
    return value.replace("$$", "$") if isinstance(value, str) else value


@pytest.mark.parametrize("kind", PARAM_TYPES)
@FAST
@given(raw=st.text())
def test_any_text_for_any_type_is_refused_cleanly_or_renders(kind: str, raw: str) -> None:
    template = TEMPLATES[kind]
    result, refused = attempt(lambda: render(template, context=SAMPLE_CONTEXT, values={"p": raw}))
    if result is None:
        assert refused is not None
        assert "parameters.p" in refused
        return
    value = result.values["p"]
    loaded = yaml.safe_load(result.yaml)  # render already checked the Compose schema
    env = loaded["services"]["web"]["environment"]
    if kind == "map":
        assert isinstance(value, dict)
        assert {k: unescape(v) for k, v in env.items()} == {
            k: ("true" if v is True else "false" if v is False else v) for k, v in value.items()
        }
    elif kind != "bool":
        assert unescape(env["V"]) == value
        assert unescape(env["W"]) == f"<{value}>"


@pytest.mark.docker
@pytest.mark.parametrize("kind", ["string", "text", "password", "map"])
@settings(max_examples=15, deadline=None)
@given(raw=st.text(min_size=1))
def test_docker_accepts_what_renders(kind: str, raw: str) -> None:
    if shutil.which("docker") is None:
        unavailable("no docker CLI")
    from cloudos.cli.template import docker_stack_config

    result, _ = attempt(lambda: render(TEMPLATES[kind], context=SAMPLE_CONTEXT, values={"p": raw}))
    if result is None:
        return
    check_with_docker(result.yaml, run=docker_stack_config)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["${p}", "$${x}", "${", "org.example.app", "1.0.0", "cloudos.template/v1"]),
)
keys = st.one_of(st.sampled_from(TEMPLATE_KEYS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)
    ),
    max_leaves=30,
)


@FAST
@given(doc=st.dictionaries(keys, documents, max_size=10))
def test_any_document_loads_or_is_refused_cleanly(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    for action in (
        lambda: template_from_text(text, source="fuzz.yaml"),
        lambda: template_from_dict(doc),
        lambda: modifier_from_dict(doc),
    ):
        loaded, refused = attempt(action)
        assert (loaded is None) != (refused is None)


@FAST
@given(text=st.text(max_size=200))
def test_any_text_loads_or_is_refused_cleanly(text: str) -> None:
    loaded, refused = attempt(lambda: template_from_text(text, source="fuzz.yaml"))
    assert loaded is not None or (refused or "").startswith("fuzz.yaml")


@FAST
@given(services=st.dictionaries(st.sampled_from(["web", "db"]), documents, min_size=1))
def test_any_services_render_valid_or_are_refused(services: dict[str, Any]) -> None:
    template, refused = attempt(lambda: template_from_dict(template_doc(services=services)))
    if template is not None:
        result, refused = attempt(lambda: render(template, context=SAMPLE_CONTEXT, sample=True))
        assert result is not None or refused
