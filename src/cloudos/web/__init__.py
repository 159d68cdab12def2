"""The control plane's HTTP interface."""

from cloudos.web._app import AppState, create_app, router_sync, tune_garbage_collector
from cloudos.web._auth import CurrentPrincipal
from cloudos.web._state import app_state

__all__ = [
    "AppState",
    "CurrentPrincipal",
    "app_state",
    "create_app",
    "router_sync",
    "tune_garbage_collector",
]
