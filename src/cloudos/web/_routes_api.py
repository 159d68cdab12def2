"""REST API of routes, domains and certificates (``/api/v1/routes`` ...)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.apps._routes import (
    CONTROL_TARGET,
    add_domain,
    add_redirect,
    add_route,
    remove_domain,
    remove_redirect,
    remove_route,
)
from cloudos.engine import service_logs, volume_mountpoint
from cloudos.errors import CloudOSError, Forbidden
from cloudos.identity import Principal, authorize, role_in
from cloudos.router import (
    CertificateError,
    CertificateInfo,
    certificate_errors,
    read_certificates,
    served_certificate,
)
from cloudos.statuses import DesiredState
from cloudos.store.models import App, DomainClaim, RedirectRow, RouteRow, Space
from cloudos.web._auth import CurrentPrincipal, visible_space_names
from cloudos.web._models import RequestBody
from cloudos.web._state import app_state

router = APIRouter(prefix="/api/v1", tags=["router"])
HostQuery = Annotated[str, Query(max_length=253)]
PathQuery = Annotated[str, Query(max_length=1024)]
# Lines of the router's log read for certificate errors: Caddy logs little else (no
# access log), and a failing name is retried (and logged) at least every hour or so.
LOG_TAIL = 5000


def _in_space(session: Session, principal: Principal, needed: str) -> Callable[[int], object]:
    """A check that the caller has ``needed`` in the space with the given id."""

    def check(space_id: int) -> object:
        space = session.get(Space, space_id)
        return authorize(session, principal, space.name if space else "", needed)

    return check


class RouteIn(RequestBody):
    """A route to add to one of an app's services."""

    space: str = "default"
    app: str
    domain: str
    path: str = "/"
    service: str | None = None
    port: int | None = None
    strip_prefix: bool = False
    options: dict[str, Any] = Field(default_factory=dict)


class RouteOut(BaseModel):
    """A route of the router."""

    space: str
    app: str
    domain: str
    path: str
    service: str
    port: int
    default: bool
    options: dict[str, Any]
    url: str


class DomainIn(RequestBody):
    """A domain to claim for a space."""

    space: str = "default"
    name: str
    tls: str | None = Field(default=None, description="acme, internal or uploaded")
    certificate_pem: str | None = None
    key_pem: str | None = None


class DomainOut(BaseModel):
    """A claimed domain."""

    space: str
    name: str
    tls: str | None
    created_at: datetime


class RedirectIn(RequestBody):
    """A domain (and path) to answer with a redirect."""

    space: str = "default"
    domain: str
    to: str
    status: int = 301
    keep_path: bool = True
    path: str = "/"


class RedirectOut(RedirectIn):
    """A redirect of the router."""


class RouterOut(BaseModel):
    """The router's settings."""

    enabled: bool
    http_port: int
    https_port: int
    acme_directory: str
    acme_email: str | None


class CertificateOut(BaseModel):
    """A certificate the router holds or serves, or a name it could not get one for yet."""

    names: list[str]
    issuer: str | None = Field(description="None: no certificate (yet), see last_error")
    not_before: datetime | None
    not_after: datetime | None
    serial: str | None
    source: str
    last_error: str | None = Field(
        default=None, description="Why the last attempt to get it failed (from the router's log)"
    )
    last_error_at: datetime | None = None


def _route_out(request: Request, row: RouteRow, app: App) -> RouteOut:
    settings = app_state(request).settings
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    options: dict[str, Any] = dict(row.options or {})
    if "basic_auth" in options:  # user names only: the hashes stay in the database
        options["basic_auth"] = [user["username"] for user in options["basic_auth"]]
    if "forward_auth" in options:
        auth = options["forward_auth"]
        if auth.get("target") != CONTROL_TARGET:
            options["forward_auth"] = {"app": auth["app"], "uri": auth["uri"]}
    return RouteOut(
        space=app.space.name,
        app=app.name,
        domain=row.domain,
        path=row.path,
        service=row.service,
        port=row.port,
        default=row.is_default,
        options=options,
        url=f"https://{row.domain}{port}{row.path}",
    )


@router.get("/routes", response_model=list[RouteOut])
def routes(
    request: Request,
    principal: CurrentPrincipal,
    space: Annotated[str | None, Query(max_length=32)] = None,
) -> list[RouteOut]:
    """Every route (of one space with ``space``)."""
    state = app_state(request)
    with state.database.session() as session:
        query = (
            select(RouteRow, App)
            .join(App, App.id == RouteRow.app_id)
            .order_by(RouteRow.domain, RouteRow.path)
        )
        query = query.join(Space, Space.id == RouteRow.space_id)
        if space is not None:
            query = query.where(Space.name == space)
        visible = visible_space_names(session, principal)
        if visible is not None:
            query = query.where(Space.name.in_(sorted(visible)))
        return [
            _route_out(request, row, app)
            for row, app in session.execute(query).all()
            if app.desired_state != DesiredState.REMOVED
        ]


@router.post("/routes", response_model=RouteOut, status_code=201)
def route_add(body: RouteIn, request: Request, principal: CurrentPrincipal) -> RouteOut:
    """Send a domain (and path prefix) to a service port of an app."""
    state = app_state(request)
    with state.database.session() as session:
        authorize(session, principal, body.space, "developer")
        row = add_route(
            session,
            space=body.space,
            app_name=body.app,
            domain=body.domain,
            path=body.path,
            service=body.service,
            port=body.port,
            strip_prefix=body.strip_prefix,
            options=body.options,
            platform=state.settings.platform,
        )
        app = session.get(App, row.app_id)
        assert app is not None
        out = _route_out(request, row, app)
    state.apps_wake()
    return out


@router.delete("/routes", status_code=204)
def route_remove(
    request: Request, principal: CurrentPrincipal, domain: HostQuery, path: PathQuery = "/"
) -> Response:
    """Remove the route of a domain and path prefix."""
    state = app_state(request)
    with state.database.session() as session:
        remove_route(
            session,
            domain=domain,
            path=path,
            check_space=_in_space(session, principal, "developer"),
        )
    state.apps_wake()
    return Response(status_code=204)


@router.get("/domains", response_model=list[DomainOut])
def domains(request: Request, principal: CurrentPrincipal) -> list[DomainOut]:
    """Every claimed domain."""
    state = app_state(request)
    with state.database.session() as session:
        visible = visible_space_names(session, principal)
        rows = [
            (row, space)
            for row, space in session.execute(
                select(DomainClaim, Space)
                .join(Space, Space.id == DomainClaim.space_id)
                .order_by(DomainClaim.name)
            ).all()
            if visible is None or space.name in visible
        ]
        return [
            DomainOut(space=space.name, name=row.name, tls=row.tls, created_at=row.created_at)
            for row, space in rows
        ]


@router.post("/domains", response_model=DomainOut, status_code=201)
def domain_add(body: DomainIn, request: Request, principal: CurrentPrincipal) -> DomainOut:
    """Claim a domain for a space; an uploaded certificate is stored with its key encrypted."""
    state = app_state(request)
    with state.database.session() as session:
        authorize(session, principal, body.space, "admin")
        row = add_domain(
            session,
            state.apps.vault,
            space=body.space,
            name=body.name,
            tls=body.tls,
            certificate_pem=body.certificate_pem,
            key_pem=body.key_pem,
            platform=state.settings.platform,
        )
        out = DomainOut(space=body.space, name=row.name, tls=row.tls, created_at=row.created_at)
    state.apps_wake()
    return out


@router.delete("/domains/{name}", status_code=204)
def domain_remove(name: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Give up a domain claim."""
    state = app_state(request)
    with state.database.session() as session:
        remove_domain(session, name=name, check_space=_in_space(session, principal, "admin"))
    state.apps_wake()
    return Response(status_code=204)


@router.get("/redirects", response_model=list[RedirectOut])
def redirects(request: Request, principal: CurrentPrincipal) -> list[RedirectOut]:
    """Every redirect."""
    state = app_state(request)
    with state.database.session() as session:
        visible = visible_space_names(session, principal)
        rows = [
            (row, space)
            for row, space in session.execute(
                select(RedirectRow, Space)
                .join(Space, Space.id == RedirectRow.space_id)
                .order_by(RedirectRow.domain, RedirectRow.path)
            ).all()
            if visible is None or space.name in visible
        ]
        return [
            RedirectOut(
                space=space.name,
                domain=row.domain,
                to=row.to,
                status=row.status,
                keep_path=row.keep_path,
                path=row.path,
            )
            for row, space in rows
        ]


@router.post("/redirects", response_model=RedirectOut, status_code=201)
def redirect_add(body: RedirectIn, request: Request, principal: CurrentPrincipal) -> RedirectOut:
    """Answer a domain with a redirect (e.g. www to the apex)."""
    state = app_state(request)
    with state.database.session() as session:
        authorize(session, principal, body.space, "developer")
        row = add_redirect(
            session,
            space=body.space,
            domain=body.domain,
            to=body.to,
            status=body.status,
            keep_path=body.keep_path,
            path=body.path,
            platform=state.settings.platform,
        )
        out = RedirectOut(
            space=body.space,
            domain=row.domain,
            to=row.to,
            status=row.status,
            keep_path=row.keep_path,
            path=row.path,
        )
    state.apps_wake()
    return out


@router.delete("/redirects", status_code=204)
def redirect_remove(
    request: Request, principal: CurrentPrincipal, domain: HostQuery, path: PathQuery = "/"
) -> Response:
    """Remove a redirect."""
    state = app_state(request)
    with state.database.session() as session:
        remove_redirect(
            session,
            domain=domain,
            path=path,
            check_space=_in_space(session, principal, "developer"),
        )
    state.apps_wake()
    return Response(status_code=204)


@router.get(
    "/auth/verify",
    status_code=204,
    tags=["identity"],
    responses={204: {"description": "Let the request through (Remote-User, Remote-Groups)"}},
)
def auth_verify(
    request: Request,
    principal: CurrentPrincipal,
    space: Annotated[
        str | None,
        Query(
            max_length=32,
            description="Let only members of this space (and cluster admins) through",
        ),
    ] = None,
) -> Response:
    """Forward-auth check: 204 with the caller in ``Remote-*`` headers, 401 otherwise.

    The router asks this for every request to a route with forward auth, sending the
    client's own headers (its ``Authorization`` or session cookie), and copies the
    ``Remote-*`` headers of a 2xx answer into the request it proxies. A route of a
    space asks with ``space``: a signed-in stranger to it gets 403, and the caller's
    role there is one of the groups.
    """
    groups = ["admins"] if principal.is_admin else []
    if space is not None:
        with app_state(request).database.session() as session:
            found = session.scalar(select(Space).where(Space.name == space))
            role = None if found is None else role_in(session, principal, found)
        if role is None:
            raise Forbidden(f"{principal.username} is not a member of space {space!r}")
        groups.append(role)
    return Response(
        status_code=204,
        headers={"Remote-User": principal.username, "Remote-Groups": ",".join(groups)},
    )


@router.get("/router", response_model=RouterOut)
def router_settings(request: Request, principal: CurrentPrincipal) -> RouterOut:
    """The router's ports and ACME settings (set with CLOUDOS_* or cloudos.toml)."""
    settings = app_state(request).settings
    return RouterOut(
        enabled=settings.router,
        http_port=settings.http_port,
        https_port=settings.https_port,
        acme_directory=settings.acme_directory,
        acme_email=settings.acme_email,
    )


@router.get("/certificates", response_model=list[CertificateOut])
def certificates(request: Request, principal: CurrentPrincipal) -> list[CertificateOut]:
    """Certificates of the router's domains (stored ones, else the one it serves), each
    with the last error the router logged for its names; a name without any
    certificate but with an error is listed too."""
    state = app_state(request)
    settings = state.settings
    found: list[CertificateInfo] = []
    client = state.connect_engine()
    try:
        storage = volume_mountpoint(client, volume=f"{settings.instance_name}-router_data")
        errors = _router_errors(client, f"{settings.instance_name}-router_caddy")
    finally:
        client.close()
    if storage:
        found = read_certificates(f"{storage}/caddy")
    with state.database.session() as session:
        visible = visible_space_names(session, principal)
        query = select(RouteRow.domain).join(Space, Space.id == RouteRow.space_id)
        if visible is not None:
            query = query.where(Space.name.in_(sorted(visible)))
        hosts = sorted(set(session.scalars(query)))
    if visible is not None:  # only certificates for the caller's own domains
        found = [cert for cert in found if set(cert.names) & set(hosts)]
    stored = {name for cert in found for name in cert.names}
    for host in hosts:
        if host in stored:
            continue
        try:
            found.append(
                served_certificate(
                    host="127.0.0.1", port=settings.https_port, server_name=host, timeout=2
                )
            )
        except (CloudOSError, OSError):  # not served (yet): nothing to show for it
            continue
    listed = [_certificate_out(cert, errors) for cert in found]
    covered = {name for cert in found for name in cert.names}
    listed.extend(
        CertificateOut(
            names=[name],
            issuer=None,
            not_before=None,
            not_after=None,
            serial=None,
            source="none",
            last_error=error.message,
            last_error_at=error.at,
        )
        for name, error in sorted(errors.items())
        if name not in covered and (visible is None or name in hosts)
    )
    return listed


def _router_errors(client: Any, service: str) -> dict[str, CertificateError]:
    """The last certificate error per name in the router's log (none when it is not there)."""
    try:
        raw = b"".join(service_logs(client, service=service, tail=LOG_TAIL))
    except CloudOSError:
        return {}
    return certificate_errors(raw.decode("utf-8", "replace").splitlines())


def _certificate_out(cert: CertificateInfo, errors: dict[str, CertificateError]) -> CertificateOut:
    error = next((errors[name] for name in cert.names if name in errors), None)
    return CertificateOut(
        names=list(cert.names),
        issuer=cert.issuer,
        not_before=cert.not_before,
        not_after=cert.not_after,
        serial=str(cert.serial),
        source=cert.source,
        last_error=error.message if error else None,
        last_error_at=error.at if error else None,
    )


__all__ = ["router"]
