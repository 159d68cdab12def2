"""REST API of addon servers (``/api/v1/addons``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from cloudos.addons import server_status
from cloudos.errors import CloudOSError
from cloudos.store.models import AddonBinding, AddonServerRow, Space
from cloudos.web._auth import CurrentPrincipal, visible_space_names
from cloudos.web._state import app_state

router = APIRouter(prefix="/api/v1", tags=["addons"])


class AddonServerOut(BaseModel):
    """An addon server with its health and size."""

    kind: str
    space: str
    stack: str
    dedicated_to: str | None
    apps: int
    running: bool
    healthy: bool
    size_bytes: int | None
    databases: list[str]


@router.get("/addons", response_model=list[AddonServerOut])
def addons(request: Request, principal: CurrentPrincipal) -> list[AddonServerOut]:
    """Addon servers of the caller's spaces: kind, space, health, size and databases."""
    state = app_state(request)
    manager = state.apps
    with state.database.session() as session:
        rows = session.execute(
            select(AddonServerRow, Space)
            .join(Space, Space.id == AddonServerRow.space_id)
            .order_by(AddonServerRow.stack)
        ).all()
        counts = dict(
            session.execute(
                select(AddonBinding.server_id, func.count())
                .where(AddonBinding.app_id.is_not(None))
                .group_by(AddonBinding.server_id)
            ).all()
        )
        visible = visible_space_names(session, principal)
        servers = [
            (row, space.name, manager.server_of(session, row))
            for row, space in rows
            if visible is None or space.name in visible
        ]
    client = state.connect_engine()
    try:
        out = []
        for row, space, server in servers:
            try:
                status = server_status(client, server)
                running, healthy, size, databases = (
                    status.running,
                    status.healthy,
                    status.size_bytes,
                    list(status.databases),
                )
            except CloudOSError:
                running, healthy, size, databases = False, False, None, []
            out.append(
                AddonServerOut(
                    kind=row.kind,
                    space=space,
                    stack=row.stack,
                    dedicated_to=row.app_name,
                    apps=int(counts.get(row.id, 0)),
                    running=running,
                    healthy=healthy,
                    size_bytes=size,
                    databases=databases,
                )
            )
        return out
    finally:
        client.close()


__all__ = ["router"]
