"""Small builders for template and modifier documents."""

from __future__ import annotations

from typing import Any

from cloudos.templates import Modifier, Template, modifier_from_dict, template_from_dict


def template_doc(**overrides: Any) -> dict[str, Any]:
    """A minimal valid template document; keyword arguments replace top-level keys."""
    doc: dict[str, Any] = {
        "format": "cloudos.template/v1",
        "id": "org.example.app",
        "version": "1.0.0",
        "name": "App",
        "services": {"web": {"image": "example/web:1"}},
    }
    doc.update(overrides)
    return doc


def make_template(**overrides: Any) -> Template:
    """A loaded template (see :func:`template_doc`)."""
    return template_from_dict(template_doc(**overrides))


def make_modifier(
    operations: list[dict[str, Any]],
    *,
    id: str = "org.example.mod",
    priority: int = 50,
    parameters: dict[str, Any] | None = None,
) -> Modifier:
    """A loaded modifier with the given operations."""
    return modifier_from_dict(
        {
            "format": "cloudos.modifier/v1",
            "id": id,
            "version": "1.0.0",
            "priority": priority,
            "parameters": parameters or {},
            "operations": operations,
        }
    )
