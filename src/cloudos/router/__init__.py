"""The HTTP router: routes, domains, certificates, Caddy config rendering and its admin client.

The pure core (``_model``, ``_table``, ``_caddy``) turns a :class:`RouteTable` into
one Caddy JSON config; the edges (``_admin``, ``_certificates``) load it through
Caddy's admin socket and read what certificates the router holds.
"""

from cloudos.router._admin import RouterAdmin
from cloudos.router._caddy import (
    DEFAULT_ADMIN_SOCKET,
    DEFAULT_STORAGE_ROOT,
    HSTS_POLICIES,
    ROUTER_SYSCTLS,
    EndpointMode,
    HstsPolicy,
    dump_caddy_config,
    maintenance_page,
    render_caddy_config,
    sends_hsts,
)
from cloudos.router._certificates import (
    CertificateError,
    CertificateInfo,
    certificate_errors,
    read_certificates,
    served_certificate,
)
from cloudos.router._model import (
    CONTROL_SOCKET,
    CONTROL_VERIFY_URI,
    LETS_ENCRYPT_DIRECTORY,
    BasicAuthUser,
    Domain,
    ForwardAuth,
    Redirect,
    RedirectStatus,
    Route,
    SocketUpstream,
    TlsMode,
    UploadedCertificate,
    Upstream,
    default_tls_mode,
    is_private_domain,
    normalize_domain,
    normalize_path,
    parse_size,
    redirect_www,
)
from cloudos.router._platform import (
    DEFAULT_PLATFORM_HOST,
    PLATFORM_SPACE,
    RESERVED_LABELS,
    Platform,
    is_within,
)
from cloudos.router._stack import ADMIN_DIR, RouterStackSpec, render_router_stack
from cloudos.router._table import RouteTable

__all__ = [
    "ADMIN_DIR",
    "CONTROL_SOCKET",
    "CONTROL_VERIFY_URI",
    "DEFAULT_ADMIN_SOCKET",
    "DEFAULT_PLATFORM_HOST",
    "DEFAULT_STORAGE_ROOT",
    "HSTS_POLICIES",
    "LETS_ENCRYPT_DIRECTORY",
    "PLATFORM_SPACE",
    "RESERVED_LABELS",
    "ROUTER_SYSCTLS",
    "BasicAuthUser",
    "CertificateError",
    "CertificateInfo",
    "Domain",
    "EndpointMode",
    "ForwardAuth",
    "HstsPolicy",
    "Platform",
    "Redirect",
    "RedirectStatus",
    "Route",
    "RouteTable",
    "RouterAdmin",
    "RouterStackSpec",
    "SocketUpstream",
    "TlsMode",
    "UploadedCertificate",
    "Upstream",
    "certificate_errors",
    "default_tls_mode",
    "dump_caddy_config",
    "is_private_domain",
    "is_within",
    "maintenance_page",
    "normalize_domain",
    "normalize_path",
    "parse_size",
    "read_certificates",
    "redirect_www",
    "render_caddy_config",
    "render_router_stack",
    "sends_hsts",
    "served_certificate",
]
