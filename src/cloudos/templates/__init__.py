"""App templates and modifiers: the format, loading, and stack generation (pure code).

A vendor describes an app once as a :class:`Template`; :func:`render` turns it, with
an installation's values, modifiers and overrides, into deterministic stack YAML.
This package never talks to Docker, the database or the web layer.
"""

from cloudos.templates.catalog import builtin_modifiers, catalog_dir, load_catalog_templates
from cloudos.templates.compose import StackConfigRunner, compose_schema
from cloudos.templates.icons import Icon
from cloudos.templates.loader import (
    icon_of,
    load_document,
    load_modifier,
    load_template,
    modifier_from_dict,
    modifier_from_text,
    template_from_dict,
    template_from_text,
)
from cloudos.templates.model import (
    MODIFIER_FORMAT,
    TEMPLATE_FORMAT,
    Modifier,
    ModifierUse,
    Parameter,
    Route,
    Template,
)
from cloudos.templates.modifiers import AttachedModifier, Change
from cloudos.templates.problems import Problem, TemplateError, format_path
from cloudos.templates.render import (
    SAMPLE_CONTEXT,
    RenderContext,
    RenderResult,
    check_with_docker,
    render,
    validate_template,
)
from cloudos.templates.values import generate_secret, sample_value

__all__ = [
    "MODIFIER_FORMAT",
    "SAMPLE_CONTEXT",
    "TEMPLATE_FORMAT",
    "AttachedModifier",
    "Change",
    "Icon",
    "Modifier",
    "ModifierUse",
    "Parameter",
    "Problem",
    "RenderContext",
    "RenderResult",
    "Route",
    "StackConfigRunner",
    "Template",
    "TemplateError",
    "builtin_modifiers",
    "catalog_dir",
    "check_with_docker",
    "compose_schema",
    "format_path",
    "generate_secret",
    "icon_of",
    "load_catalog_templates",
    "load_document",
    "load_modifier",
    "load_template",
    "modifier_from_dict",
    "modifier_from_text",
    "render",
    "sample_value",
    "template_from_dict",
    "template_from_text",
    "validate_template",
]
