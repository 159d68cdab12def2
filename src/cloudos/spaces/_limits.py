"""A space's template policy and quotas as stored (read and changed by a cluster admin)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy.orm import Session

from cloudos.errors import InvalidInput
from cloudos.spaces._policy import PortRange, check_grants, parse_port_range
from cloudos.spaces._quota import Quota
from cloudos.spaces._spaces import get_space
from cloudos.store.models import Space


def space_policy(space: Space) -> list[str]:
    """The grants ``space`` allows, sorted (none by default)."""
    return sorted(set(space.policy or []))


def set_policy(session: Session, *, name: str, allow: Iterable[str]) -> list[str]:
    """Replace what space ``name`` allows; InvalidInput names an unknown grant."""
    space = get_space(session, name)
    space.policy = check_grants(allow)
    return space_policy(space)


def space_ports(space: Space) -> PortRange | None:
    """The host ports ``space``'s apps may publish (None: none, the default)."""
    return parse_port_range(space.ports) if space.ports else None


def set_ports(session: Session, *, name: str, ports: str | None) -> PortRange | None:
    """Replace the host ports space ``name`` may publish (None or "": none);
    InvalidInput names a range that does not read."""
    space = get_space(session, name)
    found = parse_port_range(ports) if ports and ports.strip() else None
    space.ports = None if found is None else f"{found.first}-{found.last}"
    return found


def space_quota(space: Space) -> Quota:
    """The quotas of ``space`` (None: no limit)."""
    return Quota(max_apps=space.max_apps, max_cpus=space.max_cpus, max_memory=space.max_memory)


def set_quota(session: Session, *, name: str, quota: Quota) -> Quota:
    """Replace the quotas of space ``name``; negative limits are refused."""
    space = get_space(session, name)
    if quota.max_apps is not None and quota.max_apps < 0:
        raise InvalidInput(f"max_apps {quota.max_apps}: give 0 or more apps")
    if quota.max_cpus is not None and not (math.isfinite(quota.max_cpus) and quota.max_cpus >= 0):
        raise InvalidInput(f"max_cpus {quota.max_cpus}: give 0 or more CPUs")
    if quota.max_memory is not None and quota.max_memory < 0:
        raise InvalidInput(f"max_memory {quota.max_memory}: give 0 or more bytes")
    space.max_apps = quota.max_apps
    space.max_cpus = quota.max_cpus
    space.max_memory = quota.max_memory
    return space_quota(space)


__all__ = ["set_policy", "set_ports", "set_quota", "space_policy", "space_ports", "space_quota"]
