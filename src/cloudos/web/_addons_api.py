"""REST API of addon servers (``/api/v1/addons``) and of an app's addon data.

An app's database leaves as a stream (``GET .../addons/{kind}/dump``) and comes back
as one (``PUT .../addons/{kind}/restore``): neither is ever held whole in memory. A
dump that fails part way ends the response without its last chunk, so a client can
never take a cut-off dump for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from cloudos.addons import AddonCommandFailed, AddonServer, dump, restore, server_status
from cloudos.engine import EngineClient, service_health
from cloudos.errors import CloudOSError, Conflict, InvalidInput
from cloudos.store.models import AddonBinding, AddonServerRow, Space
from cloudos.web._auth import CurrentPrincipal, visible_space_names
from cloudos.web._limits import UPLOAD, PayloadTooLarge
from cloudos.web._state import app_state

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["addons"])
ADDON_PATH = "/spaces/{space}/apps/{name}/addons/{kind}"


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


class RestoreOut(BaseModel):
    """What a restore loaded, and where."""

    kind: str
    database: str
    bytes: int


@router.get(
    f"{ADDON_PATH}/dump",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}},
)
def addon_dump(
    space: str, name: str, kind: str, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """Stream a dump of the app's ``kind`` database (SQL; Redis: RESTORE commands)."""
    state = app_state(request)
    server, names = state.apps.addon_database(space=space, name=name, kind=kind)
    client = state.connect_engine()
    try:
        _check_ready(client, server)
        chunks = dump(client, server, names)
        first = next(chunks, b"")  # a dump that cannot even start is an error answer
    except BaseException:
        client.close()
        raise
    return StreamingResponse(
        _stream(first, chunks, client, what=f"dump of {names.database} on {server.stack}"),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}-{kind}.dump"'},
    )


def _stream(
    first: bytes, rest: Iterator[bytes], client: EngineClient, *, what: str
) -> Iterator[bytes]:
    try:
        if first:
            yield first
        yield from rest
    except CloudOSError as err:
        log.warning("%s failed part way: %s", what, err)
        raise  # the connection ends without its last chunk: the client sees a cut-off
    finally:
        client.close()


@router.put(f"{ADDON_PATH}/restore", response_model=RestoreOut, openapi_extra=UPLOAD)
async def addon_restore(
    space: str, name: str, kind: str, request: Request, principal: CurrentPrincipal
) -> RestoreOut:
    """Load a dump made by ``dump`` (the request body, streamed) into the app's database."""
    state = app_state(request)
    server, names = await run_in_threadpool(
        state.apps.addon_database, space=space, name=name, kind=kind
    )
    client = await run_in_threadpool(state.connect_engine)
    try:
        await run_in_threadpool(_check_ready, client, server)
        body = _BodyReader(request.stream(), asyncio.get_running_loop())
        try:
            await run_in_threadpool(restore, client, server, names, body)
        except CloudOSError as err:
            if body.too_large is not None:  # the upload passed its limit part way
                raise body.too_large from err
            if not isinstance(err, AddonCommandFailed):
                raise
            raise InvalidInput(
                f"{err} (is it a {kind} dump made by `cloudos addon dump`?)"
            ) from err
    finally:
        client.close()
    return RestoreOut(kind=kind, database=names.database, bytes=body.received)


class _BodyReader:
    """The request body as a blocking iterator, for a worker thread (the event loop reads)."""

    def __init__(self, stream: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self.received = 0
        self.too_large: PayloadTooLarge | None = None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            except StopAsyncIteration:
                return
            except PayloadTooLarge as err:
                self.too_large = err
                raise
            self.received += len(chunk)
            if chunk:
                yield chunk

    async def _next(self) -> bytes:
        return await self._stream.__anext__()


def _check_ready(client: EngineClient, server: AddonServer) -> None:
    if service_health(client, service=server.service) != "healthy":
        raise Conflict(
            f"the {server.kind} server {server.stack} is not running and healthy: "
            "deploy the app first, or wait until it is"
        )


__all__ = ["router"]
