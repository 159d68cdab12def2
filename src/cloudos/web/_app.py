"""The ASGI application factory.

One app serves the REST API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``), the
health check (``/healthz``) and Prometheus metrics (``/metrics``). Everything it needs
(settings, database, the engine connector) is passed in, so tests build it with real
or fake parts and ``cloudos serve`` builds it with the real ones.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudos import __version__
from cloudos.apps import AppManager, ReconcileLoop, Reconciler
from cloudos.apps._router_sync import RouterSettings, RouterSync
from cloudos.engine import detect_engine, detect_ipvs
from cloudos.errors import (
    CloudOSError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from cloudos.identity import audit
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.vault import Vault
from cloudos.web._auth import (
    SAFE_METHODS,
    CurrentPrincipal,
    client_address,
    enforce,
)
from cloudos.web._health import install_health
from cloudos.web._limits import RequestLimits, is_upload
from cloudos.web._listen import RouterForwarded
from cloudos.web._models import Problem, known_query
from cloudos.web._state import AppState, EngineConnector, app_state


class VersionInfo(BaseModel):
    """Answer of ``/api/v1/version``."""

    version: str
    instance: str


class IpvsOut(BaseModel):
    """Whether the kernel can give services virtual IPs, and why not."""

    available: bool
    reason: str


class EngineOut(BaseModel):
    """Answer of ``/api/v1/system/engine``: the engine, its swarm and its abilities."""

    version: str
    api_version: str
    os: str
    architecture: str
    swarm_state: str
    is_manager: bool
    node_id: str | None
    node_count: int
    ipvs: IpvsOut
    endpoint_mode: str


def router_sync(settings: Settings, *, database: Database, vault: Vault) -> RouterSync:
    """The router step of ``cloudos serve``'s reconciler, for these settings."""
    return RouterSync(
        database=database,
        vault=vault,
        settings=RouterSettings(
            instance=settings.instance_name,
            data_dir=settings.data_dir.resolve(),
            host_data_dir=(settings.host_data_dir or settings.data_dir).resolve(),
            http_port=settings.http_port,
            https_port=settings.https_port,
            acme_directory=settings.acme_directory,
            acme_email=settings.acme_email,
            acme_ca_root=settings.acme_ca_root,
            docker_host=settings.docker_host,
            platform=settings.platform,
            hsts=settings.hsts,
        ),
        endpoint_mode=lambda: _endpoint_mode(settings),
    )


def create_app(
    *,
    settings: Settings,
    database: Database,
    connect_engine: EngineConnector,
    reconcile: bool = True,
) -> FastAPI:
    """Build the control plane's ASGI app; with ``reconcile`` it runs the reconciler too."""
    loop: ReconcileLoop | None = None
    registry = CollectorRegistry()  # what /metrics serves: requests and reconcile passes
    manager = AppManager(
        database=database,
        vault=Vault.open(settings.data_dir),
        instance=settings.instance_name,
        endpoint_mode=lambda: _endpoint_mode(settings),
        wake=lambda: loop.wake() if loop is not None else None,
        router_ports={80, 443, settings.http_port, settings.https_port},
    )
    if reconcile:
        router = None
        if settings.router:
            router = router_sync(settings, database=database, vault=manager.vault)
        reconciler = Reconciler(
            manager=manager,
            connect_engine=connect_engine,
            docker_host=settings.docker_host,
            router=router,
            addon_timeout=timedelta(seconds=settings.addon_timeout),
            registry=registry,
        )
        loop = ReconcileLoop(reconciler, interval=settings.reconcile_interval)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if loop is not None:
            loop.start()
        try:
            yield
        finally:
            if loop is not None:
                await asyncio.to_thread(loop.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="Cloud OS",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        # Every error is a problem document (RFC 9457); these are the ones any
        # operation may answer.
        responses={
            status: {
                "model": Problem,
                "content": {"application/problem+json": {}},
                "description": description,
            }
            for status, description in (
                (401, "Not signed in, or the token is unknown, expired or revoked"),
                (403, "The caller's role is too weak, or a space's policy or quota refuses"),
                (404, "No such object, or not visible to the caller"),
                (409, "Conflicts with the current state"),
                (413, "The request body is larger than the operation takes"),
                (422, "Invalid input (or JSON nested too deeply); the detail names the field"),
                (503, "The engine or the database does not answer"),
            )
        },
    )
    app.state.cloudos = AppState(
        settings=settings,
        database=database,
        connect_engine=connect_engine,
        apps=manager,
        loop=loop,
    )
    _install_metrics(app, settings, registry)
    _install_error_handlers(app)

    install_health(app)

    system = APIRouter(prefix="/api/v1", tags=["system"])

    @system.get("/version", response_model=VersionInfo)
    def version() -> VersionInfo:
        """The control plane's version and the name of this cloud."""
        return VersionInfo(version=__version__, instance=settings.instance_name)

    @system.get("/system/engine", response_model=EngineOut)
    def engine(principal: CurrentPrincipal) -> EngineOut:
        """The engine's version, swarm state, nodes and abilities."""
        client = connect_engine()
        try:
            return EngineOut.model_validate(detect_engine(client).as_dict())
        finally:
            client.close()

    from cloudos.web._addons_api import router as addons_router
    from cloudos.web._apps_api import router as apps_router
    from cloudos.web._identity_api import router as identity_router
    from cloudos.web._routes_api import router as routes_router
    from cloudos.web._space_limits_api import router as space_limits_router

    apis = (system, identity_router, apps_router, routes_router, addons_router, space_limits_router)
    for api in apis:
        # The caller first: a stranger learns nothing from which parameters are wrong.
        app.include_router(api, dependencies=[Depends(enforce), Depends(known_query)])
    from cloudos.ui import router as pages  # not under /api/v1: pages check roles themselves

    app.include_router(pages)
    # An operation missing from the permission table is refused (see ``enforce``), and
    # tests/web/test_permissions.py fails for it: no check at start-up, which would
    # cost the OpenAPI document's generation (most of a second) on every start.
    _install_audit(app, database)
    app.add_middleware(RouterForwarded)  # every other layer sees the real client
    # Outermost: sizes and nesting are checked before anything reads the body.
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        routes=[route for api in (*apis, pages) for route in api.routes],
    )
    return app


def _endpoint_mode(settings: Settings) -> str:
    if settings.endpoint_mode != "auto":
        return settings.endpoint_mode
    return "vip" if detect_ipvs().available else "dnsrr"


def _install_metrics(app: FastAPI, settings: Settings, registry: CollectorRegistry) -> None:
    requests = Counter(
        "cloudos_http_requests",
        "HTTP requests served, by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "cloudos_http_request_duration_seconds",
        "Time to answer an HTTP request, by route.",
        ["route"],
        registry=registry,
    )
    info = Gauge(
        "cloudos_info", "Version of this control plane.", ["version", "instance"], registry=registry
    )
    info.labels(__version__, settings.instance_name).set(1)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(path).observe(time.perf_counter() - started)
        requests.labels(request.method, path, str(response.status_code)).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _problem(
    status: int, title: str, detail: str, *, code: str, field: str | None = None
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, code=code, field=field)
    return JSONResponse(
        body.model_dump(), status_code=status, media_type="application/problem+json"
    )


# The code of an HTTP error FastAPI or Starlette raise itself (a method not allowed, a
# route it does not have): the one of our error with that status, else "error".
_CODE_BY_STATUS = {
    error.http_status: error.default_code
    for error in (InvalidInput, Forbidden, NotFound, Unauthenticated, Conflict)
}


def _field_path(location: Sequence[object]) -> str | None:
    """A pydantic error's location as a dotted field, without "body"/"query" first."""
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CloudOSError)
    async def cloudos_error(_request: Request, err: CloudOSError) -> JSONResponse:
        response = _problem(
            err.http_status, type(err).__name__, str(err), code=err.code, field=err.field
        )
        if err.http_status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        location = first.get("loc", ())
        where = ".".join(str(part) for part in location)
        field = _field_path(location)
        if first.get("type") == "extra_forbidden":
            detail = f"{where}: unknown field"
        else:
            detail = f"{where}: {first.get('msg')}"
        return _problem(422, "Invalid request", detail, code="invalid_input", field=field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _CODE_BY_STATUS.get(err.status_code, "error")
        response = _problem(err.status_code, "HTTP error", str(err.detail), code=code)
        if err.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response


def _install_audit(app: FastAPI, database: Database) -> None:
    """Every request that changes something leaves a line in the audit log."""

    @app.middleware("http")
    async def audited(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method in SAFE_METHODS or not request.url.path.startswith("/api/v1/"):
            return await call_next(request)
        detail = await _request_detail(request)
        response = await call_next(request)
        if getattr(request.state, "audited", False):
            return response  # the handler wrote a more precise line itself
        route = request.scope.get("route")
        params: dict[str, str] = request.scope.get("path_params") or {}
        principal = getattr(request.state, "principal", None)
        status = response.status_code
        result = "ok" if status < 400 else ("denied" if status in (401, 403, 404) else "failed")
        await asyncio.to_thread(
            _write_audit,
            database,
            actor=principal.username if principal else "anonymous",
            action=getattr(route, "name", None) or request.url.path,
            address=client_address(request),
            space=params.get("space"),
            target="/".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "space") or None,
            result=f"{result} {status}",
            detail=detail,
        )
        return response


async def _request_detail(request: Request) -> dict[str, Any] | None:
    """The request's JSON body, for the audit log (secrets are masked when written).

    An upload streams past unread, whatever its content type says; every other body
    was read (bounded, its nesting checked) by ``RequestLimits`` already.
    """
    if "json" not in request.headers.get("content-type", "") or is_upload(request.scope):
        return None
    body = await request.body()
    if not body or len(body) > 65536:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else {"body": parsed}


def _write_audit(
    database: Database,
    *,
    actor: str,
    action: str,
    address: str | None,
    space: str | None,
    target: str | None,
    result: str,
    detail: dict[str, Any] | None,
) -> None:
    with database.session() as session:
        audit.record(
            session,
            actor=actor,
            action=action,
            address=address,
            space=space,
            target=target,
            result=result,
            detail=detail,
        )


def tune_garbage_collector() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    What is alive once the server has started (modules, templates, the ORM's mappers)
    is moved out of the collector's sight (``gc.freeze``), and the youngest generation
    is collected after 20,000 new objects rather than 700. A page with 1,000 rows
    allocates hundreds of thousands of objects; with the defaults, full collections
    landed in the middle of requests (p95 about 200 ms against a 40 ms median with
    1,000 apps; ``bench/bench_ui_pages.py`` measures both, docs/benchmarks.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


__all__ = ["AppState", "CurrentPrincipal", "app_state", "create_app"]
