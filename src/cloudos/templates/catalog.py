"""The built-in catalog: templates and modifiers shipped with Cloud OS.

In a source checkout they live in ``catalog/`` at the repository root; an installed
wheel carries them as ``cloudos/_data/catalog``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cloudos.templates.loader import load_modifier, load_template
from cloudos.templates.model import Modifier, Template
from cloudos.templates.problems import Problem, TemplateError


def catalog_dir() -> Path:
    """The folder holding ``templates/`` and ``modifiers/``."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_data" / "catalog", package.parent.parent / "catalog"):
        if (candidate / "modifiers").is_dir():
            return candidate
    raise TemplateError([Problem("the built-in catalog is not installed")])


def template_paths() -> list[Path]:
    """The template files of the built-in catalog, sorted."""
    return sorted((catalog_dir() / "templates").glob("*/template.yaml"))


def load_catalog_templates() -> dict[str, Template]:
    """Every built-in template, by id."""
    templates = (load_template(path) for path in template_paths())
    return {template.id: template for template in templates}


@cache
def builtin_modifiers() -> dict[str, Modifier]:
    """Every built-in modifier, by id (loaded once)."""
    modifiers = (load_modifier(p) for p in sorted((catalog_dir() / "modifiers").glob("*.yaml")))
    return {modifier.id: modifier for modifier in modifiers}


__all__ = ["builtin_modifiers", "catalog_dir", "load_catalog_templates", "template_paths"]
