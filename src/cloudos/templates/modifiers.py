"""Applying modifiers: ordered operations on the stack document.

Operations of every attached modifier run sorted by ``(priority, modifier id,
position in the modifier)``, so attaching the same modifiers in another order gives
the same stack. Each operation is bound once per render (its parameters resolved,
its path compiled); its value is instantiated afresh for every place the path
reaches, so no two places in the document share an object.

Operation semantics (``target`` = the node the path reaches):

- ``set``: put ``value`` at the target (``only_if_missing``: only when absent);
- ``merge``: deep-merge a mapping into the target mapping (``only_if_missing``: keep
  keys that are already there, at every depth);
- ``add``: add list items to a list, or entries to a mapping (a list of names added
  to a mapping becomes ``name: null`` entries, as Compose's networks allow);
  ``only_if_missing`` skips items/keys already present;
- ``remove``: delete the target, or with ``value`` only the equal list items / the
  named keys.

Missing mappings above a target are created for ``set``, ``merge`` and ``add``;
a wildcard only reaches what exists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudos.templates.model import Condition, Modifier, Operation
from cloudos.templates.paths import PathError, Segment, Target, find, get, parse_path
from cloudos.templates.problems import Problem, TemplateError, format_path
from cloudos.templates.substitution import (
    PlaceholderError,
    compiled,
    references,
    substitute_string,
    walk_strings,
)


@dataclass(frozen=True)
class AttachedModifier:
    """A modifier attached to an installation, with values for its parameters."""

    modifier: Modifier
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One entry of ``--explain``: what changed which path of the stack, and how."""

    path: str
    action: str
    source: str

    def __str__(self) -> str:
        return f"{self.path}: {self.action} by {self.source}"


@dataclass
class BoundOperation:
    """An operation ready to run: parameters resolved, path compiled."""

    priority: int
    modifier_id: str
    index: int
    operation: Operation
    segments: tuple[Segment, ...]
    values: Mapping[str, object]
    source: str
    uses_current: bool

    @property
    def sort_key(self) -> tuple[int, str, int]:
        """Priority first, then a stable tie-break that ignores attach order."""
        return (self.priority, self.modifier_id, self.index)


def bind(modifier: Modifier, values: Mapping[str, object]) -> list[BoundOperation]:
    """The operations of ``modifier`` with ``values`` (parameters + built-ins) bound."""
    label = f"modifier {modifier.id}@{modifier.version}"
    bound = []
    for index, operation in enumerate(modifier.operations):
        source = f"{label} #{index + 1}"
        try:
            path_text = operation.path
            if "$" in path_text:
                path_text = str(substitute_string(path_text, values))
            segments = parse_path(path_text)
        except (PathError, PlaceholderError) as err:
            raise _error(modifier, index, f"path: {err}") from err
        uses_current = any(
            "current" in references(text) for _, text in walk_strings(operation.value)
        )
        bound.append(
            BoundOperation(
                priority=modifier.priority,
                modifier_id=modifier.id,
                index=index,
                operation=operation,
                segments=segments,
                values=values,
                source=source,
                uses_current=uses_current,
            )
        )
    return bound


def _error(modifier: Modifier, index: int, message: str) -> TemplateError:
    source_map = modifier._source_map
    path = ("operations", index)
    mark = source_map.find(path) if source_map is not None else None
    source = source_map.source if source_map is not None else f"modifier {modifier.id}"
    return TemplateError([Problem(message, path, source, mark)])


def apply(document: dict[str, Any], operations: Sequence[BoundOperation]) -> list[Change]:
    """Run ``operations`` on ``document`` in place, in their sort order; the changes."""
    changes: list[Change] = []
    for bound in sorted(operations, key=lambda b: b.sort_key):
        operation = bound.operation
        make_value = compiled(operation.value)
        targets = find(document, bound.segments)
        if operation.op == "remove":
            targets.reverse()  # delete later list items first so indexes stay valid
        for target in targets:
            if operation.when is not None and not _holds(operation.when, target, bound.values):
                continue
            values = bound.values
            if bound.uses_current:
                values = {**values, "current": target.value}
            try:
                value = make_value(values)
                changed = _run(operation, target, value)
            except (PlaceholderError, _OperationError) as err:
                path = format_path(target.path)
                raise TemplateError(
                    [Problem(f"{bound.source} at {path}: {err}", target.path, bound.modifier_id)]
                ) from err
            if changed:
                changes.append(Change(format_path(target.path), operation.op, bound.source))
    return changes


class _OperationError(ValueError):
    pass


def _run(operation: Operation, target: Target, value: Any) -> bool:
    exists = target.exists
    if operation.op == "remove":
        return _remove(target, value)
    if operation.op == "set":
        if exists and operation.only_if_missing:
            return False
        if exists and target.value == value:
            return False
        target.ensure_parent()[target.leaf] = value
        return True
    current = target.value if exists else None
    if current is None:
        parent = target.ensure_parent()
        parent[target.leaf] = current = _empty_like(value)
    if operation.op == "merge":
        if not isinstance(current, dict):
            raise _OperationError(f"cannot merge a mapping into a {type(current).__name__}")
        return _merge(current, value, keep=operation.only_if_missing)
    return _add(current, value, only_if_missing=operation.only_if_missing)


def _empty_like(value: Any) -> Any:
    return [] if isinstance(value, list) else {}


def _merge(into: dict[str, Any], value: dict[str, Any], *, keep: bool) -> bool:
    changed = False
    for key, item in value.items():
        existing = into.get(key)
        if isinstance(existing, dict) and isinstance(item, dict):
            changed = _merge(existing, item, keep=keep) or changed
        elif key in into and (keep or existing == item):
            continue
        else:
            into[key] = item
            changed = True
    return changed


def _add(into: Any, value: Any, *, only_if_missing: bool) -> bool:
    changed = False
    if isinstance(into, list):
        if not isinstance(value, list):
            raise _OperationError("cannot add a mapping to a list")
        for item in value:
            if only_if_missing and item in into:
                continue
            into.append(item)
            changed = True
        return changed
    if not isinstance(into, dict):
        raise _OperationError(f"cannot add to a {type(into).__name__}")
    entries = value.items() if isinstance(value, dict) else ((name, None) for name in value)
    for key, item in entries:
        if not isinstance(key, str):
            raise _OperationError(f"cannot add {key!r} as a key")
        if key in into and (only_if_missing or into[key] == item):
            continue
        into[key] = item
        changed = True
    return changed


def _remove(target: Target, value: Any) -> bool:
    if not target.exists:
        return False
    if value is None:
        del target.container[target.key]
        return True
    current = target.value
    if isinstance(current, list):
        doomed = value if isinstance(value, list) else [value]
        kept = [item for item in current if item not in doomed]
        target.container[target.key] = kept
        return len(kept) != len(current)
    if isinstance(current, dict):
        names = value if isinstance(value, list) else [value]
        present = [name for name in names if name in current]
        for name in present:
            del current[name]
        return bool(present)
    return False


def _holds(condition: Condition, target: Target, values: Mapping[str, object]) -> bool:
    if condition.param is not None:
        actual = values.get(condition.param)
        if condition.equals is not None:
            if not _same(actual, condition.equals):
                return False
        elif condition.one_of is not None:
            if not any(_same(actual, choice) for choice in condition.one_of):
                return False
        elif actual in (None, "", False, 0, {}):
            return False
    if condition.exists is not None or condition.missing is not None:
        node = target.value
        for relative, wanted in ((condition.exists, True), (condition.missing, False)):
            if relative is not None:
                present, _ = get(node, parse_path(relative)) if target.exists else (False, None)
                if present is not wanted:
                    return False
    if condition.matches is not None:
        current = target.value
        if not isinstance(current, str) or re.search(condition.matches, current) is None:
            return False
    return True


def _same(actual: object, expected: object) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected or str(actual) == str(expected)


def merge_overrides(document: dict[str, Any], overrides: Mapping[str, Any]) -> list[Change]:
    """Deep-merge per-installation overrides (``null`` deletes a key); the changes."""
    changes: list[Change] = []
    _override(document, overrides, (), changes)
    return changes


def _override(
    into: dict[str, Any], value: Mapping[str, Any], path: tuple[str | int, ...], out: list[Change]
) -> None:
    for key, item in value.items():
        here = (*path, key)
        if item is None:
            if key in into:
                del into[key]
                out.append(Change(format_path(here), "remove", "override"))
        elif isinstance(item, Mapping) and isinstance(into.get(key), dict):
            _override(into[key], item, here, out)
        else:
            into[key] = copy.deepcopy(item)
            out.append(Change(format_path(here), "set", "override"))


__all__ = ["AttachedModifier", "BoundOperation", "Change", "apply", "bind", "merge_overrides"]
