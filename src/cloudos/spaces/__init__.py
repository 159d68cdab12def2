"""Tenants: spaces, what their apps may ask for (policy) and how much (quotas)."""

from cloudos.spaces._limits import set_policy, set_quota, space_policy, space_quota
from cloudos.spaces._policy import GRANTS, Finding, check_grants, check_policy, find_requests
from cloudos.spaces._quota import (
    Quota,
    Usage,
    check_quota,
    format_cpus,
    format_size,
    parse_size,
    stack_usage,
    total,
)
from cloudos.spaces._spaces import (
    DEFAULT_SPACE,
    SpaceView,
    check_space_name,
    create_space,
    get_space,
    list_spaces,
    network_name,
    remove_space,
)

__all__ = [
    "DEFAULT_SPACE",
    "GRANTS",
    "Finding",
    "Quota",
    "SpaceView",
    "Usage",
    "check_grants",
    "check_policy",
    "check_quota",
    "check_space_name",
    "create_space",
    "find_requests",
    "format_cpus",
    "format_size",
    "get_space",
    "list_spaces",
    "network_name",
    "parse_size",
    "remove_space",
    "set_policy",
    "set_quota",
    "space_policy",
    "space_quota",
    "stack_usage",
    "total",
]
