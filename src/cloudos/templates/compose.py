"""The Compose side: normal forms, the stack writer, and schema validation.

The stack is written with PyYAML's C emitter (fast), top-level sections in Compose
order and every mapping's keys sorted, so the same input always gives the same
bytes. Strings are escaped for ``docker stack deploy``'s own interpolation
(``$`` becomes ``$$``), so a value reaches the container exactly as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import jsonschema
import yaml

from cloudos.templates.problems import DocPath

COMPOSE_VERSION = "3.8"
SECTIONS = ("services", "networks", "volumes", "configs", "secrets")
_LIST_OR_DICT = ("environment", "labels")

try:  # the C emitter is much faster; PyYAML built without libyaml still works
    _BaseDumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _BaseDumper = yaml.SafeDumper


class _StackDumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Never writes anchors/aliases: every node is spelled out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # PyYAML falls back to quotes when it must
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_StackDumper.add_representer(str, _represent_str)


def normalise_service(service: dict[str, Any]) -> dict[str, Any]:
    """One spelling for Compose's either-list-or-mapping fields (mappings).

    ``environment``/``labels``/``deploy.labels`` lists of ``K=V`` become mappings and
    a list of network names becomes ``name: null`` entries, so modifiers and
    overrides meet a single shape.
    """
    out = dict(service)
    for key in _LIST_OR_DICT:
        if isinstance(out.get(key), list):
            out[key] = _pairs(out[key])
    deploy = out.get("deploy")
    if isinstance(deploy, dict) and isinstance(deploy.get("labels"), list):
        out["deploy"] = {**deploy, "labels": _pairs(deploy["labels"])}
    networks = out.get("networks")
    if isinstance(networks, list) and all(isinstance(n, str) for n in networks):
        out["networks"] = dict.fromkeys(networks)
    return out


def finalise_service(service: Any) -> None:
    """Spell booleans in environment and labels as ``true``/``false`` (Docker wants text)."""
    if not isinstance(service, dict):
        return
    deploy = service.get("deploy")
    mappings = [service.get(key) for key in _LIST_OR_DICT]
    if isinstance(deploy, dict):
        mappings.append(deploy.get("labels"))
    for mapping in mappings:
        if isinstance(mapping, dict):
            for key, value in mapping.items():
                if isinstance(value, bool):
                    mapping[key] = "true" if value else "false"


def _pairs(items: list[Any]) -> Any:
    if not all(isinstance(item, str) for item in items):
        return items  # not Compose; left for the schema check to report
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        out[key] = value if sep else None
    return out


def dump_stack(document: dict[str, Any]) -> str:
    """The stack YAML text of a rendered document (deterministic).

    ``document`` holds ``version`` first and the sections in Compose order; every
    mapping below is written with sorted keys.
    """
    prepared = {key: _prepare(value) for key, value in document.items()}
    return yaml.dump(
        prepared,
        Dumper=_StackDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )


def _prepare(node: Any) -> Any:
    """A copy with sorted mapping keys and ``$`` escaped as ``$$`` in strings."""
    if isinstance(node, str):
        return node.replace("$", "$$") if "$" in node else node
    if isinstance(node, dict):
        return {key: _prepare(node[key]) for key in sorted(node, key=str)}
    if isinstance(node, list):
        return [_prepare(item) for item in node]
    return node


@cache
def compose_schema() -> dict[str, Any]:
    """The vendored JSON Schema of Compose file format 3.8."""
    text = resources.files("cloudos.templates").joinpath("data/compose-3.8.schema.json")
    loaded: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


@cache
def _fast_check() -> Callable[[Any], Any]:
    check: Callable[[Any], Any] = fastjsonschema.compile(compose_schema())
    return check


def schema_errors(document: dict[str, Any]) -> Iterator[tuple[DocPath, str]]:
    """Where and why ``document`` (with a ``version``) breaks the Compose schema.

    A compiled validator answers the common case (valid) fast; only an invalid
    document is walked again by ``jsonschema`` for precise, readable messages.
    """
    try:
        _fast_check()(document)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        return
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path)):
        best = jsonschema.exceptions.best_match([error])
        path = tuple(best.absolute_path)
        extras = _unknown_keys(best)
        if extras:
            for key in extras:
                yield (*path, key), "not a Compose key (in file format 3.8)"
        else:
            yield path, _short(best)


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key
        for key in error.instance
        if key not in known and not any(p.search(str(key)) for p in patterns)
    ]


def _short(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf":
        return f"{_clip(error.instance)} is not a valid value here"
    return error.message


def _clip(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


StackConfigRunner = Callable[[str], tuple[int, str]]
"""Runs ``docker stack config`` on stack YAML text; returns (exit code, output)."""


__all__ = [
    "COMPOSE_VERSION",
    "SECTIONS",
    "StackConfigRunner",
    "compose_schema",
    "dump_stack",
    "finalise_service",
    "normalise_service",
    "schema_errors",
]
