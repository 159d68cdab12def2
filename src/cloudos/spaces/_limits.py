"""A space's template policy and quotas as stored (read and changed by a cluster admin)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy.orm import Session

from cloudos.errors import InvalidInput
from cloudos.spaces._policy import check_grants
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


__all__ = ["set_policy", "set_quota", "space_policy", "space_quota"]
