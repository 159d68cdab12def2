"""Rendering: deterministic output, context values, overrides, schema errors."""

from __future__ import annotations

import pytest

from cloudos.templates import (
    SAMPLE_CONTEXT,
    RenderContext,
    TemplateError,
    check_with_docker,
    render,
    template_from_text,
)
from tests.templates.conftest import make_template

WITH_ADDON = """\
format: cloudos.template/v1
id: org.example.blog
version: 1.0.0
name: Blog
addons:
  mysql: {}
services:
  web:
    image: example/blog:1
    environment:
      DB: ${addons.mysql.host}:${addons.mysql.port}
      URL: https://${app.hostname}/
    ports:
      - "eighty"
"""


def test_the_same_input_gives_the_same_bytes() -> None:
    template = make_template(
        services={
            "b": {"image": "x:1", "environment": {"Z": "1", "A": "2"}},
            "a": {"image": "y:1"},
        },
        volumes={"data": None},
    )
    first = render(template, context=SAMPLE_CONTEXT).yaml
    assert first == render(template, context=SAMPLE_CONTEXT).yaml
    assert first.index("  a:") < first.index("  b:")
    assert first.startswith("version: '3.8'\nservices:\n")
    assert first.index("services:") < first.index("volumes:")


def test_context_supplies_builtins_and_addon_values() -> None:
    template = template_from_text(WITH_ADDON.replace('      - "eighty"\n', "      - 80\n"))
    context = RenderContext(
        app_name="blog",
        space_name="acme",
        space_domain="acme.example.com",
        extra={"addons": {"mysql": {"host": "db", "port": 3306}}},
    )
    env = render(template, context=context).stack["services"]["web"]["environment"]
    assert env == {"DB": "db:3306", "URL": "https://blog.acme.example.com/"}


def test_missing_addon_values_are_reported_where_used() -> None:
    template = template_from_text(WITH_ADDON, source="blog.yaml")
    with pytest.raises(TemplateError) as caught:
        render(template, context=SAMPLE_CONTEXT)
    assert str(caught.value).startswith(
        "blog.yaml:11:7: services.web.environment.DB: ${addons.mysql.host} has no value"
    )


def test_schema_errors_point_into_the_template() -> None:
    template = template_from_text(WITH_ADDON, source="blog.yaml")
    with pytest.raises(TemplateError) as caught:
        render(template, context=SAMPLE_CONTEXT, sample=True)
    message = str(caught.value)
    assert message.startswith("blog.yaml:14:9: services.web.ports[0]: the generated stack")


def test_overrides_merge_last_and_null_deletes() -> None:
    template = make_template(
        services={"web": {"image": "x:1", "environment": {"A": "1", "B": "2"}, "init": True}}
    )
    overrides = {"services": {"web": {"environment": {"A": None, "C": "$x"}, "init": False}}}
    result = render(template, context=SAMPLE_CONTEXT, overrides=overrides)
    web = result.stack["services"]["web"]
    assert web["environment"] == {"B": "2", "C": "$x"}
    assert web["init"] is False
    assert "C: $$x" in result.yaml


def test_a_bad_app_name_is_refused() -> None:
    context = RenderContext(app_name="Bad Name", space_name="s", space_domain="example.com")
    with pytest.raises(TemplateError, match="app name"):
        render(make_template(), context=context)


def test_check_with_docker_reports_the_last_line() -> None:
    check_with_docker("version: '3.8'\n", run=lambda _text: (0, ""))
    with pytest.raises(TemplateError, match="docker stack config rejected the stack: boom"):
        check_with_docker("x", run=lambda _text: (1, "noise\nboom\n"))


def test_unknown_compose_keys_are_named_at_their_line() -> None:
    text = WITH_ADDON.replace('      - "eighty"\n', "      - 80\n    restart_policy: always\n")
    template = template_from_text(text, source="blog.yaml")
    with pytest.raises(TemplateError) as caught:
        render(template, context=SAMPLE_CONTEXT, sample=True)
    assert str(caught.value) == (
        "blog.yaml:15:5: services.web.restart_policy: the generated stack breaks the "
        "Compose schema: not a Compose key (in file format 3.8)"
    )
