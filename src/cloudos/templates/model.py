"""The template and modifier formats, as pydantic models.

These models are the single source of truth for the file formats: the loader
validates documents with them, ``cloudos template schema`` publishes their JSON
Schema, and importers build a plain ``dict`` and hand it to
:func:`cloudos.templates.template_from_dict`.

The Compose part of a template (``services``, ``volumes``, ...) is kept as plain data
here: it may hold ``${param}`` placeholders in places where Compose wants a number,
so it is checked against the Compose schema only after substitution.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from cloudos.templates.icons import Icon, icon_path_problem
from cloudos.templates.problems import SourceMap

TEMPLATE_FORMAT = "cloudos.template/v1"
MODIFIER_FORMAT = "cloudos.modifier/v1"

ParamType = Literal[
    "string",
    "text",
    "int",
    "bool",
    "enum",
    "password",
    "secret",
    "domain",
    "email",
    "port",
    "size",
    "map",
]
Architecture = Literal["amd64", "arm64", "arm", "386", "ppc64le", "s390x"]
_AMD64: tuple[Architecture, ...] = ("amd64",)
AddonKind = Literal["mysql", "postgresql", "redis", "smtp", "sso"]
CredentialsMode = Literal["files", "env"]

_REVERSE_DNS = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"
_SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_COMPOSE_NAME = r"^[a-zA-Z0-9._-]+$"
_SPDX = r"^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$|^LicenseRef-[A-Za-z0-9.-]+$"
RESERVED_NAMES = frozenset({"app", "space", "addons", "template", "current"})

ReverseDns = Annotated[str, Field(pattern=_REVERSE_DNS, max_length=253)]
SemVer = Annotated[str, Field(pattern=_SEMVER, max_length=64)]
ParamName = Annotated[str, Field(pattern=_NAME, max_length=64)]
ComposeName = Annotated[str, Field(pattern=_COMPOSE_NAME, max_length=128)]
Text = str | dict[Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")], str]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Generate(_Strict):
    """How to generate a ``password`` or ``secret`` value when none is given."""

    length: int = Field(default=24, ge=8, le=256)
    alphabet: str = Field(
        default="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_length=2,
        max_length=256,
    )


class Parameter(_Strict):
    """One typed value the installer supplies (or that has a default)."""

    type: ParamType = "string"
    label: str | None = None
    description: Text | None = None
    default: Any = None
    required: bool = False
    pattern: str | None = None
    min: int | None = None
    max: int | None = None
    choices: list[str | int] | None = Field(default=None, description="Values of an enum.")
    group: str | None = None
    generate: Generate | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"pattern is not a valid regular expression: {err}") from err
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.type == "enum" and not self.choices:
            raise ValueError("an enum parameter needs a non-empty 'choices' list")
        if self.type != "enum" and self.choices is not None:
            raise ValueError("'choices' is only for enum parameters")
        if self.generate is not None and self.type not in ("password", "secret"):
            raise ValueError("'generate' is only for password and secret parameters")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' is greater than 'max'")
        return self


class Addon(_Strict):
    """A service the platform provisions for the app (a database, a mailer, ...)."""

    version: str | None = None
    options: dict[str, str | int | bool] = Field(default_factory=dict)


class Route(_Strict):
    """HTTP traffic the platform's router sends to one service port."""

    service: ComposeName
    port: int = Field(ge=1, le=65535)
    path: str = Field(default="/", pattern=r"^/")
    subdomain: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
        description="Prefix of the app's hostname; none means the app's hostname itself.",
    )


class HealthCheck(_Strict):
    """How the platform tells that a service is ready (HTTP when path is set, else TCP)."""

    service: ComposeName
    port: int = Field(ge=1, le=65535)
    path: str | None = Field(default=None, pattern=r"^/")
    expect_status: int = Field(default=200, ge=100, le=599)
    interval_seconds: int = Field(default=10, ge=1, le=3600)
    timeout_seconds: int = Field(default=5, ge=1, le=600)


class ModifierUse(_Strict):
    """A modifier attached by id, with values for its parameters."""

    id: ReverseDns
    values: dict[ParamName, Any] = Field(default_factory=dict)


class Template(_Strict):
    """An app described once by its vendor; rendered into a stack per installation."""

    format: Literal["cloudos.template/v1"]
    id: ReverseDns
    version: SemVer
    name: str = Field(min_length=1, max_length=100)
    description: Text | None = None
    icon: str | None = Field(
        default=None,
        description=(
            "An image file in the template's folder (.svg, .png, .webp, .jpg/.jpeg; at most "
            "256 KiB), e.g. icon.svg. An http(s) URL is accepted but never loaded."
        ),
    )
    vendor: str | None = None
    website: str | None = Field(default=None, pattern=r"^https?://")
    license: str | None = Field(default=None, pattern=_SPDX)
    license_key_required: bool = False
    categories: list[str] = Field(default_factory=list)
    architectures: list[Architecture] = Field(default_factory=lambda: list(_AMD64))
    parameters: dict[ParamName, Parameter] = Field(default_factory=dict)
    addons: dict[AddonKind, Addon] = Field(default_factory=dict)
    credentials: CredentialsMode = Field(
        default="files",
        description=(
            "How the services take their addons' passwords: 'files' (Docker secret files, "
            "announced as <NAME>_FILE; no password in the environment) or 'env' (also as "
            "plain environment variables, which docker inspect shows: for images that "
            "read nothing else)."
        ),
    )
    routes: list[Route] = Field(default_factory=list)
    healthchecks: list[HealthCheck] = Field(default_factory=list)
    modifiers: list[ModifierUse] = Field(default_factory=list)
    services: dict[ComposeName, dict[str, Any]] = Field(min_length=1)
    volumes: dict[ComposeName, dict[str, Any] | None] = Field(default_factory=dict)
    networks: dict[ComposeName, dict[str, Any] | None] = Field(default_factory=dict)
    configs: dict[ComposeName, dict[str, Any]] = Field(default_factory=dict)
    secrets: dict[ComposeName, dict[str, Any]] = Field(default_factory=dict)
    _source_map: SourceMap | None = PrivateAttr(default=None)
    _compiled: Any = PrivateAttr(default=None)
    _icon: Icon | None = PrivateAttr(default=None)

    @field_validator("parameters")
    @classmethod
    def _not_reserved(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        return _check_reserved(value)

    @field_validator("icon")
    @classmethod
    def _icon_in_folder(cls, value: str | None) -> str | None:
        problem = icon_path_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _routes_name_services(self) -> Template:
        for kind, entries in (("route", self.routes), ("health check", self.healthchecks)):
            for entry in entries:
                if entry.service not in self.services:
                    raise ValueError(f"{kind} names service {entry.service!r}, not in services")
        return self


OpKind = Literal["merge", "set", "add", "remove"]


class Condition(_Strict):
    """When an operation applies; every given test must hold (for each matched node)."""

    param: ParamName | None = Field(
        default=None, description="Holds when this parameter is truthy (or equals 'equals')."
    )
    equals: str | int | bool | None = None
    one_of: list[str | int | bool] | None = None
    exists: str | None = Field(default=None, description="Path relative to the matched node.")
    missing: str | None = Field(default=None, description="Path relative to the matched node.")
    matches: str | None = Field(
        default=None, description="Regular expression the matched string value must match."
    )

    @model_validator(mode="after")
    def _param_tests_need_param(self) -> Condition:
        if (self.equals is not None or self.one_of is not None) and self.param is None:
            raise ValueError("'equals' and 'one_of' test a parameter: give 'param'")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as err:
                raise ValueError(f"'matches' is not a valid regular expression: {err}") from err
        return self


class Operation(_Strict):
    """One change to the stack document, aimed by a path with ``*`` wildcards."""

    op: OpKind
    path: str = Field(min_length=1, pattern=r"^[^\s]+$")
    value: Any = None
    only_if_missing: bool = False
    when: Condition | None = None

    @model_validator(mode="after")
    def _value_given(self) -> Operation:
        if self.op in ("merge", "add") and self.value is None:
            raise ValueError(f"a {self.op!r} operation needs a 'value'")
        if self.op == "merge" and not isinstance(self.value, dict):
            raise ValueError("a 'merge' operation needs a mapping as its 'value'")
        placeholder = isinstance(self.value, str) and re.fullmatch(r"\$\{[^{}$]+\}", self.value)
        if self.op == "add" and not (isinstance(self.value, dict | list) or placeholder):
            raise ValueError("an 'add' operation needs a list or a mapping as its 'value'")
        return self


class Modifier(_Strict):
    """A reusable, ordered set of operations that adapts a stack to a place."""

    format: Literal["cloudos.modifier/v1"]
    id: ReverseDns
    version: SemVer
    name: str | None = None
    description: Text | None = None
    priority: int = Field(default=50, ge=0, le=1000)
    parameters: dict[ParamName, Parameter] = Field(default_factory=dict)
    operations: list[Operation] = Field(min_length=1)
    _source_map: SourceMap | None = PrivateAttr(default=None)

    @field_validator("parameters")
    @classmethod
    def _not_reserved(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        return _check_reserved(value)


def _check_reserved(value: dict[str, Parameter]) -> dict[str, Parameter]:
    bad = sorted(set(value) & RESERVED_NAMES)
    if bad:
        raise ValueError(f"parameter names {bad} are reserved for built-in values")
    return value


__all__ = [
    "MODIFIER_FORMAT",
    "TEMPLATE_FORMAT",
    "Addon",
    "Condition",
    "Generate",
    "HealthCheck",
    "Modifier",
    "ModifierUse",
    "Operation",
    "Parameter",
    "Route",
    "Template",
]
