"""Compose files (format 2, 3 and the Compose Specification) as templates."""

from __future__ import annotations

from cloudos.templates import SAMPLE_CONTEXT, render, template_from_text
from cloudos.templates.importers import import_compose, import_compose_file
from tests.templates.importers.conftest import FIXTURES


def test_variables_become_parameters_and_double_dollar_stays_literal() -> None:
    result = import_compose_file(FIXTURES / "compose" / "v3-simple.yml")
    assert result.converted, result.errors
    doc = result.document
    assert doc is not None
    assert doc["parameters"] == {
        "ghost_tag": {"type": "string", "default": "5.80.1", "label": "GHOST_TAG"},
        "domain": {
            "type": "string",
            "label": "DOMAIN",
            "required": True,
            "description": "the public domain",
        },
        "db_password": {"type": "password", "generate": {"length": 24}, "label": "DB_PASSWORD"},
        "http_port": {"type": "port", "default": 2368, "label": "HTTP_PORT"},
    }
    app = doc["services"]["app"]
    assert app["image"] == "ghost:${ghost_tag}"
    assert app["environment"]["literal"] == "$$HOME stays"
    assert app["ports"] == ["${http_port}:2368"]
    assert doc["version"] == "5.80.1"
    stack = render(result.template, context=SAMPLE_CONTEXT, sample=True).stack  # type: ignore[arg-type]
    assert stack["services"]["app"]["environment"]["literal"] == "$HOME stays"


def test_swarm_incompatible_keys_are_dropped_with_a_warning() -> None:
    result = import_compose_file(FIXTURES / "compose" / "v2-web.yml")
    assert result.converted, result.errors
    web = result.document["services"]["web"]  # type: ignore[index]
    assert not {"container_name", "build", "links"} & set(web)
    assert web["deploy"] == {
        "restart_policy": {"condition": "any"},
        "resources": {"limits": {"memory": "512m"}},
    }
    assert web["volumes"][0] == "html:/usr/share/nginx/html:ro"
    assert web["depends_on"] == ["db"]
    assert "services.web.container_name: dropped: Swarm names containers itself" in result.warnings
    assert (
        "services.db.privileged: dropped: Swarm services cannot run privileged" in result.warnings
    )
    assert any("start conditions dropped for db" in w for w in result.warnings)
    assert any("/etc/localtime" in w for w in result.warnings)


def test_compose_spec_name_and_yaml_round_trip() -> None:
    result = import_compose_file(FIXTURES / "compose" / "spec.yaml")
    assert result.converted, result.errors
    assert result.document["id"] == "local.compose.notes"  # type: ignore[index]
    assert result.document["version"] == "2.1.0"  # type: ignore[index]
    loaded = template_from_text(result.yaml())
    assert loaded.services["web"]["depends_on"] == ["cache"]


def test_bad_input_is_reported_not_raised() -> None:
    assert (
        import_compose("services: [", source="x.yml", slug="x")
        .errors[0]
        .startswith("not valid YAML: line")
    )
    old = import_compose("web:\n  image: nginx\n", source="x.yml", slug="x")
    assert old.errors == ("Compose file format 1 (services at the top level) is not supported",)
    no_image = import_compose("services:\n  web:\n    build: .\n", source="x.yml", slug="x")
    assert "services.web: no image (a stack cannot build one)" in no_image.errors
