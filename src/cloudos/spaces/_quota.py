"""Quotas: how many apps, CPUs and bytes of memory a space's apps may ask for (pure).

What an app uses is what its generated stack *limits* it to, times its replicas:
``deploy.resources.limits.cpus`` and ``.memory``. Limits are what Swarm enforces,
so the sum over a space is a bound the space can really never exceed. A space with a
CPU or memory quota therefore refuses a service without that limit: without it the
quota would mean nothing. Stopped apps keep their share (starting one again never
fails on quota). A change that does not make an app ask for more is allowed even in
a space already over a quota lowered below its use, so such a space can still be
repaired; only growth is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudos.errors import Forbidden, InvalidInput

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Bytes in a Docker size (``512M``, ``1g``, ``1.5GiB``, ``1048576``; binary units)."""
    if isinstance(text, bool):
        raise InvalidInput(f"{what} {text!r} is not a size like 512M or 2G")
    if isinstance(text, int):
        if text < 0:
            raise InvalidInput(f"{what} {text} is negative")
        return text
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise InvalidInput(f"{what} {text!r} is not a size like 512M or 2G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(size: int) -> str:
    """A byte count the short way (``512M``, ``1.25G``), to a hundredth of its unit."""
    for unit in ("P", "T", "G", "M", "K"):
        scale = _UNITS[unit.lower()]
        if size >= scale:
            return f"{size / scale:.2f}".rstrip("0").rstrip(".") + unit
    return f"{size}B"


def format_cpus(cpus: float) -> str:
    """CPUs without needless digits (``2``, ``1.5``, ``0.25``)."""
    return f"{cpus:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Quota:
    """A space's limits; None: no limit."""

    max_apps: int | None = None
    max_cpus: float | None = None
    max_memory: int | None = None

    @property
    def limits_resources(self) -> bool:
        """Whether the space has a CPU or memory quota."""
        return self.max_cpus is not None or self.max_memory is not None


@dataclass(frozen=True)
class Usage:
    """What apps ask for: how many, their CPU and memory limits, and what has none."""

    apps: int = 0
    cpus: float = 0.0
    memory: int = 0
    unlimited_cpus: tuple[str, ...] = ()  # services without a CPU limit
    unlimited_memory: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """As stored with a revision (``AppRevision.usage``)."""
        return {
            "apps": self.apps,
            "cpus": self.cpus,
            "memory": self.memory,
            "unlimited_cpus": list(self.unlimited_cpus),
            "unlimited_memory": list(self.unlimited_memory),
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Usage:
        """The usage :meth:`to_json` stored."""
        return cls(
            apps=int(stored["apps"]),
            cpus=float(stored["cpus"]),
            memory=int(stored["memory"]),
            unlimited_cpus=tuple(str(name) for name in stored["unlimited_cpus"]),
            unlimited_memory=tuple(str(name) for name in stored["unlimited_memory"]),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            apps=self.apps + other.apps,
            cpus=self.cpus + other.cpus,
            memory=self.memory + other.memory,
            unlimited_cpus=self.unlimited_cpus + other.unlimited_cpus,
            unlimited_memory=self.unlimited_memory + other.unlimited_memory,
        )


def stack_usage(stack: Mapping[str, Any], *, app: str) -> Usage:
    """What one app's stack asks for (counts as one app).

    Services are named ``app/service`` in the unlimited lists. A global service runs
    on every node, so its share has no bound a quota could check: it counts as
    unlimited.
    """
    cpus = 0.0
    memory = 0
    no_cpus: list[str] = []
    no_memory: list[str] = []
    for name, service in (stack.get("services") or {}).items():
        deploy = (service or {}).get("deploy") or {}
        limits = (deploy.get("resources") or {}).get("limits") or {}
        label = f"{app}/{name}"
        if deploy.get("mode") == "global":
            no_cpus.append(label)
            no_memory.append(label)
            continue
        replicas = int(deploy.get("replicas", 1) or 0)
        if limits.get("cpus") is None:
            no_cpus.append(label)
        else:
            cpus += _cpus(limits["cpus"], label) * replicas
        if limits.get("memory") is None:
            no_memory.append(label)
        else:
            memory += parse_size(limits["memory"], what=f"{label}: memory limit") * replicas
    return Usage(
        apps=1,
        cpus=cpus,
        memory=memory,
        unlimited_cpus=tuple(no_cpus),
        unlimited_memory=tuple(no_memory),
    )


def check_quota(
    quota: Quota,
    *,
    space: str,
    app: str,
    others: Usage,
    new: Usage,
    current: Usage | None = None,
) -> None:
    """Raise Forbidden when ``new`` (app ``app``'s stack) does not fit ``space``.

    ``others`` is what the space's other apps ask for; ``current`` what the app asks
    for now (None when it is new). Every problem is named in one message.
    """
    problems: list[str] = []
    before = current or Usage()
    if quota.max_apps is not None and current is None and others.apps + 1 > quota.max_apps:
        problems.append(
            f"space {space!r} has {others.apps} of its {quota.max_apps} apps: "
            f"app {app} would be one more"
        )
    resources: tuple[tuple[str, str, float | None, Callable[[Any], str], str], ...] = (
        ("cpus", "CPU", quota.max_cpus, format_cpus, " CPUs"),
        ("memory", "memory", quota.max_memory, format_size, " of memory"),
    )
    for key, words, limit, show, unit in resources:
        if limit is None:
            continue
        unlimited = _added(getattr(new, f"unlimited_{key}"), getattr(before, f"unlimited_{key}"))
        asked, had, used = getattr(new, key), getattr(before, key), getattr(others, key)
        if unlimited:
            problems.append(_needs_limit(unlimited, key, words, space))
        elif asked > had and used + asked > limit + 1e-9:
            problems.append(
                f"space {space!r} would use {show(used + asked)} of its {show(limit)}{unit} "
                f"(app {app} asks for {show(asked)})"
            )
    if problems:
        raise Forbidden("; ".join(problems), code="quota_exceeded")


def total(usages: Iterable[Usage]) -> Usage:
    """The sum of ``usages``."""
    result = Usage()
    for usage in usages:
        result = result + usage
    return result


def _added(new: tuple[str, ...], before: tuple[str, ...]) -> tuple[str, ...]:
    """Services without a limit that were not without one before (an app installed
    before the quota may keep its unlimited services, but not add any)."""
    return tuple(name for name in new if name not in before)


def _needs_limit(services: tuple[str, ...], key: str, words: str, space: str) -> str:
    names = ", ".join(services)
    return (
        f"space {space!r} has a {words} quota, so every service needs a {words} limit "
        f"(deploy.resources.limits.{key}, e.g. with the modifier org.cloudos.resources; "
        f"global services cannot be bounded): {names} has none"
    )


def _cpus(value: object, label: str) -> float:
    try:
        cpus = float(str(value))
    except ValueError:
        raise InvalidInput(f"{label}: CPU limit {value!r} is not a number like 0.5") from None
    if cpus < 0:
        raise InvalidInput(f"{label}: CPU limit {value!r} is negative")
    return cpus


__all__ = [
    "Quota",
    "Usage",
    "check_quota",
    "format_cpus",
    "format_size",
    "parse_size",
    "stack_usage",
    "total",
]
