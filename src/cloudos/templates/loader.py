"""Loading templates and modifiers: from a file, from text, or from a plain dict.

Every route ends in :func:`template_from_dict` / :func:`modifier_from_dict`, which is
what importers call with the dict they build. Errors come back as one
:class:`TemplateError` whose problems carry the file, line, column and document path
(``services.web.ports[0]``) of each finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cloudos.templates._yaml import parse_yaml
from cloudos.templates.icons import Icon, is_remote_icon, read_icon
from cloudos.templates.model import Modifier, Parameter, Template
from cloudos.templates.problems import (
    Problem,
    SourceMap,
    TemplateError,
    existing_prefix,
    problem_at,
)
from cloudos.templates.substitution import PlaceholderError, references, walk_strings
from cloudos.templates.values import ValueProblem, coerce

BUILTIN_NAMES = frozenset(
    {"app.name", "app.hostname", "space.name", "space.domain", "template.id", "template.version"}
)
ADDON_KEYS: Mapping[str, frozenset[str]] = {
    "mysql": frozenset({"host", "port", "database", "user", "password"}),
    "postgresql": frozenset({"host", "port", "database", "user", "password"}),
    "redis": frozenset({"host", "port", "password"}),
    "smtp": frozenset({"host", "port", "user", "password", "from"}),
    "sso": frozenset({"issuer", "client_id", "client_secret"}),
}
_COMPOSE_SECTIONS = ("services", "volumes", "networks", "configs", "secrets")
_M = TypeVar("_M", bound=BaseModel)


def load_template(path: str | Path) -> Template:
    """Load and check a template file, and the icon file it names beside it."""
    return _with_icon(template_from_text(_read(path), source=str(path)), Path(path).parent)


def template_from_text(text: str, *, source: str = "<string>") -> Template:
    """Load and check a template from YAML text."""
    data, source_map = parse_yaml(text, source=source)
    return template_from_dict(data, source_map=source_map)


def template_from_dict(
    data: object, *, source: str = "<dict>", source_map: SourceMap | None = None
) -> Template:
    """Check a template given as plain data (what importers produce)."""
    source_map = source_map or SourceMap(source=source)
    template = _validate(Template, data, source_map)
    problems = _check_parameters(template.parameters, source_map)
    problems += _check_references(template, data, source_map)
    if problems:
        raise TemplateError(problems)
    template._source_map = source_map
    return template


def load_modifier(path: str | Path) -> Modifier:
    """Load and check a modifier file."""
    return modifier_from_text(_read(path), source=str(path))


def modifier_from_text(text: str, *, source: str = "<string>") -> Modifier:
    """Load and check a modifier from YAML text."""
    data, source_map = parse_yaml(text, source=source)
    return modifier_from_dict(data, source_map=source_map)


def modifier_from_dict(
    data: object, *, source: str = "<dict>", source_map: SourceMap | None = None
) -> Modifier:
    """Check a modifier given as plain data."""
    source_map = source_map or SourceMap(source=source)
    modifier = _validate(Modifier, data, source_map)
    problems = _check_parameters(modifier.parameters, source_map)
    known = BUILTIN_NAMES | set(modifier.parameters) | {"current"}
    for path, text in walk_strings(data.get("operations") if isinstance(data, dict) else None):
        problems += _check_string(text, ("operations", *path), known, source_map)
    if problems:
        raise TemplateError(problems)
    modifier._source_map = source_map
    return modifier


def source_map_of(model: Template | Modifier) -> SourceMap | None:
    """The source map a template or modifier was loaded with (if any)."""
    return model._source_map


def icon_of(template: Template) -> Icon | None:
    """The icon file of a template loaded from its folder (``None`` for none or a URL)."""
    return template._icon


def _with_icon(template: Template, folder: Path) -> Template:
    """Read the icon file the template names; a problem points at its ``icon`` line."""
    if template.icon is None or is_remote_icon(template.icon):
        return template
    try:
        template._icon = read_icon(folder, template.icon)
    except ValueError as err:
        raise TemplateError([problem_at(str(err), ("icon",), template._source_map, None)]) from err
    return template


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TemplateError([Problem(f"cannot read the file: {err}", source=str(path))]) from err


def _validate(model: type[_M], data: object, source_map: SourceMap) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for item in err.errors(include_url=False):
            loc = item["loc"]
            path = existing_prefix(data, loc)
            message = _message(item, loc, path)
            problems.append(problem_at(message, path, source_map, None))
        raise TemplateError(problems) from err


def _message(item: Any, loc: tuple[Any, ...], path: tuple[Any, ...]) -> str:
    kind = item["type"]
    rest = [part for part in loc[len(path) :] if isinstance(part, str | int)]
    if kind == "missing":
        return f"missing required key {rest[-1]!r}" if rest else "missing required key"
    if kind == "extra_forbidden":
        return "unknown key (not part of the format)"
    message = str(item["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "literal_error" and "format" in loc[:1]:
        message += " (this format is 'cloudos.template/v1' or 'cloudos.modifier/v1')"
    return message


def _check_parameters(parameters: Mapping[str, Parameter], source_map: SourceMap) -> list[Problem]:
    problems = []
    for name, param in parameters.items():
        if param.default is None:
            continue
        try:
            coerce(param, param.default)
        except ValueProblem as err:
            path = ("parameters", name, "default")
            problems.append(problem_at(f"bad default: {err}", path, source_map, None))
    return problems


def _check_references(template: Template, data: object, source_map: SourceMap) -> list[Problem]:
    known = set(BUILTIN_NAMES) | set(template.parameters)
    for addon in template.addons:
        known |= {f"addons.{addon}.{key}" for key in ADDON_KEYS[addon]}
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return problems
    for section in (*_COMPOSE_SECTIONS, "modifiers"):
        bad_key = _non_string_key(data.get(section), (section,))
        if bad_key is not None:
            message = f"key {bad_key[-1]!r} is not a string (quote it)"
            problems.append(problem_at(message, bad_key[:-1], source_map, None))
        for path, text in walk_strings(data.get(section), (section,)):
            problems += _check_string(text, path, known, source_map)
    return problems


def _non_string_key(node: object, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                return (*path, key)
            found = _non_string_key(value, (*path, key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found = _non_string_key(item, (*path, index))
            if found is not None:
                return found
    return None


def _check_string(
    text: str, path: tuple[str | int, ...], known: set[str] | frozenset[str], source_map: SourceMap
) -> list[Problem]:
    try:
        names = references(text)
    except PlaceholderError as err:
        return [problem_at(str(err), path, source_map, None)]
    unknown = [name for name in names if name not in known]
    if not unknown:
        return []
    hint = ""
    if unknown[0].startswith("addons."):
        hint = " (declare the addon under 'addons'; its values are host, port, ...)"
    message = f"${{{unknown[0]}}} is not a parameter or built-in value{hint}"
    return [problem_at(message, path, source_map, None)]


__all__ = [
    "ADDON_KEYS",
    "BUILTIN_NAMES",
    "icon_of",
    "load_document",
    "load_modifier",
    "load_template",
    "modifier_from_dict",
    "modifier_from_text",
    "source_map_of",
    "template_from_dict",
    "template_from_text",
]


def load_document(path: str | Path) -> Template | Modifier:
    """Load a template or a modifier file, whichever its ``format`` key says."""
    text = _read(path)
    data, source_map = parse_yaml(text, source=str(path))
    kind = data.get("format") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind.startswith("cloudos.modifier/"):
        return modifier_from_dict(data, source_map=source_map)
    return _with_icon(template_from_dict(data, source_map=source_map), Path(path).parent)
