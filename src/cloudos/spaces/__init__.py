"""Tenants: spaces, later members, quotas and policies."""

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
    "SpaceView",
    "check_space_name",
    "create_space",
    "get_space",
    "list_spaces",
    "network_name",
    "remove_space",
]
