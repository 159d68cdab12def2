"""What request handlers may use, reachable from every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from cloudos.apps import AppManager, FaultLog, ReconcileLoop
from cloudos.engine import EngineClient
from cloudos.settings import Settings
from cloudos.store import Database

EngineConnector = Callable[[], EngineClient]


@dataclass(frozen=True)
class AppState:
    """What request handlers may use."""

    settings: Settings
    database: Database
    connect_engine: EngineConnector
    apps: AppManager
    loop: ReconcileLoop | None

    @property
    def faults(self) -> FaultLog | None:
        """What the reconciler could not do, per object (``None`` when it does not run here)."""
        return self.loop.reconciler.faults if self.loop is not None else None

    def apps_wake(self) -> None:
        """Ask the reconciler for a pass now."""
        if self.loop is not None:
            self.loop.wake()


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state: AppState = request.app.state.cloudos
    return state


__all__ = ["AppState", "EngineConnector", "app_state"]
