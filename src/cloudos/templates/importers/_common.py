"""What every importer shares: the result type, the report, Compose service clean-up.

Importers work in two passes. A format-specific pass turns the source's variables
into template text (``${param}``, built-ins, and ``$$`` for every literal ``$``) and
renames services and volumes; the shared pass here then makes each service fit a
Swarm stack (Compose file format 3.8), recording in the :class:`Report` everything it
had to drop or change. :func:`finish` hands the document to the real loader and
renders it once with sample values, so a converted template is always valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from cloudos.templates.compose import compose_schema
from cloudos.templates.loader import template_from_dict
from cloudos.templates.model import RESERVED_NAMES, Template
from cloudos.templates.problems import DocPath, TemplateError, format_path
from cloudos.templates.render import validate_template

DEFAULT_VERSION = "1.0.0"
_TOP_ORDER = (
    "format",
    "id",
    "version",
    "name",
    "description",
    "icon",
    "vendor",
    "website",
    "license",
    "categories",
    "parameters",
    "routes",
    "services",
    "volumes",
    "networks",
    "configs",
    "secrets",
)
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|(^|_)KEY($|_)|PRIVATE|SALT", re.IGNORECASE)
_PORT_NAME = re.compile(r"PORT", re.IGNORECASE)
_RESTART = {"always": "any", "unless-stopped": "any", "on-failure": "on-failure", "no": "none"}
_V2_RESOURCES = {
    "mem_limit": ("limits", "memory"),
    "cpus": ("limits", "cpus"),
    "mem_reservation": ("reservations", "memory"),
}
# Compose keys `docker stack deploy` ignores or refuses, and why they are dropped.
_UNSUPPORTED = {
    "build": "a stack cannot build images; build and push the image, then set 'image'",
    "container_name": "Swarm names containers itself",
    "links": "Swarm has no links; services reach each other by service name",
    "external_links": "Swarm has no links",
    "privileged": "Swarm services cannot run privileged",
    "network_mode": "Swarm services cannot use another network mode",
    "devices": "Swarm services cannot map host devices",
    "cgroup_parent": "not supported by Swarm",
    "userns_mode": "not supported by Swarm",
    "security_opt": "not supported by Swarm",
    "env_file": "the file is not part of the template; set the variables under 'environment'",
    "volumes_from": "not supported by Swarm; share a named volume instead",
    "extends": "not supported; merge the extended service by hand",
    "profiles": "a template always runs every service",
    "pull_policy": "not supported by Swarm",
    "mem_swappiness": "not supported by Swarm",
    "memswap_limit": "not supported by Swarm",
    "cpu_shares": "not supported by Swarm; use deploy.resources",
    "cpu_quota": "not supported by Swarm; use deploy.resources",
    "cpuset": "not supported by Swarm",
    "oom_score_adj": "not supported by Swarm",
    "scale": "use deploy.replicas",
}


@dataclass
class Report:
    """Warnings and errors collected while converting one app."""

    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def warn(self, path: DocPath, message: str) -> None:
        """Record something that could not be carried over as it was."""
        text = f"{format_path(path)}: {message}" if path else message
        if text not in self.warnings:
            self.warnings.append(text)

    def fail(self, path: DocPath, message: str) -> None:
        """Record a reason why the app cannot be converted."""
        text = f"{format_path(path)}: {message}" if path else message
        if text not in self.errors:
            self.errors.append(text)


@dataclass(frozen=True)
class ImportResult:
    """One app converted (``template`` set) or not (``errors`` say why)."""

    source: str
    slug: str
    template: Template | None
    document: dict[str, Any] | None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def converted(self) -> bool:
        """Whether a valid template came out."""
        return self.template is not None

    def yaml(self) -> str:
        """The template as YAML text (only for a converted app)."""
        if self.document is None:
            raise ValueError(f"{self.source}: not converted")
        return dump_template(self.document)


def failed(source: str, slug: str, report: Report) -> ImportResult:
    """A result for an app that could not be converted."""
    return ImportResult(
        source=source,
        slug=slug,
        template=None,
        document=None,
        warnings=tuple(report.warnings),
        errors=tuple(report.errors),
    )


def finish(document: dict[str, Any], *, source: str, slug: str, report: Report) -> ImportResult:
    """Check ``document`` with the loader and a sample render; the import's result."""
    if report.errors:
        return failed(source, slug, report)
    ordered = {key: document[key] for key in _TOP_ORDER if document.get(key) not in (None, {}, [])}
    try:
        template = template_from_dict(ordered, source=source)
        validate_template(template)
    except TemplateError as err:
        for problem in err.problems:
            shown = format_path(problem.path) + ": " if problem.path else ""
            report.fail((), f"the converted template is not valid: {shown}{problem.message}")
        return failed(source, slug, report)
    return ImportResult(
        source=source,
        slug=slug,
        template=template,
        document=ordered,
        warnings=tuple(report.warnings),
        errors=(),
    )


class _TemplateDumper(yaml.SafeDumper):
    """Readable template YAML: block style, no anchors, ``|`` for multi-line text."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.strip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_TemplateDumper.add_representer(str, _represent_str)


def dump_template(document: Mapping[str, Any]) -> str:
    """A template document as YAML text (keys in the order the importer built them)."""
    return yaml.dump(
        dict(document),
        Dumper=_TemplateDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def escape(text: str) -> str:
    """Literal text as template text (``$`` written ``$$``)."""
    return text.replace("$", "$$")


def slugify(text: str, *, fallback: str = "app") -> str:
    """A lower-case name of letters, digits and ``-`` (for ids and file names)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].strip("-") or fallback


def service_name(text: str, taken: Iterable[str] = ()) -> str:
    """A valid Compose name for ``text``, distinct from ``taken``."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", text).strip("-.") or "service"
    name, counter, used = base, 2, set(taken)
    while name in used:
        name, counter = f"{base}-{counter}", counter + 1
    return name


def param_name(text: str, taken: Iterable[str] = ()) -> str:
    """A valid parameter name (``[a-z_][a-z0-9_]*``, not reserved) for ``text``."""
    base = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "value"
    if base[0].isdigit():
        base = f"v_{base}"
    base = base[:60]
    if base in RESERVED_NAMES:
        base = f"{base}_value"
    name, counter, used = base, 2, set(taken)
    while name in used:
        name, counter = f"{base}_{counter}", counter + 1
    return name


def semver_from_tag(tag: str | None) -> str | None:
    """``1.2.3`` from an image tag such as ``v1.2``, ``1.2.3-alpine`` or ``2024.04.1``."""
    if not tag:
        return None
    match = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", tag)
    if match is None:
        return None
    parts = [int(part) if part else 0 for part in match.groups()]
    return ".".join(str(part) for part in parts)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``None`` without one, or with a digest only)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def guess_parameter(name: str, default: str | None) -> dict[str, Any]:
    """A parameter for a plain variable: port, password or string, from its name and value."""
    if _PORT_NAME.search(name) and (default is None or _is_port(default)):
        param: dict[str, Any] = {"type": "port"}
        if default is not None:
            param["default"] = int(default)
        return param
    if _SECRET_NAME.search(name):
        param = {"type": "password"}
        if default:
            param["default"] = default
        else:
            param["generate"] = {"length": 24}
        return param
    param = {"type": "text" if default is not None and "\n" in default else "string"}
    if default is not None:
        param["default"] = default
    return param


def _is_port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _service_keys() -> frozenset[str]:
    properties = compose_schema()["definitions"]["service"]["properties"]
    return frozenset(properties)


def convert_services(
    services: Mapping[str, Any],
    report: Report,
    *,
    volumes: dict[str, Any],
    extra_keys: Mapping[str, Callable[[str, Any], None]] | None = None,
) -> dict[str, Any]:
    """Make every service fit a Swarm stack; named volumes used get declared in ``volumes``.

    ``extra_keys`` handles format-specific keys (called with the service name and the
    value; the key is then dropped).
    """
    known = _service_keys()
    out: dict[str, Any] = {}
    for name, raw in services.items():
        path: DocPath = ("services", name)
        if not isinstance(raw, dict):
            report.fail(path, "a service must be a mapping")
            continue
        service: dict[str, Any] = {}
        for key, value in raw.items():
            if extra_keys and key in extra_keys:
                extra_keys[key](name, value)
            elif key in _UNSUPPORTED:
                report.warn((*path, key), f"dropped: {_UNSUPPORTED[key]}")
            elif key in _V2_RESOURCES:
                section, field_name = _V2_RESOURCES[key]
                resources = service.setdefault("deploy", {}).setdefault("resources", {})
                resources.setdefault(section, {})[field_name] = str(value)
            elif key == "restart":
                _restart(service, value, report, (*path, key))
            elif key == "depends_on":
                service[key] = _depends_on(value, report, (*path, key))
            elif key == "volumes":
                service[key] = _volumes(value, volumes, report, (*path, key))
            elif key == "deploy" and isinstance(value, dict):
                service[key] = {**service.get(key, {}), **value}
            elif key.startswith("x-"):
                continue
            elif key not in known:
                report.warn((*path, key), "dropped: not a Compose file format 3.8 key")
            else:
                service[key] = value
        if "image" not in service:
            report.fail(path, "no image (a stack cannot build one)")
        out[name] = service
    return out


def _restart(service: dict[str, Any], value: Any, report: Report, path: DocPath) -> None:
    text = str(value).split(":", 1)[0]
    condition = _RESTART.get(text)
    if condition is None:
        report.warn(path, f"dropped: unknown restart policy {value!r}")
        return
    deploy = service.setdefault("deploy", {})
    deploy.setdefault("restart_policy", {}).setdefault("condition", condition)


def _depends_on(value: Any, report: Report, path: DocPath) -> list[str]:
    if isinstance(value, dict):
        conditions = sorted(
            name
            for name, spec in value.items()
            if isinstance(spec, dict) and spec.get("condition") not in (None, "service_started")
        )
        if conditions:
            report.warn(path, f"start conditions dropped for {', '.join(conditions)}")
        return [str(name) for name in value]
    if isinstance(value, list):
        return [str(name) for name in value]
    return [str(value)]


def _volumes(value: Any, declared: dict[str, Any], report: Report, path: DocPath) -> Any:
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for index, entry in enumerate(value):
        where = (*path, index)
        if isinstance(entry, dict):
            source = entry.get("source")
            if entry.get("type") == "bind" and isinstance(source, str):
                _warn_host_path(source, report, where)
            elif entry.get("type", "volume") == "volume" and isinstance(source, str) and source:
                declared.setdefault(source, None)
            out.append(entry)
            continue
        text = str(entry)
        source, sep, rest = text.partition(":")
        if not sep:
            out.append(text)  # an anonymous volume
        elif source.startswith(("/", "~", "$${", "${")) or re.match(r"^[A-Za-z]:\\", source):
            if source.startswith(("/", "~")):
                _warn_host_path(source, report, where)
            else:
                report.warn(where, f"the source {source!r} is a parameter: a host path or volume")
            out.append(text)
        elif source.startswith("."):
            name = service_name(slugify(source.lstrip("./"), fallback="data"))
            report.warn(
                where,
                f"the project path {source!r} became the named volume {name!r} "
                "(files in the project folder are not copied)",
            )
            declared.setdefault(name, None)
            out.append(f"{name}:{rest}")
        else:
            declared.setdefault(source, None)
            out.append(text)
    return out


def _warn_host_path(source: str, report: Report, path: DocPath) -> None:
    if "docker.sock" in source:
        report.warn(path, f"mounts the Docker socket {source!r}: the app controls the engine")
    else:
        report.warn(path, f"mounts the host path {source!r}: it must exist on the node")


def convert_networks(networks: Any, report: Report) -> dict[str, Any]:
    """Top-level networks for a stack: local drivers are dropped (stacks use overlay)."""
    if not isinstance(networks, dict):
        return {}
    out: dict[str, Any] = {}
    for name, spec in networks.items():
        if isinstance(spec, dict) and spec.get("driver") in ("bridge", "host", "none"):
            report.warn(("networks", name, "driver"), "dropped: a stack network is an overlay")
            spec = {key: value for key, value in spec.items() if key != "driver"} or None
        out[name] = spec
    return out


__all__ = [
    "DEFAULT_VERSION",
    "ImportResult",
    "Report",
    "convert_networks",
    "convert_services",
    "dump_template",
    "escape",
    "failed",
    "finish",
    "guess_parameter",
    "image_tag",
    "param_name",
    "semver_from_tag",
    "service_name",
    "slugify",
]
