"""The route table as one Caddy 2.6 JSON config (pure, deterministic).

The control plane owns Caddy's whole configuration: it renders it from the table and
loads it in one ``POST /load``. So the config must be a function of its inputs only,
with a stable order everywhere (hosts sorted, longest path first): the same table
gives byte-identical JSON under ``json.dumps(sort_keys=True)``, and a diff of two
configs shows what changed.

Shape of the result:

- ``admin`` keeps listening on the unix socket: a config without it would close the
  only way back in.
- ``storage`` is the router's ``/data`` volume, so certificates and ACME accounts
  survive restarts and are never requested again needlessly.
- Server ``https`` (``:https_port``) serves every host; Caddy's automatic HTTPS gets
  certificates for them, but its own HTTP->HTTPS redirects are off because server
  ``http`` (``:http_port``) carries them explicitly, per route: a route with
  ``https_redirect=False`` is served on plain HTTP instead. Caddy answers ACME HTTP
  challenges on that server before any route runs.
- Certificates: one automation policy per issuer (ACME with the configured directory,
  or Caddy's internal CA); uploaded certificates are loaded as PEM and kept out of
  automation.
- Upstreams: with ``dnsrr`` services have no stable address, so Caddy resolves the
  service name's A records every second (``dynamic_upstreams``) and never dials a task
  that is gone; with ``vip`` the service name's virtual IP is stable and dialed as is.
  Dial failures are retried for a few seconds, which covers a task being replaced.
- HSTS (``Strict-Transport-Security: max-age=31536000``, no ``includeSubDomains``: a
  space's apps may live on other names) is set on HTTPS answers only, never on plain
  HTTP nor on redirects to HTTPS. A route's own ``hsts`` decides; without one, the
  platform-wide ``hsts`` policy does: ``all`` (every HTTPS answer), ``public`` (public
  names and the platform host only) or ``off``. A user's own header always wins.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cloudos.errors import InvalidInput
from cloudos.router._model import (
    LETS_ENCRYPT_DIRECTORY,
    Redirect,
    Route,
    SocketUpstream,
    TlsMode,
    is_private_domain,
)
from cloudos.router._platform import PLATFORM_SPACE
from cloudos.router._table import RouteTable

EndpointMode = Literal["dnsrr", "vip"]
# Which HTTPS answers carry HSTS when a route does not say: every one, those of public
# names (and the platform host), or none.
HstsPolicy = Literal["all", "public", "off"]
HSTS_POLICIES: tuple[HstsPolicy, ...] = ("all", "public", "off")
JSON = dict[str, Any]

DEFAULT_ADMIN_SOCKET = "/run/cloudos-router/admin.sock"  # next to CONTROL_SOCKET
DEFAULT_STORAGE_ROOT = "/data/caddy"
# Caddy 2.6 reloads by binding a new listener next to the old one (SO_REUSEPORT) and
# closing the old one; without this, connections queued on the old one are reset.
# The router service must run with these (they are per network namespace).
ROUTER_SYSCTLS = {"net.ipv4.tcp_migrate_req": "1"}
HSTS_VALUE = "max-age=31536000"
UPSTREAM_REFRESH = "1s"
RETRY_DURATION = "5s"
RETRY_INTERVAL = "250ms"

_MAINTENANCE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:20vh auto;color:#333}}</style>
</head><body><h1>{title}</h1>
<p>This app is stopped for maintenance. Please try again later.</p>
</body></html>
"""


def render_caddy_config(
    table: RouteTable,
    *,
    endpoint_mode: EndpointMode,
    http_port: int = 80,
    https_port: int = 443,
    admin_socket: str = DEFAULT_ADMIN_SOCKET,
    acme_directory: str = LETS_ENCRYPT_DIRECTORY,
    acme_email: str | None = None,
    acme_ca_root: str | None = None,
    storage_root: str = DEFAULT_STORAGE_ROOT,
    hsts: HstsPolicy = "all",
) -> JSON:
    """The whole Caddy config serving ``table``; the same inputs give the same config."""
    _check_settings(
        endpoint_mode=endpoint_mode,
        ports=(http_port, https_port),
        paths=(admin_socket, storage_root),
        hsts=hsts,
    )
    https_hosts = _server_routes(
        table, tls=True, mode=endpoint_mode, https_port=https_port, hsts=hsts
    )
    http_hosts = _server_routes(
        table, tls=False, mode=endpoint_mode, https_port=https_port, hsts=hsts
    )
    uploaded = [host for host in table.hostnames() if table.tls_mode(host) == TlsMode.UPLOADED]
    https_server: JSON = {
        "listen": [f":{https_port}"],
        "routes": https_hosts,
        "automatic_https": {"disable_redirects": True},
    }
    if uploaded:
        https_server["automatic_https"]["skip_certificates"] = uploaded
    http_server: JSON = {"listen": [f":{http_port}"], "routes": http_hosts}
    config: JSON = {
        "admin": {"listen": f"unix/{admin_socket}"},
        "storage": {"module": "file_system", "root": storage_root},
        "apps": {
            "http": {
                "http_port": http_port,
                "https_port": https_port,
                "servers": {"http": http_server, "https": https_server},
            },
            # Caddy cannot (and must not) add its root to the container's trust store.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }
    tls = _tls_app(
        table,
        acme_directory=acme_directory,
        acme_email=acme_email,
        acme_ca_root=acme_ca_root,
    )
    if tls:
        config["apps"]["tls"] = tls
    return config


def dump_caddy_config(config: Mapping[str, Any]) -> bytes:
    """The config as compact, key-sorted JSON: what is loaded and what is compared."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def maintenance_page(app: str | None) -> str:
    """The small HTML page shown while an app is stopped."""
    title = f"{html.escape(app)} is stopped" if app else "This app is stopped"
    return _MAINTENANCE_PAGE.format(title=title)


def sends_hsts(route: Route, policy: HstsPolicy) -> bool:
    """Whether ``route``'s HTTPS answers carry HSTS: its own ``hsts``, else ``policy``.

    Under ``public`` the platform host keeps it (sign-in and the API are served there)."""
    if route.hsts is not None:
        return route.hsts
    if policy == "public":
        return route.space == PLATFORM_SPACE or not is_private_domain(route.domain)
    return policy == "all"


def _check_settings(
    *, endpoint_mode: str, ports: Sequence[int], paths: Sequence[str], hsts: str
) -> None:
    if endpoint_mode not in ("dnsrr", "vip"):
        raise InvalidInput(f"endpoint mode {endpoint_mode!r} must be 'dnsrr' or 'vip'")
    if hsts not in HSTS_POLICIES:
        raise InvalidInput(f"hsts {hsts!r} must be one of {', '.join(HSTS_POLICIES)}")
    for port in ports:
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidInput(f"router port {port!r} must be between 1 and 65535")
    if ports[0] == ports[1]:
        raise InvalidInput("the router's HTTP and HTTPS ports must differ")
    for path in paths:
        if not path.startswith("/"):
            raise InvalidInput(f"router path {path!r} must be absolute")


def _server_routes(
    table: RouteTable, *, tls: bool, mode: EndpointMode, https_port: int, hsts: HstsPolicy
) -> list[JSON]:
    """One top-level route per distinct host behaviour, the hosts sharing it in one matcher."""
    groups: dict[str, tuple[list[str], list[JSON]]] = {}
    for host in table.hostnames():
        routes = _host_routes(table, host, tls=tls, mode=mode, https_port=https_port, hsts=hsts)
        key = json.dumps(routes, sort_keys=True)
        groups.setdefault(key, ([], routes))[0].append(host)
    ordered = sorted(groups.values(), key=lambda group: group[0][0])
    served: list[JSON] = [
        {
            "match": [{"host": hosts}],
            "handle": [{"handler": "subroute", "routes": routes}],
            "terminal": True,
        }
        for hosts, routes in ordered
    ]
    # A host nobody routes gets a clear 404 rather than Caddy's empty 200.
    return [*served, {"handle": [_static(404, "No route for this host\n")]}]


def _host_routes(
    table: RouteTable,
    host: str,
    *,
    tls: bool,
    mode: EndpointMode,
    https_port: int,
    hsts: HstsPolicy,
) -> list[JSON]:
    routes: list[JSON] = []
    for path, claim in table.claims(host):
        if isinstance(claim, Redirect):
            handlers = [_redirect(claim)]
        elif not tls and claim.https_redirect:
            handlers = [_https_redirect(https_port)]
        else:
            handlers = _route_handlers(claim, hsts=tls and sends_hsts(claim, hsts), mode=mode)
        entry: JSON = {"handle": handlers}
        if path != "/":
            entry["match"] = [{"path": [path, f"{path}/*"]}]
        routes.append(entry)
    if not any(path == "/" for path, _ in table.claims(host)):
        routes.append({"handle": [_static(404, "Not Found\n")]})
    return routes


def _route_handlers(route: Route, *, hsts: bool, mode: EndpointMode) -> list[JSON]:
    handlers: list[JSON] = []
    headers = {name: [value] for name, value in route.response_headers}
    if hsts and not any(name.lower() == "strict-transport-security" for name in headers):
        headers["Strict-Transport-Security"] = [HSTS_VALUE]
    if headers:
        handlers.append({"handler": "headers", "response": {"set": headers}})
    if route.maintenance:
        page = _static(503, maintenance_page(route.app))
        page["headers"] = {
            "Cache-Control": ["no-store"],
            "Content-Type": ["text/html; charset=utf-8"],
            "Retry-After": ["30"],
        }
        handlers.append(page)
        return handlers
    if route.max_body_bytes is not None:
        handlers.extend(_body_limit(route.max_body_bytes))
    if route.basic_auth:
        handlers.append(
            {
                "handler": "authentication",
                "providers": {
                    "http_basic": {
                        "accounts": [
                            {"username": user.username, "password": user.password_hash}
                            for user in route.basic_auth
                        ],
                        "hash": {"algorithm": "bcrypt"},
                        "hash_cache": {},
                        "realm": route.domain,
                    }
                },
            }
        )
    if route.forward_auth is not None:
        handlers.append(_forward_auth(route))
    if route.strip_prefix:
        handlers.append({"handler": "rewrite", "strip_path_prefix": route.path})
    handlers.append(_reverse_proxy(route, mode))
    return handlers


def _body_limit(max_bytes: int) -> list[JSON]:
    """413 for a body over ``max_bytes``: announced (Content-Length) or streamed (chunked).

    Caddy 2.6's ``request_body`` alone cuts the body short while proxying it, which
    ends in a 502 when the client announced the length; a too-large Content-Length is
    therefore answered 413 before anything is proxied, and ``request_body`` catches
    chunked bodies (Caddy answers 413 for those itself).
    """
    too_large = {"header_regexp": {"Content-Length": {"pattern": greater_than_pattern(max_bytes)}}}
    return [
        {
            "handler": "subroute",
            "routes": [
                {"match": [too_large], "handle": [_static(413, "Request body too large\n")]}
            ],
        },
        {"handler": "request_body", "max_size": max_bytes},
    ]


def greater_than_pattern(limit: int) -> str:
    """A regular expression matching exactly the decimal integers greater than ``limit``."""
    digits = str(limit)
    width = len(digits)
    longer = f"[1-9][0-9]{{{width},}}"  # more digits than the limit
    same_width = [
        f"{digits[:i]}[{int(digit) + 1}-9]" + (f"[0-9]{{{width - i - 1}}}" if i < width - 1 else "")
        for i, digit in enumerate(digits)
        if digit != "9"
    ]
    return f"^0*({'|'.join([longer, *same_width])})$"


def _reverse_proxy(route: Route, mode: EndpointMode) -> JSON:
    upstream = route.upstream
    proxy: JSON = {
        "handler": "reverse_proxy",
        "load_balancing": {"try_duration": RETRY_DURATION, "try_interval": RETRY_INTERVAL},
    }
    if isinstance(upstream, SocketUpstream):
        proxy["upstreams"] = [{"dial": upstream.dial}]
    elif mode == "dnsrr":
        proxy["dynamic_upstreams"] = {
            "source": "a",
            "name": upstream.service,
            "port": str(upstream.port),
            "refresh": UPSTREAM_REFRESH,
        }
    else:
        proxy["upstreams"] = [{"dial": f"{upstream.service}:{upstream.port}"}]
    return proxy


def _forward_auth(route: Route) -> JSON:
    """Caddy's ``forward_auth``, spelled out: ask first, copy identity headers on 2xx."""
    auth = route.forward_auth
    assert auth is not None
    # Set even when the answer lacks them, so a client can never send its own.
    copied = {name: [f"{{http.reverse_proxy.header.{name}}}"] for name in auth.copy_headers}
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": auth.upstream}],
        "rewrite": {"method": "GET", "uri": auth.uri},
        "headers": {
            "request": {
                "set": {
                    "X-Forwarded-Method": ["{http.request.method}"],
                    "X-Forwarded-Uri": ["{http.request.uri}"],
                }
            }
        },
        "handle_response": [
            {
                "match": {"status_code": [2]},
                "routes": [{"handle": [{"handler": "headers", "request": {"set": copied}}]}],
            }
        ],
    }


def _redirect(redirect: Redirect) -> JSON:
    location = f"{redirect.to}{{http.request.uri}}" if redirect.keep_path else redirect.to
    return {
        "handler": "static_response",
        "status_code": redirect.status,
        "headers": {"Location": [location]},
    }


def _https_redirect(https_port: int) -> JSON:
    port = "" if https_port == 443 else f":{https_port}"
    return {
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [f"https://{{http.request.host}}{port}{{http.request.uri}}"]},
    }


def _static(status: int, body: str) -> JSON:
    return {"handler": "static_response", "status_code": status, "body": body}


def _tls_app(
    table: RouteTable,
    *,
    acme_directory: str,
    acme_email: str | None,
    acme_ca_root: str | None,
) -> JSON:
    by_mode: dict[TlsMode, list[str]] = {mode: [] for mode in TlsMode}
    for host in table.hostnames():
        by_mode[table.tls_mode(host)].append(host)
    policies: list[JSON] = []
    if by_mode[TlsMode.ACME]:
        issuer: JSON = {"module": "acme", "ca": acme_directory}
        if acme_email:
            issuer["email"] = acme_email
        if acme_ca_root:
            issuer["trusted_roots_pem_files"] = [acme_ca_root]
        policies.append({"subjects": by_mode[TlsMode.ACME], "issuers": [issuer]})
    if by_mode[TlsMode.INTERNAL]:
        policies.append(
            {"subjects": by_mode[TlsMode.INTERNAL], "issuers": [{"module": "internal"}]}
        )
    tls: JSON = {}
    if policies:
        tls["automation"] = {"policies": policies}
    pems = []
    for host in by_mode[TlsMode.UPLOADED]:
        domain = table.domain(host)
        certificate = domain.certificate if domain else None
        assert certificate is not None  # a Domain with tls 'uploaded' always has one
        pems.append(
            {
                "certificate": certificate.certificate_pem,
                "key": certificate.key_pem,
                "tags": [f"cloudos:{host}"],
            }
        )
    if pems:
        tls["certificates"] = {"load_pem": pems}
    return tls


__all__ = [
    "DEFAULT_ADMIN_SOCKET",
    "DEFAULT_STORAGE_ROOT",
    "HSTS_POLICIES",
    "ROUTER_SYSCTLS",
    "EndpointMode",
    "HstsPolicy",
    "dump_caddy_config",
    "greater_than_pattern",
    "maintenance_page",
    "render_caddy_config",
    "sends_hsts",
]
