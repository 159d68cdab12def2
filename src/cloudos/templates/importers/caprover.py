"""Import CapRover one-click apps (``captainVersion: 4``).

CapRover fills its variables by replacing text, so this importer does the same
with a table of literal replacements, longest first:

- ``srv-captain--$$cap_appname-db`` (a service's host name) -> the service name ``db``;
- ``$$cap_appname.$$cap_root_domain`` (the app's public host) -> ``${app.hostname}``,
  and a second web service's host -> ``<service>.${app.hostname}`` (its route);
- each declared variable -> ``${name}`` (a parameter), or the text of its default when
  that default refers to built-ins (a template default cannot);
- ``$$cap_appname`` -> ``${app.name}``, ``$$cap_root_domain`` -> ``${space.domain}``;
- ``$$cap_gen_random_hex(N)`` -> a generated secret parameter of N hex digits.

Any other ``$$`` is Compose's escape (a literal ``$``), as the apps' authors meant.
Services are renamed stably: ``$$cap_appname`` is ``app``, ``$$cap_appname-db`` is
``db``; volumes ``$$cap_appname-data`` become the named volume ``data``.
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
    escape,
    failed,
    finish,
    image_tag,
    param_name,
    semver_from_tag,
    service_name,
    slugify,
)
from cloudos.templates.importers._dockerfile import convert_dockerfile
from cloudos.templates.model import TEMPLATE_FORMAT, Parameter
from cloudos.templates.problems import DocPath
from cloudos.templates.values import ValueProblem, coerce

ID_PREFIX = "org.caprover.oneclick"
APP = "$$cap_appname"
ROOT = "$$cap_root_domain"
_GEN = re.compile(r"\$\$cap_gen_random_hex\((\d+)\)")
_HEX = "0123456789abcdef"
_UNDECLARED = r"\$\$cap_[A-Za-z0-9_-]+"
_EXTRA_DONE = frozenset(
    {"containerHttpPort", "notExposeAsWebApp", "websocketSupport", "dockerfileLines"}
)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class _Substitution:
    """CapRover's text replacement, as template text."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.literals: dict[str, str] = {}
        self.parameters: dict[str, dict[str, Any]] = {}
        self._pattern: re.Pattern[str] | None = None
        self._generated = 0

    def add(self, literal: str, replacement: str) -> None:
        """Replace ``literal`` (CapRover text) with ``replacement`` (template text)."""
        self.literals.setdefault(literal, replacement)
        self._pattern = None

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            ordered = sorted(self.literals, key=len, reverse=True)
            parts = [
                re.escape(text) + ("(?![A-Za-z0-9-])" if text.startswith("srv-captain--") else "")
                for text in ordered
            ]
            parts += [_GEN.pattern, _UNDECLARED]
            self._pattern = re.compile("|".join(parts))
        return self._pattern

    def text(self, value: str, path: DocPath) -> str:
        """Template text for a CapRover string."""
        if "$" not in value and "srv-captain--" not in value:
            return value
        out: list[str] = []
        pos = 0
        for match in self._compiled().finditer(value):
            out.append(_literal(value[pos : match.start()]))
            pos = match.end()
            found = match.group(0)
            if found in self.literals:
                out.append(self.literals[found])
            elif match.group(1) is not None:
                out.append("${" + self.generated(int(match.group(1)), path) + "}")
            else:
                self.report.warn(path, f"{found} is not a declared variable: kept as text")
                out.append(escape(found))
        out.append(_literal(value[pos:]))
        result = "".join(out)
        if "srv-captain--" in result:
            self.report.warn(path, "refers to another CapRover app (srv-captain--...)")
        return result

    def generated(self, length: int, path: DocPath) -> str:
        """A new generated secret parameter of ``length`` hex digits; its name."""
        self._generated += 1
        name = param_name(f"random_hex_{self._generated}", self.parameters)
        self.parameters[name] = _generated_param(length, self.report, path, label=name)
        return name

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
        if isinstance(node, bool | int | float) or node is None:
            return node
        return str(node)


def _literal(text: str) -> str:
    """Text outside variables: ``$$`` is Compose's escape of ``$``; write ``$`` as ``$$``."""
    return escape(text.replace("$$", "$"))


def _generated_param(length: int, report: Report, path: DocPath, *, label: str) -> dict[str, Any]:
    if length < 8:
        report.warn(path, f"a generated value of {length} hex digits is made 8 long (the minimum)")
    kind = "password" if re.search(r"pass|pwd", label, re.IGNORECASE) else "secret"
    return {
        "type": kind,
        "label": label,
        "generate": {"length": min(max(length, 8), 256), "alphabet": _HEX},
    }


def js_pattern(text: str) -> tuple[str | None, str | None]:
    """A Python pattern (matched against the whole value) from a JS regex literal.

    Returns ``(pattern, problem)``; an unanchored JS regex (which matches anywhere)
    is wrapped so that it still matches anywhere.
    """
    source, flags = text.strip(), ""
    match = re.fullmatch(r"/(.*)/([a-z]*)", source, re.DOTALL)
    if match:
        source, flags = match.groups()
    source = source.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    prefix = "(?i)" if "i" in flags else ""
    anchored = source.startswith("^") and source.endswith("$") and not source.endswith("\\$")
    pattern = prefix + (source if anchored else f"(?s:.*?)(?:{source})(?s:.*)")
    try:
        re.compile(pattern)
    except re.error as err:
        return None, f"validRegex {text!r} is not a Python regular expression ({err}): dropped"
    return pattern, None


def _fill_defaults(text: str, defaults: dict[str, str]) -> str:
    for ident in sorted(defaults, key=len, reverse=True):
        text = text.replace(ident, defaults[ident])
    return text


def _service_names(
    services: dict[str, Any], defaults: dict[str, str], report: Report
) -> dict[str, str]:
    names: dict[str, str] = {}
    for raw in services:
        key = str(raw)
        if key == APP:
            base = "app"
        elif key.startswith(APP + "-"):
            base = key[len(APP) + 1 :]
        else:
            base = key
        if "$" in base:
            fixed = _fill_defaults(base, defaults)
            if "$" in fixed:
                report.fail(("services", key), "the service name depends on a variable")
                continue
            report.warn(
                ("services", key),
                f"the service name depends on a variable; it is {fixed!r} (its default)",
            )
            base = fixed
        names[key] = service_name(base.lower(), names.values())
    return names


def _volume_name(source: str) -> str | None:
    """The named volume for a CapRover volume source (``None`` when it is not one)."""
    for prefix in ("captain--" + APP, APP):
        if source == prefix:
            return "app"
        if source.startswith(prefix + "-"):
            return service_name(source[len(prefix) + 1 :])
    return None


class _Importer:
    def __init__(self, data: dict[str, Any], *, source: str, slug: str) -> None:
        self.data = data
        self.source = source
        self.slug = slug
        self.report = Report()
        self.sub = _Substitution(self.report)
        self.volumes: dict[str, Any] = {}
        self.routes: list[dict[str, Any]] = []
        self.parameters: dict[str, dict[str, Any]] = {}

    def run(self) -> ImportResult:
        data, report = self.data, self.report
        if data.get("captainVersion") not in (4, "4"):
            report.fail(("captainVersion",), "only CapRover one-click apps of version 4")
        services = data.get("services")
        if not isinstance(services, dict) or not services:
            report.fail(("services",), "expected a non-empty mapping of services")
            return failed(self.source, self.slug, report)
        app = data.get("caproverOneClickApp") or {}
        if not isinstance(app, dict):
            app = {}
        defaults = {
            str(v["id"]): str(v["defaultValue"])
            for v in app.get("variables") or []
            if isinstance(v, dict) and "id" in v and v.get("defaultValue") is not None
        }
        names = _service_names(services, defaults, report)
        if report.errors:
            return failed(self.source, self.slug, report)
        prepared = {names[str(k)]: self._prepare(str(k), v, names) for k, v in services.items()}
        self._routes(services, names)
        for key, value in names.items():
            self.sub.add(f"srv-captain--{key}", value)
        self.sub.add(f"{APP}.{ROOT}", "${app.hostname}")
        self.sub.add(APP, "${app.name}")
        self.sub.add(ROOT, "${space.domain}")
        self._variables(app.get("variables") or [])
        converted = self.sub.convert(prepared, ("services",))
        declared = data.get("volumes") or {}
        if isinstance(declared, list):
            declared = dict.fromkeys(str(name) for name in declared)
        for name, volume in declared.items() if isinstance(declared, dict) else ():
            fixed = _volume_name(str(name)) or str(name)
            self.volumes.setdefault(fixed, self.sub.convert(volume, ("volumes", fixed)) or None)
        networks = {
            _volume_name(str(name)) or str(name): spec
            for name, spec in (data.get("networks") or {}).items()
        }
        final = convert_services(
            converted, report, volumes=self.volumes, extra_keys={"documentation": _ignore}
        )
        parameters = {**self.parameters, **self.sub.parameters}
        document: dict[str, Any] = {
            "format": TEMPLATE_FORMAT,
            "id": f"{ID_PREFIX}.{self.slug}",
            "version": self._version(final, parameters),
            "name": str(app.get("displayName") or self.slug)[:100],
            "description": _description(app.get("description")),
            "parameters": parameters,
            "routes": self.routes,
            "services": final,
            "volumes": self.volumes,
            "networks": convert_networks(self.sub.convert(networks, ("networks",)), report),
        }
        return finish(document, source=self.source, slug=self.slug, report=report)

    def _prepare(self, key: str, raw: Any, names: dict[str, str]) -> Any:
        """CapRover keys of one service turned into Compose keys (text not yet replaced)."""
        path: DocPath = ("services", names[key])
        if not isinstance(raw, dict):
            return raw
        service = {k: v for k, v in raw.items() if k != "caproverExtra"}
        extra = raw.get("caproverExtra") or {}
        if not isinstance(extra, dict):
            extra = {}
        for unknown in sorted(set(extra) - _EXTRA_DONE):
            self.report.warn((*path, "caproverExtra", unknown), "dropped: not supported")
        lines = extra.get("dockerfileLines")
        if isinstance(lines, list):
            environment = service.get("environment")
            args = (
                {str(k): str(v) for k, v in environment.items() if v is not None}
                if isinstance(environment, dict)
                else {}
            )
            built = convert_dockerfile([str(line) for line in lines], build_args=args)
            for step in built.needs_build:
                self.report.fail(
                    (*path, "caproverExtra", "dockerfileLines"),
                    f"builds a custom image ({step}): a stack cannot build images",
                )
            for step in built.ignored:
                self.report.warn((*path, "caproverExtra", "dockerfileLines"), f"ignored: {step}")
            env = built.keys.pop("environment", None)
            if env:
                own = service.get("environment") or {}
                if isinstance(own, list):
                    own = dict(str(item).partition("=")[::2] for item in own)
                service["environment"] = {**env, **own}
            for field_name, value in built.keys.items():
                if field_name == "image":
                    service["image"] = value
                else:
                    service.setdefault(field_name, value)
        depends = service.get("depends_on")
        if isinstance(depends, list):
            service["depends_on"] = [names.get(str(dep), str(dep)) for dep in depends]
        elif isinstance(depends, dict):
            service["depends_on"] = {names.get(str(k), str(k)): v for k, v in depends.items()}
        if isinstance(service.get("volumes"), list):
            service["volumes"] = [self._volume(entry) for entry in service["volumes"]]
        nets = service.get("networks")
        if isinstance(nets, list):
            service["networks"] = [_volume_name(str(net)) or str(net) for net in nets]
        elif isinstance(nets, dict):
            service["networks"] = {_volume_name(str(k)) or str(k): v for k, v in nets.items()}
        return {key: value for key, value in service.items() if value is not None}

    def _volume(self, entry: Any) -> Any:
        if not isinstance(entry, str):
            return entry
        source, sep, rest = entry.partition(":")
        fixed = _volume_name(source) if sep else None
        if fixed is None:
            return entry
        self.volumes.setdefault(fixed, None)
        return f"{fixed}:{rest}"

    def _routes(self, services: dict[str, Any], names: dict[str, str]) -> None:
        web = [
            str(key)
            for key, raw in services.items()
            if isinstance(raw, dict)
            and not _truthy((raw.get("caproverExtra") or {}).get("notExposeAsWebApp"))
        ]
        if not web:
            return
        main = APP if APP in web else web[0]
        for key in [main, *(k for k in web if k != main)]:
            name = names[key]
            extra = services[key].get("caproverExtra") or {}
            port = self._port(extra.get("containerHttpPort", 80), ("services", name))
            if port is None:
                continue
            route: dict[str, Any] = {"service": name, "port": port}
            if key == main:
                host = "${app.hostname}"
            else:
                route["subdomain"] = slugify(name, fallback="web")
                host = route["subdomain"] + ".${app.hostname}"
            self.sub.add(f"{key}.{ROOT}", host)
            self.routes.append(route)

    def _port(self, value: Any, path: DocPath) -> int | None:
        text = str(value).strip()
        if not text.isdigit():
            variables = self.data.get("caproverOneClickApp", {}).get("variables") or []
            default = next((v.get("defaultValue") for v in variables if v.get("id") == text), None)
            self.report.warn(
                (*path, "caproverExtra", "containerHttpPort"),
                f"the HTTP port {text!r} is a variable: the route uses its default {default!r}",
            )
            text = str(default or "")
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            self.report.warn(path, f"no route: {value!r} is not a port")
            return None
        return int(text)

    def _variables(self, variables: list[Any]) -> None:
        for index, variable in enumerate(variables):
            path: DocPath = ("caproverOneClickApp", "variables", index)
            if not isinstance(variable, dict) or not isinstance(variable.get("id"), str):
                self.report.warn(path, "a variable without an id is ignored")
                continue
            ident = variable["id"]
            base = re.sub(r"^\$*(cap_)?", "", ident)
            name = param_name(base, [*self.parameters, *self.sub.parameters])
            replacement = self._variable(name, variable, path)
            self.sub.add(ident, replacement)

    def _variable(self, name: str, variable: dict[str, Any], path: DocPath) -> str:
        ident = variable["id"]
        default = variable.get("defaultValue")
        default = None if default is None else str(default)
        label = str(variable.get("label") or variable.get("lable") or name)
        gen = _GEN.search(default) if default is not None else None
        if default is not None and gen is not None:
            secret = _generated_param(int(gen.group(1)), self.report, path, label=name)
            secret["label"] = label
            self._describe(secret, variable)
            self.parameters[name] = secret
            before, after = default[: gen.start()], default[gen.end() :]
            if before or after:
                self.report.warn(
                    path,
                    f"{ident}: the default {default!r} is generated; the text around it is "
                    "now fixed in the stack around the value",
                )
            return escape(before) + "${" + name + "}" + escape(after)
        if default is not None and "$$" in default:
            self.report.warn(
                path,
                f"{ident} is not a parameter: its default {default!r} refers to other values, "
                "which a template default cannot; the stack uses that default",
            )
            return self.sub.text(default, path)
        param: dict[str, Any] = {"type": "text" if default and "\n" in default else "string"}
        param["label"] = label
        self._describe(param, variable)
        if default is not None:
            param["default"] = default
        elif not _truthy(variable.get("optional")):
            param["required"] = True
        regex = variable.get("validRegex")
        if isinstance(regex, str) and regex.strip():
            pattern, problem = js_pattern(regex)
            if problem:
                self.report.warn(path, f"{ident}: {problem}")
            elif pattern is not None:
                param["pattern"] = pattern
                if not self._accepts(param, default):
                    self.report.warn(
                        path,
                        f"{ident}: the default {default!r} does not match validRegex "
                        f"{regex!r}; the pattern is dropped",
                    )
                    del param["pattern"]
        self.parameters[name] = param
        return "${" + name + "}"

    @staticmethod
    def _accepts(param: dict[str, Any], default: str | None) -> bool:
        if default is None:
            return True
        try:
            coerce(Parameter.model_validate(param), default)
        except (ValueProblem, ValueError):
            return False
        return True

    @staticmethod
    def _describe(param: dict[str, Any], variable: dict[str, Any]) -> None:
        description = variable.get("description")
        if isinstance(description, str) and description.strip():
            param["description"] = description.strip()

    def _version(self, services: dict[str, Any], parameters: dict[str, Any]) -> str:
        def default_of(match: re.Match[str]) -> str:
            return str(parameters.get(match.group(1), {}).get("default", ""))

        main = self.routes[0]["service"] if self.routes else "app"
        ordered = sorted(services.items(), key=lambda item: item[0] != main)
        for _, service in ordered:
            image = service.get("image")
            if isinstance(image, str):
                resolved = re.sub(r"\$\{([a-z0-9_]+)\}", default_of, image)
                return semver_from_tag(image_tag(resolved)) or DEFAULT_VERSION
        return DEFAULT_VERSION


def _ignore(service: str, value: Any) -> None:
    """A CapRover-only key with no effect on the running app."""


def _description(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def import_caprover(text: str, *, source: str, slug: str) -> ImportResult:
    """Convert one CapRover one-click app (YAML text) into a template."""
    report = Report()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        report.fail((), f"not valid YAML: {where}{getattr(err, 'problem', None) or err}")
        return failed(source, slug, report)
    if not isinstance(data, dict):
        report.fail((), "not a CapRover one-click app (expected a mapping)")
        return failed(source, slug, report)
    return _Importer(data, source=source, slug=slug).run()


def import_caprover_file(path: Path) -> ImportResult:
    """Convert one CapRover one-click app file into a template."""
    slug = slugify(path.stem)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        report = Report()
        report.fail((), f"cannot read the file: {err}")
        return failed(str(path), slug, report)
    return import_caprover(text, source=str(path), slug=slug)


__all__ = ["ID_PREFIX", "import_caprover", "import_caprover_file", "js_pattern"]
