"""``/healthz``: is the control plane up, and is its reconciler converging everything?

Monitors call it without credentials, so its anonymous answer says only how the
platform is as a whole: ``ok``, ``degraded`` (the database answers but the
reconciler cannot bring some object where it should be) or ``unavailable`` (503).
Which objects fail, and why, names spaces, apps and their errors: a signed-in
caller sees those of the spaces they may see, and only an (unscoped) cluster admin
sees the platform's own parts (the engine, the router, orphaned stacks).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloudos import __version__
from cloudos.apps import Fault
from cloudos.errors import Forbidden, Unauthenticated
from cloudos.statuses import HealthStatus
from cloudos.web._auth import authenticate, visible_space_names
from cloudos.web._state import app_state


class FailingObject(BaseModel):
    """One object the reconciler cannot converge, and when it tries again."""

    kind: str  # app, space, router, engine, stack
    name: str
    space: str | None
    error: str
    attempts: int
    since: datetime
    retry_in: float  # seconds until the next attempt


class Health(BaseModel):
    """Answer of ``/healthz``."""

    status: HealthStatus
    version: str
    database: str
    failing: list[FailingObject] | None = None  # signed-in callers only: what they may see


def install_health(app: FastAPI) -> None:
    """Add ``/healthz`` to ``app``."""

    @app.get("/healthz", response_model=Health, tags=["system"])
    def healthz(request: Request) -> JSONResponse:
        """200 when the control plane and its database answer (``degraded`` while some
        object fails to converge), 503 otherwise; signed in, which objects fail."""
        state = app_state(request)
        try:
            with state.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            down = Health(
                status=HealthStatus.UNAVAILABLE, version=__version__, database="unreachable"
            )
            return JSONResponse(down.model_dump(mode="json", exclude={"failing"}), 503)
        faults = state.faults
        problems = faults.problems() if faults is not None else []
        now = faults.clock() if faults is not None else 0.0
        health = Health(
            status=HealthStatus.DEGRADED if problems else HealthStatus.OK,
            version=__version__,
            database="ok",
            failing=_visible(request, problems, now),
        )
        hidden = {"failing"} if health.failing is None else set()
        return JSONResponse(health.model_dump(mode="json", exclude=hidden))


def _visible(request: Request, problems: list[Fault], now: float) -> list[FailingObject] | None:
    """The failing objects the caller may see; ``None`` for an anonymous caller.

    Credentials that do not hold (an unknown token, an ended session) count as none:
    a health check answers whatever a monitor sends along.
    """
    try:
        principal = authenticate(request)
    except (Unauthenticated, Forbidden):
        return None
    if principal is None:
        return None
    with app_state(request).database.session() as session:
        spaces = visible_space_names(session, principal)
    return [
        FailingObject(
            kind=fault.kind,
            name=fault.name,
            space=fault.space,
            error=fault.error,
            attempts=fault.attempts,
            since=fault.since,
            retry_in=round(max(fault.retry_at - now, 0.0), 1),
        )
        for fault in problems
        if spaces is None or (fault.space is not None and fault.space in spaces)
    ]


__all__ = ["FailingObject", "Health", "install_health"]
