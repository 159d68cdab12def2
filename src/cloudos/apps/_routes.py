"""Routes, domains and redirects in the database, and the router table built from them.

Every rule about who may claim a host name lives in :class:`cloudos.router.RouteTable`;
this module checks a change by building the table with it (so a change that breaks
a rule raises before anything is stored) and turns database rows into the table the
router serves.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloudos.apps._stack import parse_template
from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.router import (
    CONTROL_SOCKET,
    CONTROL_VERIFY_URI,
    PLATFORM_SPACE,
    BasicAuthUser,
    Domain,
    ForwardAuth,
    Platform,
    Redirect,
    RedirectStatus,
    Route,
    RouteTable,
    SocketUpstream,
    TlsMode,
    UploadedCertificate,
    Upstream,
    normalize_domain,
    normalize_path,
    parse_size,
)
from cloudos.spaces import create_space, get_space, network_name
from cloudos.statuses import DesiredState
from cloudos.store.models import App, AppRevision, DomainClaim, RedirectRow, RouteRow, Space
from cloudos.templates import Template
from cloudos.vault import Vault

log = logging.getLogger(__name__)

CONTROL_TARGET = "control"  # forward auth to the cloud's own sign-in
ROUTE_OPTIONS = frozenset(
    {
        "aliases",
        "basic_auth",
        "forward_auth",
        "hsts",
        "https_redirect",
        "max_body_bytes",
        "response_headers",
    }
)


def app_hostname(app: str, space_domain: str, subdomain: str | None = None) -> str:
    """The default host name of an app (``<app>.<space domain>``, or a subdomain of it)."""
    base = f"{app}.{space_domain}"
    return f"{subdomain}.{base}" if subdomain else base


def served_ports(template: Template) -> dict[str, set[int]]:
    """Ports each service serves: its template routes, ``expose`` and published targets."""
    ports: dict[str, set[int]] = {name: set() for name in template.services}
    for route in template.routes:
        ports[route.service].add(route.port)
    for name, service in template.services.items():
        for entry in service.get("expose") or []:
            ports[name].add(int(str(entry).split("/")[0]))
        for entry in service.get("ports") or []:
            if isinstance(entry, Mapping) and str(entry.get("target", "")).isdigit():
                ports[name].add(int(entry["target"]))
            elif isinstance(entry, str | int):
                target = str(entry).split(":")[-1].split("/")[0]
                if target.isdigit():
                    ports[name].add(int(target))
    return ports


def default_routes(session: Session, app: App, template: Template) -> list[RouteRow]:
    """The routes an app gets from its template, checked against every other claim."""
    rows = [
        RouteRow(
            space_id=app.space.id,
            app_id=app.id,
            domain=app_hostname(app.name, app.space.domain, route.subdomain),
            path=normalize_path(route.path),
            service=route.service,
            port=route.port,
            is_default=True,
            options={},
        )
        for route in template.routes
    ]
    if rows:
        table = route_table(session, instance="check")
        for row in rows:
            table.add_route(_route(row, app, instance="check"))
    return rows


def add_route(
    session: Session,
    *,
    space: str,
    app_name: str,
    domain: str,
    path: str = "/",
    service: str | None = None,
    port: int | None = None,
    strip_prefix: bool = False,
    options: Mapping[str, Any] | None = None,
    platform: Platform | None = None,
) -> RouteRow:
    """Add a route to one of an app's services; refused if it breaks a rule."""
    found = get_space(session, space)
    app, template = _live_app(session, found, app_name)
    service, port = _service_port(app_name, template, service=service, port=port)
    extra = route_options(session, found, options or {})
    row = RouteRow(
        space_id=found.id,
        app_id=app.id,
        domain=normalize_domain(domain),
        path=normalize_path(path),
        service=service,
        port=port,
        is_default=False,
        options={**extra, "strip_prefix": strip_prefix},
    )
    row_route = _route(row, app, instance="check")
    route_table(session, instance="check", platform=platform).add_route(row_route)
    session.add(row)
    session.flush()
    return row


def add_space(
    session: Session, *, name: str, domain: str | None = None, platform: Platform | None = None
) -> Space:
    """Create a space; refused if its domain overlaps the platform's names, another
    space's domain, or a name another space routes, redirects or claims."""
    space = create_space(session, name=name, domain=domain)
    table = route_table(session, instance="check", platform=platform, without=space.id)
    table.add_space(space.name, space.domain)
    return space


def route_options(session: Session, space: Space, options: Mapping[str, Any]) -> dict[str, Any]:
    """Route options as stored: checked, sizes in bytes, passwords hashed, auth resolved.

    Basic auth accounts may come with a plain ``password``: it is hashed with bcrypt
    here and only the hash is kept. ``forward_auth`` is ``http://APP[:PORT]/PATH``,
    an app of the route's space, stored as the service address the router dials.
    """
    if not isinstance(options, Mapping):
        raise InvalidInput("options must be an object")
    unknown = sorted(set(options) - ROUTE_OPTIONS)
    if unknown:
        known = ", ".join(sorted(ROUTE_OPTIONS))
        raise InvalidInput(f"unknown route option {unknown[0]!r} (known: {known})")
    result: dict[str, Any] = {}
    for name in ("https_redirect", "hsts"):
        if name in options and options[name] is not None:
            if not isinstance(options[name], bool):
                raise InvalidInput(f"{name} must be true or false")
            result[name] = options[name]
    if options.get("max_body_bytes") is not None:
        result["max_body_bytes"] = parse_size(
            options["max_body_bytes"], field_name="max_body_bytes"
        )
    if options.get("aliases"):
        aliases = options["aliases"]
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise InvalidInput("aliases must be a list of domain names")
        result["aliases"] = [normalize_domain(alias, field_name="alias") for alias in aliases]
    if options.get("response_headers"):
        headers = options["response_headers"]
        if not isinstance(headers, Mapping) or not all(
            isinstance(v, str) for v in headers.values()
        ):
            raise InvalidInput("response_headers must map header names to text values")
        result["response_headers"] = dict(headers)
    if options.get("basic_auth"):
        if not isinstance(options["basic_auth"], list):
            raise InvalidInput("basic_auth must be a list of accounts (username and password)")
        result["basic_auth"] = [_basic_auth_user(entry) for entry in options["basic_auth"]]
    if options.get("forward_auth"):
        result["forward_auth"] = _forward_auth(session, space, options["forward_auth"])
    return result


def _basic_auth_user(entry: object) -> dict[str, str]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("username"), str):
        raise InvalidInput(
            "basic_auth: each account needs a username and a password", field="basic_auth"
        )
    username = entry["username"]
    if entry.get("password") is not None:
        user = BasicAuthUser.from_password(username, entry["password"])
    elif isinstance(entry.get("password_hash"), str):
        user = BasicAuthUser(username=username, password_hash=entry["password_hash"])
    else:
        raise InvalidInput(f"basic auth user {username!r}: a password is required")
    return {"username": user.username, "password_hash": user.password_hash}


def _forward_auth(session: Session, space: Space, target: object) -> dict[str, str]:
    if target == CONTROL_TARGET:
        # Resolved when the config is rendered: where the control plane answers is the
        # router's business, not something to freeze in a stored route.
        return {"target": CONTROL_TARGET}
    url = target if isinstance(target, str) else ""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "http" or not parts.hostname or port == -1 or parts.query:
        raise InvalidInput(
            f"forward_auth {target!r}: write {CONTROL_TARGET!r} (the cloud's own sign-in: "
            f"members of space {space.name!r} pass) or http://APP[:PORT]/PATH, APP being an "
            f"app of space {space.name!r} that answers 2xx to let a request through"
        )
    app, template = _live_app(session, space, parts.hostname)
    service, port = _service_port(parts.hostname, template, service=None, port=port)
    auth = ForwardAuth(upstream=f"{app.stack}_{service}:{port}", uri=parts.path or "/")
    return {"app": app.name, "upstream": auth.upstream, "uri": auth.uri}


def _live_app(session: Session, space: Space, app_name: str) -> tuple[App, Template]:
    """The app named ``app_name`` of ``space`` (not being removed) and its current template."""
    app = session.scalar(select(App).where(App.space_id == space.id, App.name == app_name))
    if app is None or app.desired_state == DesiredState.REMOVED:
        raise NotFound(f"app {app_name!r} does not exist in space {space.name!r}")
    revision = session.scalar(
        select(AppRevision).where(AppRevision.app_id == app.id, AppRevision.number == app.revision)
    )
    assert revision is not None
    return app, parse_template(revision.template_text, revision.template_source)


def _service_port(
    app_name: str, template: Template, *, service: str | None, port: int | None
) -> tuple[str, int]:
    """The service and port of an app that serve HTTP: as given, else the only candidates."""
    ports = served_ports(template)
    if service is None:
        if len(template.services) != 1 and not template.routes:
            raise InvalidInput(f"app {app_name!r} has several services: name one with --service")
        service = template.routes[0].service if template.routes else next(iter(template.services))
    if service not in ports:
        raise InvalidInput(f"app {app_name!r} has no service {service!r}")
    if port is None:
        if len(ports[service]) != 1:
            raise InvalidInput(f"say which port of {service!r} serves HTTP (--port)")
        port = next(iter(ports[service]))
    if port not in ports[service]:
        served = ", ".join(str(p) for p in sorted(ports[service])) or "none"
        raise InvalidInput(
            f"service {service!r} of app {app_name!r} does not serve port {port} "
            f"(it serves: {served})"
        )
    return service, port


def remove_route(
    session: Session,
    *,
    domain: str,
    path: str = "/",
    check_space: Callable[[int], object] | None = None,
) -> None:
    """Remove the route of ``domain`` and ``path``."""
    row = session.scalar(
        select(RouteRow).where(
            RouteRow.domain == normalize_domain(domain), RouteRow.path == normalize_path(path)
        )
    )
    if row is None:
        raise NotFound(f"no route for {domain}{normalize_path(path)}")
    if check_space is not None:
        check_space(row.space_id)
    session.delete(row)


def add_domain(
    session: Session,
    vault: Vault,
    *,
    space: str,
    name: str,
    tls: str | None = None,
    certificate_pem: str | None = None,
    key_pem: str | None = None,
    platform: Platform | None = None,
) -> DomainClaim:
    """Claim a domain for a space (with an uploaded certificate, or ACME/internal)."""
    found = get_space(session, space)
    mode = _tls_mode(tls) if tls else (TlsMode.UPLOADED if certificate_pem else None)
    certificate = None
    if mode == TlsMode.UPLOADED:
        if not certificate_pem or not key_pem:
            raise InvalidInput(
                "an uploaded certificate needs both the certificate and its key (PEM)"
            )
        certificate = UploadedCertificate(certificate_pem=certificate_pem, key_pem=key_pem)
    claim = Domain(name=name, space=found.name, tls=mode, certificate=certificate)
    route_table(session, instance="check", platform=platform).set_domain(claim)
    if session.scalar(select(DomainClaim).where(DomainClaim.name == claim.name)) is not None:
        raise Conflict(f"domain {claim.name} is already claimed")
    row = DomainClaim(
        space_id=found.id,
        name=claim.name,
        tls=mode.value if mode else None,
        certificate_pem=certificate_pem if certificate else None,
        key_pem=vault.encrypt(key_pem) if certificate and key_pem else None,
    )
    session.add(row)
    session.flush()
    return row


def _tls_mode(tls: str) -> TlsMode:
    try:
        return TlsMode(tls)
    except ValueError:
        modes = ", ".join(mode.value for mode in TlsMode)
        raise InvalidInput(f"tls {tls!r}: use one of {modes}") from None


def remove_domain(
    session: Session, *, name: str, check_space: Callable[[int], object] | None = None
) -> None:
    """Give up a domain claim."""
    row = session.scalar(select(DomainClaim).where(DomainClaim.name == normalize_domain(name)))
    if row is None:
        raise NotFound(f"domain {name} is not claimed")
    if check_space is not None:
        check_space(row.space_id)
    session.delete(row)


def add_redirect(
    session: Session,
    *,
    space: str,
    domain: str,
    to: str,
    status: int = 301,
    keep_path: bool = True,
    path: str = "/",
    platform: Platform | None = None,
) -> RedirectRow:
    """Answer ``domain`` (under ``path``) with a redirect to ``to``."""
    found = get_space(session, space)
    if status not in (301, 302, 307, 308):
        raise InvalidInput(f"redirect status {status}: use 301, 302, 307 or 308")
    redirect = Redirect(
        domain=domain,
        space=found.name,
        to=to,
        status=cast(RedirectStatus, status),
        keep_path=keep_path,
        path=path,
    )
    route_table(session, instance="check", platform=platform).add_redirect(redirect)
    row = RedirectRow(
        space_id=found.id,
        domain=redirect.domain,
        path=redirect.path,
        to=redirect.to,
        status=redirect.status,
        keep_path=redirect.keep_path,
    )
    session.add(row)
    session.flush()
    return row


def remove_redirect(
    session: Session,
    *,
    domain: str,
    path: str = "/",
    check_space: Callable[[int], object] | None = None,
) -> None:
    """Remove the redirect of ``domain`` and ``path``."""
    row = session.scalar(
        select(RedirectRow).where(
            RedirectRow.domain == normalize_domain(domain), RedirectRow.path == normalize_path(path)
        )
    )
    if row is None:
        raise NotFound(f"no redirect for {domain}{normalize_path(path)}")
    if check_space is not None:
        check_space(row.space_id)
    session.delete(row)


def route_table(
    session: Session,
    *,
    instance: str,
    vault: Vault | None = None,
    portals: bool = False,
    platform: Platform | None = None,
    without: int | None = None,
) -> RouteTable:
    """The router table of everything stored: each space's own domain, routes of apps
    not being removed, with maintenance pages for stopped apps, plus domains and
    redirects; with ``portals``, the control plane at the platform host and each
    space's portal at its own domain wherever no route or redirect of the space claims
    that domain's root (what the user routes there comes first).

    A stored claim today's rules refuse (made before a rule existed, or the platform
    host moved onto it) is left out with a warning, never served. ``without`` leaves
    out the own domain of the space with that id (a new space being checked)."""
    table = RouteTable(platform=platform)
    spaces = {space.id: space for space in session.scalars(select(Space).order_by(Space.id))}
    for space in spaces.values():
        if space.id == without:  # a space being checked
            continue
        _keep(table.add_space, space.name, space.domain, what=f"space {space.name}'s domain")
    for claim in session.scalars(select(DomainClaim).order_by(DomainClaim.name)):
        _keep(table.set_domain, _domain(claim, spaces[claim.space_id].name, vault), what="domain")
    rows = session.scalars(
        select(RouteRow).options().order_by(RouteRow.domain, RouteRow.path)
    ).all()
    apps = {
        app.id: app
        for app in session.scalars(
            select(App)
            .where(App.id.in_({row.app_id for row in rows}))
            .options(selectinload(App.space))
        )
    }
    for row in rows:
        app = apps.get(row.app_id)
        if app is not None and app.desired_state != DesiredState.REMOVED:
            _keep(table.add_route, _route(row, app, instance=instance), what="route")
    for kept in session.scalars(select(RedirectRow).order_by(RedirectRow.domain, RedirectRow.path)):
        redirect = Redirect(
            domain=kept.domain,
            space=spaces[kept.space_id].name,
            to=kept.to,
            status=kept.status,  # type: ignore[arg-type]
            keep_path=kept.keep_path,
            path=kept.path,
        )
        _keep(table.add_redirect, redirect, what="redirect")
    if portals:
        table.serve_platform(platform_route(table.platform))
        for space in sorted(spaces.values(), key=lambda space: space.name):
            if not space.removing:
                _add_portal(table, space)
    return table


def _keep(add: Callable[..., None], *args: Any, what: str) -> None:
    try:
        add(*args)
    except Conflict as err:
        log.warning("stored %s left out of the router: %s", what, err)


def _domain(claim: DomainClaim, space_name: str, vault: Vault | None) -> Domain:
    mode = TlsMode(claim.tls) if claim.tls else None
    if mode != TlsMode.UPLOADED:
        return Domain(name=claim.name, space=space_name, tls=mode)
    if vault is None or not claim.certificate_pem or not claim.key_pem:
        # Checking claims needs no key: the name and space are what count.
        return Domain(name=claim.name, space=space_name)
    uploaded = UploadedCertificate(
        certificate_pem=claim.certificate_pem, key_pem=vault.decrypt(claim.key_pem)
    )
    return Domain(name=claim.name, space=space_name, tls=mode, certificate=uploaded)


def platform_route(platform: Platform) -> Route:
    """The control plane (sign-in, API, pages) at the platform host, and nowhere else."""
    return Route(
        domain=platform.host, space=PLATFORM_SPACE, upstream=SocketUpstream(CONTROL_SOCKET)
    )


def portal_redirect(space: Space, platform: Platform) -> Redirect:
    """The space's domain sends visitors to its portal on the platform host: nothing of
    the control plane (its sign-in, API or cookie) is ever served at a space's domain."""
    return Redirect(
        domain=space.domain,
        space=space.name,
        to=platform.url(f"/portal/{space.name}"),
        status=302,
        keep_path=False,
    )


def _add_portal(table: RouteTable, space: Space) -> None:
    # Not when the root is routed elsewhere, or the name is another space's.
    with contextlib.suppress(Conflict):
        table.add_redirect(portal_redirect(space, table.platform))


def portal_host(session: Session, space: Space) -> str | None:
    """Where the router serves ``space``'s portal: its domain, unless something else is
    routed at that domain's root."""
    claimed = session.scalar(
        select(RouteRow.id).where(RouteRow.domain == space.domain, RouteRow.path == "/")
    ) or session.scalar(
        select(RedirectRow.id).where(RedirectRow.domain == space.domain, RedirectRow.path == "/")
    )
    if claimed is not None:
        return None
    owner = session.scalar(select(DomainClaim).where(DomainClaim.name == space.domain))
    return space.domain if owner is None or owner.space_id == space.id else None


def _route(row: RouteRow, app: App, *, instance: str) -> Route:
    options: dict[str, Any] = dict(row.options or {})
    return Route(
        domain=row.domain,
        space=app.space.name,
        upstream=Upstream(
            service=f"{app.stack}_{row.service}",
            port=row.port,
            network=network_name(instance, app.space.name),
        ),
        path=row.path,
        strip_prefix=bool(options.get("strip_prefix", False)),
        aliases=tuple(options.get("aliases") or ()),
        https_redirect=bool(options.get("https_redirect", True)),
        hsts=options.get("hsts"),
        max_body_bytes=options.get("max_body_bytes"),
        basic_auth=tuple(
            BasicAuthUser(username=str(user["username"]), password_hash=str(user["password_hash"]))
            for user in options.get("basic_auth") or []
        ),
        maintenance=app.desired_state == DesiredState.STOPPED,
        response_headers=tuple(
            (str(k), str(v)) for k, v in dict(options.get("response_headers") or {}).items()
        ),
        forward_auth=_stored_forward_auth(options.get("forward_auth"), space=app.space.name),
        app=app.name,
    )


def _stored_forward_auth(stored: object, *, space: str) -> ForwardAuth | None:
    if not isinstance(stored, Mapping):
        return None
    if stored.get("target") == CONTROL_TARGET:
        return control_forward_auth(space)
    return ForwardAuth(upstream=str(stored["upstream"]), uri=str(stored["uri"]))


def control_forward_auth(space: str) -> ForwardAuth:
    """Forward auth to the control plane: members of ``space`` (and cluster admins) pass."""
    return ForwardAuth(
        upstream=SocketUpstream(CONTROL_SOCKET).dial,
        uri=f"{CONTROL_VERIFY_URI}?{urlencode({'space': space})}",
    )


__all__ = [
    "CONTROL_TARGET",
    "ROUTE_OPTIONS",
    "add_domain",
    "add_redirect",
    "add_route",
    "add_space",
    "app_hostname",
    "control_forward_auth",
    "default_routes",
    "platform_route",
    "portal_host",
    "portal_redirect",
    "remove_domain",
    "remove_redirect",
    "remove_route",
    "route_options",
    "route_table",
    "served_ports",
]
