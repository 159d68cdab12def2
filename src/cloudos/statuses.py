"""The words for what things are doing: one ``StrEnum`` per status vocabulary.

The database model, the planner and reconciler, the API's response models, the
pages and the command line all say an app's status with these members, so the
OpenAPI schema lists the allowed values and a misspelt status fails type checking
instead of showing up on a page.

Why a top-level module and not ``apps/``: ``store.models`` (below ``apps``) types its
columns with these, and every ``cloudos`` command imports its CLI module at start-up,
which must not load SQLAlchemy or the Docker SDK. Like ``errors``, this module
imports nothing of the project; ``apps`` re-exports the app vocabularies.

The values are exactly the strings stored and served before these enums existed, so
no data and no API answer changes.
"""

from __future__ import annotations

from enum import StrEnum


class DesiredState(StrEnum):
    """What the user wants an app to be; written by requests, read by the reconciler."""

    RUNNING = "running"
    STOPPED = "stopped"
    REMOVED = "removed"


class AppStatus(StrEnum):
    """What an app is doing, as last recorded (by a request, or by the reconciler)."""

    PENDING = "pending"  # installed, not yet seen by a reconcile pass
    WAITING = "waiting"  # for its addon servers to become healthy
    DEPLOYING = "deploying"
    STARTING = "starting"
    UPDATING = "updating"
    RESTARTING = "restarting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ROLLING_BACK = "rolling back"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    REMOVING = "removing"


# The statuses that end badly: shown as trouble, and the end of a wait for "running".
TROUBLE = frozenset({AppStatus.FAILED, AppStatus.ROLLED_BACK})


class HealthStatus(StrEnum):
    """How the platform is as a whole (``/healthz``, ``cloudos health``)."""

    OK = "ok"
    DEGRADED = "degraded"  # some object does not converge
    UNAVAILABLE = "unavailable"  # the database does not answer (503)


__all__ = ["TROUBLE", "AppStatus", "DesiredState", "HealthStatus"]
