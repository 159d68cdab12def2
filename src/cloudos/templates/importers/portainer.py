"""Import Portainer app templates (JSON format versions 2 and 3).

A file holds ``{"version": "2"|"3", "templates": [...]}``; each entry is one app.
Type 1 (a container) is converted field by field. Types 2 (Swarm stack) and 3
(Compose stack) point at a Git repository and a stack file, which this offline,
pure importer does not fetch: they fail with that reason, unless the entry carries
the Compose text inline (``stackFileContent``, as Portainer's custom templates do),
which goes through the Compose importer with the entry's ``env`` as parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudos.templates.icons import is_remote_icon
from cloudos.templates.importers._common import (
    DEFAULT_VERSION,
    ImportResult,
    Report,
    convert_services,
    escape,
    failed,
    finish,
    guess_parameter,
    image_tag,
    param_name,
    semver_from_tag,
    service_name,
    slugify,
)
from cloudos.templates.importers.compose import convert_compose, load_compose_text
from cloudos.templates.model import TEMPLATE_FORMAT
from cloudos.templates.problems import DocPath

ID_PREFIX = "local.portainer"
_RESTART = {"always", "unless-stopped", "on-failure", "no"}
# Cloud OS works with no internet: a vendor's logo URL is kept for reference only.
_REMOTE_LOGO = (
    "kept as 'icon' but never loaded (the interface shows the initial): save the image "
    "beside template.yaml and name the file in 'icon'"
)
_INLINE_KEYS = ("stackFileContent", "stackfile_content", "compose")


def import_portainer(text: str, *, source: str) -> list[ImportResult]:
    """Convert every template of a Portainer templates file (JSON text)."""
    report = Report()
    try:
        data = json.loads(text)
    except ValueError as err:
        report.fail((), f"not valid JSON: {err}")
        return [failed(source, slugify(Path(source).stem), report)]
    if isinstance(data, list):  # a bare list of templates (version 1 style)
        data = {"version": "1", "templates": data}
    if not isinstance(data, dict) or not isinstance(data.get("templates"), list):
        report.fail((), "not a Portainer templates file (expected 'templates': [...])")
        return [failed(source, slugify(Path(source).stem), report)]
    version = str(data.get("version", ""))
    if version not in ("2", "3"):
        report.fail(("version",), f"format version {version!r}: only versions 2 and 3")
        return [failed(source, slugify(Path(source).stem), report)]
    return [
        import_entry(entry, source=f"{source}#{index}", index=index)
        for index, entry in enumerate(data["templates"])
    ]


def import_entry(entry: Any, *, source: str, index: int = 0) -> ImportResult:
    """Convert one Portainer template entry."""
    report = Report()
    if not isinstance(entry, dict):
        report.fail(("templates", index), "a template must be an object")
        return failed(source, f"template-{index}", report)
    title = str(entry.get("title") or entry.get("name") or f"template-{index}")
    slug = slugify(title, fallback=f"template-{index}")
    identity = _identity(entry, title, slug, report)
    kind = entry.get("type", 1)
    if kind in (2, 3, "2", "3"):
        return _stack(entry, source=source, slug=slug, identity=identity, report=report)
    if kind not in (1, "1"):
        report.fail(("type",), f"unknown template type {kind!r}")
        return failed(source, slug, report)
    return _container(entry, source=source, slug=slug, identity=identity, report=report)


def _identity(entry: dict[str, Any], title: str, slug: str, report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"{ID_PREFIX}.{slug}", "name": title[:100]}
    description = entry.get("description")
    if isinstance(description, str) and description.strip():
        out["description"] = description.strip()
    logo = entry.get("logo")
    if isinstance(logo, str) and is_remote_icon(logo):
        out["icon"] = logo
        report.warn(("logo",), _REMOTE_LOGO)
    elif logo:
        report.warn(("logo",), f"dropped: {str(logo)[:80]!r} is not an image URL")
    categories = entry.get("categories")
    if isinstance(categories, list):
        out["categories"] = [slugify(str(c)) for c in categories if str(c).strip()]
    maintainer = entry.get("maintainer")
    if isinstance(maintainer, str) and maintainer.strip():
        out["vendor"] = maintainer.strip()
    return out


def _env_parameters(
    env: Any, report: Report
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    """Parameters, fixed values, and variable -> parameter name, from ``env``."""
    parameters: dict[str, dict[str, Any]] = {}
    fixed: dict[str, str] = {}
    names: dict[str, str] = {}
    for index, item in enumerate(env if isinstance(env, list) else []):
        path: DocPath = ("env", index)
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            report.warn(path, "an entry without a name is ignored")
            continue
        variable = item["name"]
        default = item.get("default")
        default = None if default is None else str(default)
        if item.get("preset"):
            fixed[variable] = default or ""
            continue
        choices = item.get("select")
        if isinstance(choices, list) and choices:
            values = [str(c.get("value", "")) for c in choices if isinstance(c, dict)]
            chosen = [
                str(c.get("value")) for c in choices if isinstance(c, dict) and c.get("default")
            ]
            param: dict[str, Any] = {"type": "enum", "choices": values}
            if chosen or default is not None:
                param["default"] = chosen[0] if chosen else default
        else:
            param = guess_parameter(variable, default or None)
        param = {"type": param.pop("type"), "label": str(item.get("label") or variable), **param}
        description = item.get("description")
        if isinstance(description, str) and description.strip():
            param["description"] = description.strip()
        name = param_name(variable, parameters)
        parameters[name] = param
        names[variable] = name
    return parameters, fixed, names


def _container(
    entry: dict[str, Any], *, source: str, slug: str, identity: dict[str, Any], report: Report
) -> ImportResult:
    image = entry.get("image")
    if not isinstance(image, str) or not image:
        report.fail(("image",), "a container template needs an image")
        return failed(source, slug, report)
    registry = entry.get("registry")
    if isinstance(registry, str) and registry:
        image = f"{registry.rstrip('/')}/{image}"
    parameters, fixed, names = _env_parameters(entry.get("env"), report)
    service: dict[str, Any] = {"image": escape(image)}
    environment = {key: escape(value) for key, value in fixed.items()}
    environment.update({variable: "${" + name + "}" for variable, name in names.items()})
    if environment:
        service["environment"] = environment
    if entry.get("command"):
        service["command"] = escape(str(entry["command"]))
    ports = [str(port) for port in entry.get("ports") or []]
    if ports:
        service["ports"] = ports
    volumes = [_volume(item) for item in entry.get("volumes") or [] if isinstance(item, dict)]
    if volumes:
        service["volumes"] = volumes
    labels = entry.get("labels")
    if isinstance(labels, list) and labels:
        service["labels"] = {
            str(item.get("name")): escape(str(item.get("value", "")))
            for item in labels
            if isinstance(item, dict) and item.get("name")
        }
    if entry.get("hostname"):
        service["hostname"] = escape(str(entry["hostname"]))
    if entry.get("interactive"):
        service["stdin_open"] = True
        service["tty"] = True
    policy = entry.get("restart_policy")
    if isinstance(policy, str) and policy in _RESTART:
        service["restart"] = policy
    if entry.get("privileged"):
        service["privileged"] = True
    network = entry.get("network")
    if isinstance(network, str) and network:
        report.warn(("network",), f"dropped: the network {network!r} (a stack has its own)")
    if entry.get("name"):
        service["container_name"] = str(entry["name"])
    name = service_name(slug)
    declared: dict[str, Any] = {}
    services = convert_services({name: service}, report, volumes=declared)
    document: dict[str, Any] = {
        "format": TEMPLATE_FORMAT,
        **identity,
        "version": semver_from_tag(image_tag(image)) or DEFAULT_VERSION,
        "parameters": parameters,
        "services": services,
        "volumes": declared,
    }
    return finish(document, source=source, slug=slug, report=report)


def _volume(item: dict[str, Any]) -> str:
    container = str(item.get("container", ""))
    suffix = ":ro" if item.get("readonly") else ""
    bind = item.get("bind")
    if isinstance(bind, str) and bind:
        return f"{escape(bind)}:{escape(container)}{suffix}"
    name = service_name(slugify(container, fallback="data"))
    return f"{name}:{escape(container)}{suffix}"


def _stack(
    entry: dict[str, Any], *, source: str, slug: str, identity: dict[str, Any], report: Report
) -> ImportResult:
    inline = next((entry[k] for k in _INLINE_KEYS if isinstance(entry.get(k), str)), None)
    if inline is None:
        repository = entry.get("repository") or {}
        url = repository.get("url", "?") if isinstance(repository, dict) else "?"
        stackfile = repository.get("stackfile", "?") if isinstance(repository, dict) else "?"
        report.fail(
            ("repository",),
            f"the stack file {stackfile} is in the repository {url}, which is not fetched: "
            "download it and import it with --from compose",
        )
        return failed(source, slug, report)
    data = load_compose_text(inline, source=source, report=report)
    if report.errors:
        return failed(source, slug, report)
    parameters, fixed, names = _env_parameters(entry.get("env"), report)
    overrides: dict[str, dict[str, Any]] = {}
    for variable, name in names.items():
        overrides[variable] = parameters[name]
    for variable, value in fixed.items():
        overrides[variable] = {"type": "string", "default": value}
    return convert_compose(
        data, source=source, slug=slug, report=report, parameters=overrides, identity=identity
    )


def import_portainer_file(path: Path) -> list[ImportResult]:
    """Convert every template of a Portainer templates file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        report = Report()
        report.fail((), f"cannot read the file: {err}")
        return [failed(str(path), slugify(path.stem), report)]
    return import_portainer(text, source=str(path))


__all__ = ["ID_PREFIX", "import_entry", "import_portainer", "import_portainer_file"]
