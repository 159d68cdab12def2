"""The ASGI application factory.

One app serves the REST API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``), the
health check (``/healthz``) and Prometheus metrics (``/metrics``). Everything it needs
(settings, database, the engine connector) is passed in, so tests build it with real
or fake parts and ``cloudos serve`` builds it with the real ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import docker
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudos import __version__
from cloudos.apps import AppManager, ReconcileLoop, Reconciler
from cloudos.apps._router_sync import RouterSettings, RouterSync
from cloudos.engine import detect_engine, detect_ipvs
from cloudos.errors import CloudOSError
from cloudos.identity import Principal, verify_token
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.vault import Vault

EngineConnector = Callable[[], docker.DockerClient]


@dataclass(frozen=True)
class AppState:
    """What request handlers may use."""

    settings: Settings
    database: Database
    connect_engine: EngineConnector
    apps: AppManager
    loop: ReconcileLoop | None

    def apps_wake(self) -> None:
        """Ask the reconciler for a pass now."""
        if self.loop is not None:
            self.loop.wake()


class Health(BaseModel):
    """Answer of ``/healthz``."""

    status: str
    version: str
    database: str


class VersionInfo(BaseModel):
    """Answer of ``/api/v1/version``."""

    version: str
    instance: str


class Me(BaseModel):
    """The caller, as the API sees it."""

    username: str
    is_admin: bool


class Problem(BaseModel):
    """An RFC 9457 problem document: every error the API returns."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


_bearer = HTTPBearer(auto_error=False)


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state: AppState = request.app.state.cloudos
    return state


def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 when the token is missing, unknown, expired or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "an API token is required (Authorization: Bearer ...)")
    with app_state(request).database.session() as session:
        principal = verify_token(session, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "the API token is unknown, expired or revoked")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


def create_app(
    *,
    settings: Settings,
    database: Database,
    connect_engine: EngineConnector,
    reconcile: bool = True,
) -> FastAPI:
    """Build the control plane's ASGI app; with ``reconcile`` it runs the reconciler too."""
    loop: ReconcileLoop | None = None
    manager = AppManager(
        database=database,
        vault=Vault.open(settings.data_dir),
        instance=settings.instance_name,
        endpoint_mode=lambda: _endpoint_mode(settings),
        wake=lambda: loop.wake() if loop is not None else None,
    )
    if reconcile:
        router = None
        if settings.router:
            router = RouterSync(
                database=database,
                vault=manager.vault,
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
                ),
                endpoint_mode=lambda: _endpoint_mode(settings),
            )
        reconciler = Reconciler(
            manager=manager,
            connect_engine=connect_engine,
            docker_host=settings.docker_host,
            router=router,
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
        responses={401: {"model": Problem}, 422: {"model": Problem}},
    )
    app.state.cloudos = AppState(
        settings=settings,
        database=database,
        connect_engine=connect_engine,
        apps=manager,
        loop=loop,
    )
    _install_metrics(app, settings)
    _install_error_handlers(app)

    @app.get("/healthz", response_model=Health, tags=["system"])
    def healthz(response: Response) -> Health:
        """200 when the control plane and its database answer, 503 otherwise."""
        try:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            response.status_code = 503
            return Health(status="unavailable", version=__version__, database="unreachable")
        return Health(status="ok", version=__version__, database="ok")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>Cloud OS</title><h1>Cloud OS {__version__}</h1>"
            "<p>The control plane is running. API: <a href=/api/v1/docs>/api/v1/docs</a></p>"
        )

    @app.get("/api/v1/version", response_model=VersionInfo, tags=["system"])
    def version() -> VersionInfo:
        """The control plane's version and the name of this cloud."""
        return VersionInfo(version=__version__, instance=settings.instance_name)

    @app.get("/api/v1/me", response_model=Me, tags=["identity"])
    def me(principal: CurrentPrincipal) -> Me:
        """Who the token belongs to."""
        return Me(username=principal.username, is_admin=principal.is_admin)

    @app.get("/api/v1/system/engine", tags=["system"])
    def engine(principal: CurrentPrincipal) -> dict[str, object]:
        """The engine's version, swarm state, nodes and abilities."""
        client = connect_engine()
        try:
            return detect_engine(client).as_dict()
        finally:
            client.close()

    from cloudos.web._apps_api import router as apps_router
    from cloudos.web._routes_api import router as routes_router

    app.include_router(apps_router)
    app.include_router(routes_router)
    from cloudos.web._addons_api import router as addons_router

    app.include_router(addons_router)
    from cloudos.web._space_limits_api import router as space_limits_router

    app.include_router(space_limits_router)
    return app


def _endpoint_mode(settings: Settings) -> str:
    if settings.endpoint_mode != "auto":
        return settings.endpoint_mode
    return "vip" if detect_ipvs().available else "dnsrr"


def _install_metrics(app: FastAPI, settings: Settings) -> None:
    registry = CollectorRegistry()
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


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail).model_dump()
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CloudOSError)
    async def cloudos_error(_request: Request, err: CloudOSError) -> JSONResponse:
        return _problem(err.http_status, type(err).__name__, str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return _problem(422, "Invalid request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        response = _problem(err.status_code, "HTTP error", str(err.detail))
        if err.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response


__all__ = ["AppState", "CurrentPrincipal", "app_state", "create_app", "require_principal"]
