"""REST API of spaces and apps (``/api/v1/spaces/...``)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from cloudos.apps import AppManager, TemplateRef
from cloudos.apps._adopt import template_from_services
from cloudos.apps._routes import add_space
from cloudos.engine import (
    ObservedStack,
    find_stack,
    inspect_stack,
    list_stacks,
    observe_stacks,
    service_logs,
    service_stats,
)
from cloudos.engine import force_update as engine_force_update
from cloudos.errors import CloudOSError, Conflict, InvalidInput, NotFound
from cloudos.spaces import list_spaces, remove_space
from cloudos.statuses import AppStatus, DesiredState
from cloudos.store.models import (
    AddonBinding,
    AddonServerRow,
    App,
    AppEvent,
    AppRevision,
    RouteRow,
    utcnow,
)
from cloudos.web._auth import CurrentPrincipal, visible_space_names
from cloudos.web._models import RequestBody
from cloudos.web._state import app_state

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["apps"])


class SpaceIn(RequestBody):
    """A space to create."""

    name: str
    domain: str | None = None


class SpaceOut(BaseModel):
    """A space."""

    name: str
    domain: str
    network: str
    apps: int
    created_at: datetime
    policy: list[str] = Field(default_factory=list, description="grants allowed (docs/security.md)")
    max_apps: int | None = None
    max_cpus: float | None = None
    max_memory: int | None = None


class ServiceOut(BaseModel):
    """One service of an app, as last seen on the swarm."""

    name: str
    desired: int
    running: int
    health: str | None = None
    error: str | None = None


class AddonOut(BaseModel):
    """One of an app's addons: its database and the server it is on."""

    kind: str
    server: str
    dedicated: bool
    database: str
    user: str


class AppOut(BaseModel):
    """An app: desired and observed state."""

    name: str
    space: str
    template_id: str
    template_version: str
    revision: int
    desired_state: DesiredState
    status: AppStatus
    status_reason: str | None
    status_since: datetime
    services: list[ServiceOut]
    urls: list[str]
    addons: list[AddonOut] = Field(default_factory=list)
    created_at: datetime


class InstallIn(RequestBody):
    """An install request: a catalog template id, or a template's text.

    ``dedicated`` lists addons of the template (``mysql``, ``postgresql``, ``redis``)
    that get a server of their own instead of the space's.
    """

    name: str
    template: str | None = None
    template_text: str | None = None
    template_source: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    dedicated: list[str] = Field(default_factory=list)


class UpdateIn(RequestBody):
    """An update: values to change (others keep theirs), optionally a new template."""

    values: dict[str, Any] = Field(default_factory=dict)
    template: str | None = None
    template_text: str | None = None
    template_source: str | None = None


class RollbackIn(RequestBody):
    """Which revision to go back to (default: the one before the current)."""

    to: int | None = None


class RevisionOut(BaseModel):
    """One revision in an app's history."""

    number: int
    template_version: str
    created_at: datetime
    created_by: str | None
    note: str
    current: bool


class RevisionDetail(RevisionOut):
    """A revision with its values (secrets masked) and generated stack YAML."""

    values: dict[str, Any]
    stack_yaml: str


class EventOut(BaseModel):
    """A line of an app's timeline."""

    at: datetime
    kind: str
    message: str


class UnmanagedStack(BaseModel):
    """A stack on the engine that no cloud owns: it can be adopted."""

    name: str
    services: list[str]


class AdoptIn(RequestBody):
    """Which stack to adopt, and the app name it gets."""

    stack: str
    name: str


class StatsOut(BaseModel):
    """Live resource use of one service (containers on this node)."""

    service: str
    cpu_percent: float
    memory_bytes: float
    memory_limit_bytes: float


def _manager(request: Request) -> AppManager:
    manager: AppManager = app_state(request).apps
    return manager


def _template_ref(body: InstallIn | UpdateIn) -> TemplateRef | None:
    if body.template_text is not None:
        return TemplateRef(text=body.template_text, source=body.template_source)
    if body.template:
        return TemplateRef(catalog_id=body.template)
    return None


def _observe(request: Request) -> dict[str, ObservedStack]:
    state = app_state(request)
    try:
        client = state.connect_engine()
    except CloudOSError:
        return {}
    try:
        return observe_stacks(client, instance=state.settings.instance_name)
    except CloudOSError:
        return {}
    finally:
        client.close()


def _view(app: App, observed: dict[str, ObservedStack], version: str) -> AppOut:
    stack = observed.get(app.stack)
    services = []
    urls: list[str] = []
    if stack is not None:
        prefix = f"{app.stack}_"
        for service in stack.services:
            services.append(
                ServiceOut(
                    name=service.name.removeprefix(prefix),
                    desired=service.replicas if service.replicas is not None else service.running,
                    running=service.running,
                    health="starting" if service.starting else None,
                    error=service.error,
                )
            )
    return AppOut(
        name=app.name,
        space=app.space.name,
        template_id=app.template_id,
        template_version=version,
        revision=app.revision,
        desired_state=app.desired_state,
        status=app.status,
        status_reason=app.status_reason,
        status_since=app.status_since,
        services=services,
        urls=urls,
        created_at=app.created_at,
    )


def _revision_out(revision: AppRevision, app: App) -> RevisionOut:
    return RevisionOut(
        number=revision.number,
        template_version=revision.template_version,
        created_at=revision.created_at,
        created_by=revision.created_by,
        note=revision.note,
        current=revision.number == app.revision,
    )


def _app_out(request: Request, space: str, name: str) -> AppOut:
    manager = _manager(request)
    observed = _observe(request)
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        version = manager.revision(session, app, app.revision).template_version
        out = _view(app, observed, version)
        out.urls = _urls(request, session, [app.id]).get(app.id, [])
        out.addons = _addons(session, [app.id]).get(app.id, [])
        return out


def _addons(session: Any, app_ids: list[int]) -> dict[int, list[AddonOut]]:
    """The addons of the given apps, by kind."""
    found: dict[int, list[AddonOut]] = {}
    rows = session.execute(
        select(AddonBinding, AddonServerRow)
        .join(AddonServerRow, AddonServerRow.id == AddonBinding.server_id)
        .where(AddonBinding.app_id.in_(app_ids))
        .order_by(AddonBinding.kind)
    )
    for binding, server in rows:
        found.setdefault(binding.app_id, []).append(
            AddonOut(
                kind=binding.kind,
                server=server.stack,
                dedicated=server.app_id is not None,
                database=binding.database,
                user=binding.user,
            )
        )
    return found


def _urls(request: Request, session: Any, app_ids: list[int]) -> dict[int, list[str]]:
    """The HTTPS address of every route of the given apps, the default route first."""
    settings = app_state(request).settings
    if not settings.router:
        return {}
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    found: dict[int, list[str]] = {}
    for row in session.scalars(
        select(RouteRow)
        .where(RouteRow.app_id.in_(app_ids))
        .order_by(RouteRow.is_default.desc(), RouteRow.domain, RouteRow.path)
    ):
        found.setdefault(row.app_id, []).append(f"https://{row.domain}{port}{row.path}")
    return found


def restart_app(request: Request, *, space: str, name: str, by: str) -> None:
    """Replace every task of every service of the app (the API and the web pages)."""
    manager = _manager(request)
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        stack = app.stack
        session.add(AppEvent(app=app, kind="restart", message=f"restart by {by}"))
    state = app_state(request)
    client = state.connect_engine()
    try:
        for observed in (
            observe_stacks(client, instance=state.settings.instance_name)
            .get(stack, ObservedStack(stack, ()))
            .services
        ):
            engine_force_update(client, service=observed.name)
    finally:
        client.close()
    with manager.database.session() as session:
        # The reconciler reports "updating" and then "running" once every task is new;
        # until its next pass, say that a restart is under way (``--wait`` waits for it).
        restarted = manager.get(session, space, name)
        restarted.status, restarted.status_reason = AppStatus.RESTARTING, None
        restarted.status_since = utcnow()


# -- spaces ---------------------------------------------------------------------------


@router.get("/spaces", response_model=list[SpaceOut])
def spaces(request: Request, principal: CurrentPrincipal) -> list[SpaceOut]:
    """The caller's spaces (every space for a cluster admin)."""
    state = app_state(request)
    with state.database.session() as session:
        visible = visible_space_names(session, principal)
        return [
            SpaceOut(
                name=s.name,
                domain=s.domain,
                network=s.network,
                apps=s.apps,
                created_at=s.created_at,
                policy=s.policy,
                max_apps=s.max_apps,
                max_cpus=s.max_cpus,
                max_memory=s.max_memory,
            )
            for s in list_spaces(session, instance=state.settings.instance_name)
            if not s.removing and (visible is None or s.name in visible)
        ]


@router.post("/spaces", response_model=SpaceOut, status_code=201)
def space_create(body: SpaceIn, request: Request, principal: CurrentPrincipal) -> SpaceOut:
    """Create a space (its network is created with its first app)."""
    state = app_state(request)
    with state.database.session() as session:
        space = add_space(
            session, name=body.name, domain=body.domain, platform=state.settings.platform
        )
        network = f"{state.settings.instance_name}-{space.name}"
        return SpaceOut(
            name=space.name,
            domain=space.domain,
            network=network,
            apps=0,
            created_at=space.created_at,
        )


@router.delete("/spaces/{space}", status_code=204)
def space_remove(
    space: str, request: Request, principal: CurrentPrincipal, force: bool = False
) -> Response:
    """Remove a space; refused while apps remain unless ``force``."""
    state = app_state(request)
    with state.database.session() as session:
        remove_space(session, name=space, force=force)
    state.apps_wake()
    return Response(status_code=204)


# -- apps -----------------------------------------------------------------------------


@router.get("/spaces/{space}/apps", response_model=list[AppOut])
def apps(space: str, request: Request, principal: CurrentPrincipal) -> list[AppOut]:
    """Apps of a space."""
    manager = _manager(request)
    observed = _observe(request)
    with manager.database.session() as session:
        found = manager.list_apps(session, space)
        urls = _urls(request, session, [app.id for app in found])
        addons = _addons(session, [app.id for app in found])
        views = []
        for app in found:
            view = _view(
                app, observed, manager.revision(session, app, app.revision).template_version
            )
            view.urls = urls.get(app.id, [])
            view.addons = addons.get(app.id, [])
            views.append(view)
        return views


@router.post("/spaces/{space}/apps", response_model=AppOut, status_code=201)
def app_install(
    space: str, body: InstallIn, request: Request, principal: CurrentPrincipal
) -> AppOut:
    """Install an app from a template; the reconciler deploys it."""
    ref = _template_ref(body)
    if ref is None:
        raise InvalidInput("give 'template' (a catalog id) or 'template_text'")
    _manager(request).install(
        space=space,
        name=body.name,
        template=ref,
        values=body.values,
        by=principal.username,
        dedicated=body.dedicated,
    )
    return _app_out(request, space, body.name)


@router.get("/spaces/{space}/apps/{name}", response_model=AppOut)
def app_show(space: str, name: str, request: Request, principal: CurrentPrincipal) -> AppOut:
    """One app with its services."""
    return _app_out(request, space, name)


@router.patch("/spaces/{space}/apps/{name}", response_model=AppOut)
def app_update(
    space: str, name: str, body: UpdateIn, request: Request, principal: CurrentPrincipal
) -> AppOut:
    """Change values and/or template: a new revision, rolled out by the reconciler."""
    _manager(request).update(
        space=space,
        name=name,
        values=body.values,
        template=_template_ref(body),
        by=principal.username,
    )
    return _app_out(request, space, name)


@router.post("/spaces/{space}/apps/{name}/rollback", response_model=AppOut)
def app_rollback(
    space: str, name: str, body: RollbackIn, request: Request, principal: CurrentPrincipal
) -> AppOut:
    """Go back to an earlier revision (as a new revision)."""
    _manager(request).rollback(space=space, name=name, to=body.to, by=principal.username)
    return _app_out(request, space, name)


@router.post("/spaces/{space}/apps/{name}/addons/{kind}/rotate", response_model=AppOut)
def app_rotate(
    space: str, name: str, kind: str, request: Request, principal: CurrentPrincipal
) -> AppOut:
    """New credentials for one of the app's addons; the app restarts with them."""
    _manager(request).rotate(space=space, name=name, kind=kind, by=principal.username)
    return _app_out(request, space, name)


@router.post("/spaces/{space}/apps/{name}/stop", response_model=AppOut)
def app_stop(space: str, name: str, request: Request, principal: CurrentPrincipal) -> AppOut:
    """Scale every service to zero (the revision remembers the replicas)."""
    _manager(request).set_state(space=space, name=name, state=DesiredState.STOPPED)
    return _app_out(request, space, name)


@router.post("/spaces/{space}/apps/{name}/start", response_model=AppOut)
def app_start(space: str, name: str, request: Request, principal: CurrentPrincipal) -> AppOut:
    """Run the app again with its replicas."""
    _manager(request).set_state(space=space, name=name, state=DesiredState.RUNNING)
    return _app_out(request, space, name)


@router.post("/spaces/{space}/apps/{name}/restart", response_model=AppOut)
def app_restart(space: str, name: str, request: Request, principal: CurrentPrincipal) -> AppOut:
    """Replace every task of every service."""
    restart_app(request, space=space, name=name, by=principal.username)
    return _app_out(request, space, name)


@router.delete("/spaces/{space}/apps/{name}", response_model=AppOut, status_code=202)
def app_remove(
    space: str, name: str, request: Request, principal: CurrentPrincipal, purge: bool = False
) -> AppOut:
    """Remove an app (volumes kept unless ``purge``); GET answers 404 once it is gone."""
    out = _app_out(request, space, name)
    _manager(request).remove(space=space, name=name, purge=purge)
    return out.model_copy(
        update={"status": AppStatus.REMOVING, "desired_state": DesiredState.REMOVED}
    )


@router.get("/stacks/unmanaged", response_model=list[UnmanagedStack])
def unmanaged_stacks(request: Request, principal: CurrentPrincipal) -> list[UnmanagedStack]:
    """Stacks no cloud owns; Cloud OS never touches them unless one is adopted."""
    client = app_state(request).connect_engine()
    try:
        return [
            UnmanagedStack(name=stack.name, services=list(stack.services))
            for stack in list_stacks(client)
            if stack.instance is None
        ]
    finally:
        client.close()


@router.post("/spaces/{space}/adopt", response_model=AppOut, status_code=201)
def adopt(space: str, body: AdoptIn, request: Request, principal: CurrentPrincipal) -> AppOut:
    """Take over an unmanaged stack as an app of ``space``."""
    client = app_state(request).connect_engine()
    try:
        stack = find_stack(client, body.stack)
        if stack is None:
            raise NotFound(f"stack {body.stack!r} does not exist")
        if stack.instance is not None:
            raise Conflict(f"stack {body.stack!r} belongs to cloud {stack.instance!r}")
        services, networks = inspect_stack(client, body.stack)
    finally:
        client.close()
    document = template_from_services(body.stack, services, networks)
    _manager(request).adopt(
        space=space, name=body.name, stack=body.stack, document=document, by=principal.username
    )
    return _app_out(request, space, body.name)


@router.get("/spaces/{space}/apps/{name}/revisions", response_model=list[RevisionOut])
def app_revisions(
    space: str, name: str, request: Request, principal: CurrentPrincipal
) -> list[RevisionOut]:
    """The app's history, oldest first."""
    manager = _manager(request)
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        return [_revision_out(r, app) for r in app.revisions]


@router.get("/spaces/{space}/apps/{name}/revisions/{number}", response_model=RevisionDetail)
def app_revision(
    space: str, name: str, number: int, request: Request, principal: CurrentPrincipal
) -> RevisionDetail:
    """One revision with its values (secrets masked) and its stack YAML."""
    manager = _manager(request)
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        revision = manager.revision(session, app, number)
        return RevisionDetail(
            **_revision_out(revision, app).model_dump(),
            values=manager.revision_values(revision),
            stack_yaml=revision.stack_yaml,
        )


@router.get("/spaces/{space}/apps/{name}/events", response_model=list[EventOut])
def app_events(
    space: str,
    name: str,
    request: Request,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """The newest events, oldest first."""
    manager = _manager(request)
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        events = app.events[-limit:]
        return [EventOut(at=e.at, kind=e.kind, message=e.message) for e in events]


@router.get("/spaces/{space}/apps/{name}/stats", response_model=list[StatsOut])
def app_stats(
    space: str, name: str, request: Request, principal: CurrentPrincipal
) -> list[StatsOut]:
    """CPU and memory per service, now."""
    state = app_state(request)
    manager = _manager(request)
    with manager.database.session() as session:
        stack = manager.get(session, space, name).stack
    client = state.connect_engine()
    try:
        observed = observe_stacks(client, instance=state.settings.instance_name).get(stack)
        services = [s.name for s in observed.services] if observed else []
        return [
            StatsOut(
                service=service.removeprefix(f"{stack}_"), **service_stats(client, service=service)
            )
            for service in services
        ]
    finally:
        client.close()


@router.get(
    "/spaces/{space}/apps/{name}/logs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def app_logs(
    space: str,
    name: str,
    request: Request,
    principal: CurrentPrincipal,
    tail: Annotated[int | None, Query(ge=0, le=100_000)] = 100,
    since: Annotated[str | None, Query(max_length=64)] = None,
    follow: bool = False,
    service: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """Log lines of the app's services (``service | line``), streamed; ``follow`` keeps it open."""
    state = app_state(request)
    manager = _manager(request)
    with manager.database.session() as session:
        stack = manager.get(session, space, name).stack
    start = _parse_since(since)
    client = state.connect_engine()
    observed = observe_stacks(client, instance=state.settings.instance_name).get(stack)
    names = [s.name for s in observed.services] if observed else []
    if service is not None:
        wanted = f"{stack}_{service}"
        if wanted not in names:
            client.close()
            raise InvalidInput(f"app {name!r} has no service {service!r}")
        names = [wanted]
    return StreamingResponse(
        _merged_logs(client, names, prefix=f"{stack}_", tail=tail, since=start, follow=follow),
        media_type="text/plain; charset=utf-8",
    )


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        seconds = float(since)
    except ValueError:
        pass
    else:
        try:
            return datetime.now(UTC) - timedelta(seconds=seconds)
        except (OverflowError, ValueError) as err:  # inf, nan, or before year 1
            raise InvalidInput(f"since={since!r}: not a number of seconds ago") from err
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError as err:
        raise InvalidInput(f"since={since!r}: give seconds or an RFC 3339 time") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _merged_logs(
    client: Any,
    services: list[str],
    *,
    prefix: str,
    tail: int | None,
    since: datetime | None,
    follow: bool,
) -> Generator[bytes, None, None]:
    lines: queue.Queue[bytes | None] = queue.Queue(maxsize=1000)

    def pump(service: str) -> None:
        label = service.removeprefix(prefix).encode()
        pending = b""
        try:
            for chunk in service_logs(
                client, service=service, tail=tail, since=since, follow=follow
            ):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    lines.put(label + b" | " + line + b"\n")
            if pending:
                lines.put(label + b" | " + pending + b"\n")
        except Exception as err:  # a broken stream ends this service's lines, not the response
            log.debug("log stream of %s ended: %s", service, err)
        finally:
            lines.put(None)

    for service in services:
        threading.Thread(target=pump, args=(service,), daemon=True).start()
    remaining = len(services)
    try:
        while remaining:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                # Hand the worker thread back now and then: a client that went away is
                # noticed between two chunks, and this generator (with the engine
                # connection) is closed instead of waiting for a line that may not come.
                yield b""
                continue
            if line is None:
                remaining -= 1
                continue
            yield line
    finally:
        client.close()


__all__ = ["restart_app", "router"]
