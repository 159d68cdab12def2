"""Import plain docker-compose files (format 2, 3 and the Compose Specification).

Compose's own variables become parameters: ``${VAR}`` (required, unless it looks
like a password: then generated), ``${VAR:-default}`` / ``${VAR-default}`` (with a
default), ``${VAR:?message}`` (required, the message is its description) and
``$VAR``. ``$$`` stays a literal ``$``. A parameter's type is guessed from its name
and default: ``*PORT*`` with a port number gives ``port``, ``*PASSWORD*``,
``*SECRET*``, ``*TOKEN*``, ``*KEY*`` give a ``password``; the rest are strings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cloudos.templates.importers._common import (
    DEFAULT_VERSION,
    ImportResult,
    Report,
    convert_networks,
    convert_services,
    failed,
    finish,
    guess_parameter,
    image_tag,
    param_name,
    semver_from_tag,
    slugify,
)
from cloudos.templates.model import TEMPLATE_FORMAT
from cloudos.templates.problems import DocPath

ID_PREFIX = "local.compose"
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPRESSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", re.DOTALL)
_SECTIONS = ("services", "volumes", "networks", "configs", "secrets")
_COMPOSE_NAMES = ("docker-compose", "compose")


class Variables:
    """Compose ``${VAR...}`` expressions turned into template text and parameters."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.parameters: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}  # Compose variable -> parameter name

    def parameter_for(self, variable: str) -> str | None:
        """The parameter a Compose variable became (``None`` when it is not used)."""
        return self._names.get(variable)

    def text(self, value: str, path: DocPath) -> str:
        """Template text for a Compose string (literal ``$`` written ``$$``)."""
        if "$" not in value:
            return value
        out: list[str] = []
        pos = 0
        while pos < len(value):
            char = value[pos]
            if char != "$":
                out.append(char)
                pos += 1
                continue
            nxt = value[pos + 1 : pos + 2]
            if nxt == "$":
                out.append("$$")
                pos += 2
            elif nxt == "{":
                end = _closing_brace(value, pos + 2)
                if end < 0:
                    self.report.warn(path, "an unclosed '${' is kept as literal text")
                    out.append("$$")
                    pos += 1
                    continue
                out.append(self._expression(value[pos + 2 : end], path))
                pos = end + 1
            else:
                match = _VAR.match(value, pos + 1)
                if match is None:
                    out.append("$$")
                    pos += 1
                else:
                    out.append(self._reference(match.group(0), None, None, path))
                    pos = match.end()
        return "".join(out)

    def _expression(self, inner: str, path: DocPath) -> str:
        match = _EXPRESSION.match(inner)
        if match is None:
            self.report.warn(path, f"'${{{inner}}}' is not a Compose variable; kept as text")
            return "$${" + inner.replace("$", "$$") + "}"
        name, operator, rest = match.groups()
        if operator in (":+", "+"):
            self.report.warn(
                path,
                f"'${{{inner}}}' (a value only when {name} is set) cannot be carried over; "
                "it is left empty",
            )
            return ""
        if operator in (":-", "-"):
            default_text = self.text(rest, path)
            if "${" in default_text.replace("$$", ""):
                self.report.warn(
                    path,
                    f"the default of {name} uses another variable; that variable is used instead",
                )
                return default_text
            return self._reference(name, default_text.replace("$$", "$"), None, path)
        if operator in (":?", "?"):
            return self._reference(name, None, rest or f"{name} is required", path)
        return self._reference(name, None, None, path)

    def _reference(
        self, variable: str, default: str | None, required_message: str | None, path: DocPath
    ) -> str:
        name = self._names.get(variable)
        if name is None:
            name = param_name(variable, self.parameters)
            self._names[variable] = name
            param = guess_parameter(variable, default)
            param["label"] = variable
            if default is None and "generate" not in param:
                param["required"] = True
            if required_message is not None:
                param["description"] = required_message
            self.parameters[name] = param
            return "${" + name + "}"
        param = self.parameters[name]
        if default is not None:
            old = param.get("default")
            fresh = guess_parameter(variable, default).get("default")
            if old is None:
                param.pop("required", None)
                param.pop("generate", None)
                param["default"] = fresh
            elif old != fresh:
                self.report.warn(
                    path, f"{variable} has another default here ({default!r}); {old!r} is kept"
                )
        return "${" + name + "}"

    def convert(self, node: Any, path: DocPath) -> Any:
        """A copy of ``node`` with every string (keys too) as template text."""
        if isinstance(node, str):
            return self.text(node, path)
        if isinstance(node, dict):
            return {
                self.text(str(key), (*path, str(key))): self.convert(value, (*path, str(key)))
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [self.convert(item, (*path, index)) for index, item in enumerate(node)]
        return node


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def slug_for(path: Path) -> str:
    """The app's name from a file name (its folder's for ``docker-compose.yml``)."""
    stem = path.stem
    base = stem.split(".", 1)[0]
    if base in _COMPOSE_NAMES and path.parent.name:
        return slugify(path.resolve().parent.name)
    return slugify(stem)


def load_compose_text(text: str, *, source: str, report: Report) -> Any:
    """Parse Compose YAML, recording a parse error (with its line) in ``report``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        report.fail((), f"not valid YAML: {where}{problem}")
        return None


def import_compose(
    text: str,
    *,
    source: str,
    slug: str,
    parameters: dict[str, dict[str, Any]] | None = None,
    identity: dict[str, Any] | None = None,
) -> ImportResult:
    """Convert one Compose file's text into a template.

    ``parameters`` overrides what is known about some variables (e.g. Portainer's
    labels and choices), keyed by the Compose variable name; ``identity`` gives the
    template's top-level fields (id, name, description, ...).
    """
    report = Report()
    data = load_compose_text(text, source=source, report=report)
    if report.errors:
        return failed(source, slug, report)
    return convert_compose(
        data, source=source, slug=slug, report=report, parameters=parameters, identity=identity
    )


def convert_compose(
    data: Any,
    *,
    source: str,
    slug: str,
    report: Report,
    parameters: dict[str, dict[str, Any]] | None = None,
    identity: dict[str, Any] | None = None,
) -> ImportResult:
    """Convert parsed Compose data into a template (see :func:`import_compose`)."""
    if not isinstance(data, dict):
        report.fail((), "not a Compose file (expected a mapping with 'services')")
        return failed(source, slug, report)
    version = str(data.get("version", ""))
    if "services" not in data:
        if version.startswith("1") or (data and all(isinstance(v, dict) for v in data.values())):
            report.fail((), "Compose file format 1 (services at the top level) is not supported")
        else:
            report.fail((), "no 'services' section")
        return failed(source, slug, report)
    if not isinstance(data["services"], dict) or not data["services"]:
        report.fail(("services",), "expected a non-empty mapping of services")
        return failed(source, slug, report)
    for key in data:
        if key not in (*_SECTIONS, "version", "name") and not str(key).startswith("x-"):
            report.warn((str(key),), "dropped: not part of a stack")
    variables = Variables(report)
    sections = {key: variables.convert(data.get(key) or {}, (key,)) for key in _SECTIONS}
    volumes = dict(sections["volumes"]) if isinstance(sections["volumes"], dict) else {}
    services = convert_services(sections["services"], report, volumes=volumes)
    for name, override in (parameters or {}).items():
        target = variables.parameter_for(name)
        if target is not None:
            variables.parameters[target] = {"label": name, **override}
    identity = identity or {}
    name = identity.get("name") or str(data.get("name") or slug)
    document: dict[str, Any] = {
        "format": TEMPLATE_FORMAT,
        "id": identity.get("id") or f"{ID_PREFIX}.{slugify(name)}",
        "version": identity.get("version") or _version(services, variables.parameters),
        "name": name,
        **{k: v for k, v in identity.items() if k not in ("id", "name", "version")},
        "parameters": variables.parameters,
        "services": services,
        "volumes": volumes,
        "networks": convert_networks(sections["networks"], report),
        "configs": _file_objects(sections["configs"], "configs", report),
        "secrets": _file_objects(sections["secrets"], "secrets", report),
    }
    return finish(document, source=source, slug=slug, report=report)


def _version(services: dict[str, Any], parameters: dict[str, dict[str, Any]]) -> str:
    for service in services.values():
        image = service.get("image")
        if isinstance(image, str):
            resolved = re.sub(
                r"\$\{([a-z0-9_]+)\}",
                lambda m: str(parameters.get(m.group(1), {}).get("default", "")),
                image,
            )
            return semver_from_tag(image_tag(resolved)) or DEFAULT_VERSION
    return DEFAULT_VERSION


def _file_objects(section: Any, kind: str, report: Report) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {}
    out: dict[str, Any] = {}
    for name, spec in section.items():
        if isinstance(spec, dict) and "file" in spec:
            report.warn(
                (kind, name, "file"),
                f"the file {spec['file']!r} is not part of the template: "
                f"create the {kind[:-1]} in the swarm first (now external)",
            )
            spec = {"external": True}
        elif isinstance(spec, dict) and "environment" in spec:
            report.warn((kind, name), "a value from the environment is not supported (external)")
            spec = {"external": True}
        out[name] = spec if isinstance(spec, dict) else {"external": True}
    return out


def import_compose_file(path: Path) -> ImportResult:
    """Convert one Compose file into a template."""
    slug = slug_for(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        report = Report()
        report.fail((), f"cannot read the file: {err}")
        return failed(str(path), slug, report)
    return import_compose(text, source=str(path), slug=slug)


__all__ = ["ID_PREFIX", "Variables", "import_compose", "import_compose_file", "slug_for"]
