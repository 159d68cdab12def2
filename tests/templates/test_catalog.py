"""The built-in catalog: every template renders to its golden stack, and Docker agrees.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/templates/test_catalog.py`` and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cloudos.cli.template import docker_stack_config
from cloudos.templates import (
    SAMPLE_CONTEXT,
    AttachedModifier,
    RenderResult,
    builtin_modifiers,
    check_with_docker,
    load_template,
    render,
)
from cloudos.templates.catalog import template_paths
from tests.conftest import unavailable

GOLDEN = Path(__file__).parent / "golden"
PATHS = template_paths()
OWN_IMAGES = {
    "static-website": "cloudos/static:0.1",
    "php-website": "cloudos/php:0.1",
    "mariadb": "cloudos/mariadb:0.1",
    "postgresql": "cloudos/postgresql:0.1",
    "redis": "cloudos/redis:0.1",
}


def sample_render(path: Path) -> RenderResult:
    return render(
        load_template(path), context=SAMPLE_CONTEXT, library=builtin_modifiers(), sample=True
    )


def all_modifiers_render(path: Path) -> RenderResult:
    """The template with every built-in modifier attached, dnsrr as on this machine."""
    attached = [
        AttachedModifier(m, {"mode": "dnsrr"} if m.id == "org.cloudos.endpoint-mode" else {})
        for m in builtin_modifiers().values()
    ]
    return render(
        load_template(path),
        context=SAMPLE_CONTEXT,
        modifiers=attached,
        library=builtin_modifiers(),
        sample=True,
    )


def test_the_catalog_has_the_promised_apps() -> None:
    names = {path.parent.name for path in PATHS}
    assert names >= {
        "static-website",
        "php-website",
        "mariadb",
        "postgresql",
        "redis",
        "wordpress",
        "adminer",
        "code-server",
        "gitea",
        "nextcloud",
    }


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.parent.name)
def test_catalog_template_matches_golden(path: Path) -> None:
    text = sample_render(path).yaml
    golden = GOLDEN / f"{path.parent.name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file; run with UPDATE_GOLDEN=1 to create {golden}"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(OWN_IMAGES))
def test_platform_apps_use_the_platform_images(name: str) -> None:
    stack = sample_render(Path(PATHS[0]).parent.parent / name / "template.yaml").stack
    assert {svc["image"] for svc in stack["services"].values()} == {OWN_IMAGES[name]}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.parent.name)
def test_every_catalog_template_takes_every_builtin_modifier(path: Path) -> None:
    stack = all_modifiers_render(path).stack
    for service in stack["services"].values():
        assert service["deploy"]["labels"]["cloudos.app"] == "sample-app"
        assert "sample" in service["networks"]


@pytest.mark.docker
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.parent.name)
def test_docker_accepts_every_catalog_stack(path: Path) -> None:
    if shutil.which("docker") is None:
        unavailable("no docker CLI")
    check_with_docker(sample_render(path).yaml, run=docker_stack_config)
    check_with_docker(all_modifiers_render(path).yaml, run=docker_stack_config)
