"""Generation: template + values + modifiers + overrides -> stack YAML.

``render`` is a pure function. Its steps, in order: check and type the parameter
values; instantiate the Compose sections with values and built-ins; run the
operations of every modifier (the template's default ones plus the attached ones,
one per id) sorted by priority; deep-merge the per-installation overrides; check the
result against the Compose schema; write it with stable ordering. The final check by
``docker stack config`` needs the docker CLI, so it is a separate function that takes
the runner as a parameter (:func:`check_with_docker`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudos.templates.compose import (
    COMPOSE_VERSION,
    SECTIONS,
    StackConfigRunner,
    dump_stack,
    finalise_service,
    normalise_service,
    schema_errors,
)
from cloudos.templates.loader import ADDON_KEYS
from cloudos.templates.model import Modifier, Template
from cloudos.templates.modifiers import (
    AttachedModifier,
    BoundOperation,
    Change,
    apply,
    bind,
    merge_overrides,
)
from cloudos.templates.problems import Problem, TemplateError, problem_at
from cloudos.templates.substitution import PlaceholderError, instantiate, references, walk_strings
from cloudos.templates.values import resolve

_APP_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SAMPLE_ADDON_VALUES: Mapping[str, object] = {
    "host": "addon-host",
    "database": "app",
    "user": "app",
    "password": "sample-addon-password",
    "from": "app@example.com",
    "issuer": "https://sso.example.com",
    "client_id": "app",
    "client_secret": "sample-client-secret",
}
_ADDON_PORTS = {"mysql": 3306, "postgresql": 5432, "redis": 6379, "smtp": 587}


@dataclass(frozen=True)
class RenderContext:
    """Built-in values of one installation, and extra values (e.g. from addons).

    ``extra`` maps dotted names to values (``{"addons.mysql.password": "..."}``) or
    nests them (``{"addons": {"mysql": {"password": "..."}}}``).
    """

    app_name: str
    space_name: str
    space_domain: str
    app_hostname: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def values(self, template_id: str, template_version: str) -> dict[str, object]:
        """The flat name -> value mapping placeholders are looked up in."""
        if not _APP_NAME.match(self.app_name):
            raise TemplateError([Problem(f"app name {self.app_name!r} is not a valid name")])
        out: dict[str, object] = {
            "app.name": self.app_name,
            "app.hostname": self.app_hostname or f"{self.app_name}.{self.space_domain}",
            "space.name": self.space_name,
            "space.domain": self.space_domain,
            "template.id": template_id,
            "template.version": template_version,
        }
        _flatten(self.extra, "", out)
        return out


SAMPLE_CONTEXT = RenderContext(
    app_name="sample-app", space_name="sample-space", space_domain="sample.example.com"
)


def _flatten(extra: Mapping[str, object], prefix: str, out: dict[str, object]) -> None:
    for key, value in extra.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name.count(".") < 2:
            _flatten(value, f"{name}.", out)
        else:
            out[name] = value


@dataclass(frozen=True)
class RenderResult:
    """A rendered stack: its YAML text, the document, what changed it, and the values."""

    yaml: str
    stack: dict[str, Any]
    changes: tuple[Change, ...]
    values: Mapping[str, object]

    def explain(self) -> list[str]:
        """One line per change (for ``--explain``)."""
        return [str(change) for change in self.changes]


@dataclass(frozen=True)
class _Compiled:
    sections: dict[str, Any]
    uses: dict[str, tuple[str | int, ...]]  # name -> first path using it


def _compile(template: Template) -> _Compiled:
    cached = template._compiled
    if isinstance(cached, _Compiled):
        return cached
    sections: dict[str, Any] = {
        "services": {name: normalise_service(svc) for name, svc in template.services.items()},
        "networks": template.networks,
        "volumes": template.volumes,
        "configs": template.configs,
        "secrets": template.secrets,
    }
    uses: dict[str, tuple[str | int, ...]] = {}
    for path, text in walk_strings(sections):
        for name in references(text):
            uses.setdefault(name, path)
    compiled = _Compiled(sections={k: v for k, v in sections.items() if v}, uses=uses)
    template._compiled = compiled
    return compiled


def render(
    template: Template,
    *,
    context: RenderContext,
    values: Mapping[str, object] | None = None,
    modifiers: Sequence[AttachedModifier] = (),
    overrides: Mapping[str, Any] | None = None,
    library: Mapping[str, Modifier] | None = None,
    sample: bool = False,
    validate: bool = True,
) -> RenderResult:
    """Generate the stack of one installation of ``template``.

    ``values`` are the installer's parameter values (text or typed); ``modifiers``
    are attached explicitly, ``library`` resolves the template's default modifiers by
    id; ``overrides`` deep-merge last (``null`` deletes). ``sample`` fills required
    values that have none with samples of their type. Raises :class:`TemplateError`.
    """
    source_map = template._source_map
    params, problems = resolve(template.parameters, values or {}, sample=sample)
    if problems:
        raise TemplateError(
            [
                problem_at(message, ("parameters", name), source_map, None)
                for name, message in problems.items()
            ]
        )
    builtins = context.values(template.id, template.version)
    if sample:
        builtins = {**_sample_addon_values(template), **builtins}
    lookup = {**builtins, **params}
    compiled = _compile(template)
    missing = [name for name in compiled.uses if name not in lookup]
    if missing:
        where = compiled.uses[missing[0]]
        message = f"${{{missing[0]}}} has no value (supply it in the render context)"
        raise TemplateError([problem_at(message, where, source_map, None)])
    try:
        document: dict[str, Any] = instantiate(compiled.sections, lookup)
    except PlaceholderError as err:  # names were checked above; this is a misuse of a value
        raise TemplateError([Problem(str(err), source=_source_of(template))]) from err
    operations = _bind_all(template, modifiers, library, builtins, lookup, sample)
    changes = apply(document, operations)
    if overrides:
        changes += merge_overrides(document, overrides)
    for service in document.get("services", {}).values():
        finalise_service(service)
    stack = {"version": COMPOSE_VERSION, **{k: document[k] for k in SECTIONS if document.get(k)}}
    if validate:
        _check_schema(stack, template)
    return RenderResult(yaml=dump_stack(stack), stack=stack, changes=tuple(changes), values=params)


def _source_of(template: Template) -> str:
    source_map = template._source_map
    return source_map.source if source_map is not None else f"template {template.id}"


def _sample_addon_values(template: Template) -> dict[str, object]:
    out: dict[str, object] = {}
    for addon in template.addons:
        for key in ADDON_KEYS[addon]:
            if key == "port":
                out[f"addons.{addon}.port"] = _ADDON_PORTS.get(addon, 1)
            else:
                out[f"addons.{addon}.{key}"] = _SAMPLE_ADDON_VALUES[key]
    return out


def _bind_all(
    template: Template,
    attached: Sequence[AttachedModifier],
    library: Mapping[str, Modifier] | None,
    builtins: Mapping[str, object],
    lookup: Mapping[str, object],
    sample: bool,
) -> list[BoundOperation]:
    chosen: dict[str, AttachedModifier] = {}
    for use in template.modifiers:
        found = (library or {}).get(use.id)
        if found is None:
            path = ("modifiers", template.modifiers.index(use), "id")
            message = f"default modifier {use.id!r} is not available"
            raise TemplateError([problem_at(message, path, template._source_map, None)])
        # The template may pass its own parameters and built-ins on to a modifier.
        chosen[use.id] = AttachedModifier(found, instantiate(use.values, lookup))
    for item in attached:
        default = chosen.get(item.modifier.id)
        merged = {**default.values, **item.values} if default else dict(item.values)
        chosen[item.modifier.id] = AttachedModifier(item.modifier, merged)
    operations: list[BoundOperation] = []
    for modifier_id in sorted(chosen):
        item = chosen[modifier_id]
        modifier = item.modifier
        params, problems = resolve(modifier.parameters, item.values, sample=sample)
        if problems:
            raise TemplateError(
                [
                    problem_at(
                        f"modifier {modifier.id}: parameter {name!r}: {message}",
                        ("parameters", name),
                        modifier._source_map,
                        f"modifier {modifier.id}",
                    )
                    for name, message in problems.items()
                ]
            )
        operations += bind(modifier, {**builtins, **params})
    return operations


def _check_schema(stack: dict[str, Any], template: Template) -> None:
    problems = [
        problem_at(
            f"the generated stack breaks the Compose schema: {message}",
            path,
            template._source_map,
            None,
        )
        for path, message in schema_errors(stack)
    ]
    if problems:
        raise TemplateError(problems)


def validate_template(
    template: Template, *, library: Mapping[str, Modifier] | None = None
) -> RenderResult:
    """Check that ``template`` renders a valid stack with sample values."""
    return render(template, context=SAMPLE_CONTEXT, library=library, sample=True)


def check_with_docker(stack_yaml: str, *, run: StackConfigRunner) -> None:
    """Have ``docker stack config`` (through ``run``) accept the stack, or raise."""
    code, output = run(stack_yaml)
    if code != 0:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {code}"
        raise TemplateError([Problem(f"docker stack config rejected the stack: {detail}")])


__all__ = [
    "SAMPLE_CONTEXT",
    "RenderContext",
    "RenderResult",
    "check_with_docker",
    "render",
    "validate_template",
]
