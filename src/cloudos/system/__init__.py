"""The platform's own stack and its bootstrap: what ``cloudos up`` and ``down`` do."""

from cloudos.system._bootstrap import (
    UpResult,
    bring_down,
    bring_up,
    check_port_free,
    is_loopback,
    plain_http_warning,
    prepare_data_dir,
)
from cloudos.system._stack import CONTAINER_DATA_DIR, SystemStackSpec, render_system_stack

__all__ = [
    "CONTAINER_DATA_DIR",
    "SystemStackSpec",
    "UpResult",
    "bring_down",
    "bring_up",
    "check_port_free",
    "is_loopback",
    "plain_http_warning",
    "prepare_data_dir",
    "render_system_stack",
]
