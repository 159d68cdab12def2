"""Routes, redirects and domains: what the router serves, checked when they are built.

Every value is normalized on construction (domains to lower-case ASCII through IDNA,
paths without a trailing slash, headers sorted), so two equal routes compare equal and
render the same config. Invalid input raises :class:`InvalidInput` naming the field;
nothing here talks to Docker, the database or Caddy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

import bcrypt
import idna
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloudos.errors import InvalidInput

LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"

# Names no public CA will certify (RFC 2606, RFC 6761, RFC 8375, ICANN's .internal) and
# the suffixes home and office networks use by habit: Caddy's internal CA serves them.
PRIVATE_SUFFIXES: tuple[str, ...] = (
    "corp",
    "example",
    "home",
    "home.arpa",
    "internal",
    "intranet",
    "invalid",
    "lan",
    "local",
    "localhost",
    "private",
    "test",
)

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PATH = re.compile(r"^(/[A-Za-z0-9._~!$&'()+,;=:@%-]+)*/?$")
_SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BCRYPT = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")
_DIAL = re.compile(r"^([a-zA-Z0-9][a-zA-Z0-9_.-]*:\d{1,5}|unix//[A-Za-z0-9_./-]+)$")

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}
# Caddy verifies the hash of each new credential once (then caches it); cost 12 takes
# a few hundred milliseconds, about what a login should take.
BCRYPT_ROUNDS = 12
BCRYPT_MAX_PASSWORD = 72  # bytes: bcrypt ignores (and the library refuses) the rest

RedirectStatus = Literal[301, 302, 307, 308]


class TlsMode(StrEnum):
    """Where a domain's certificate comes from."""

    ACME = "acme"  # a public CA over ACME (Let's Encrypt unless configured)
    INTERNAL = "internal"  # Caddy's own CA: .localhost and private names
    UPLOADED = "uploaded"  # a certificate and key the user gave


def normalize_domain(name: str, *, field_name: str = "domain") -> str:
    """``name`` as lower-case ASCII (IDNA 2008, UTS 46); InvalidInput if it is no host name."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field_name}: a domain name is required", field=field_name)
    text = name.strip().rstrip(".")
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        raise InvalidInput(
            f"{field_name} {name!r}: an IP address is not a domain name", field=field_name
        )
    if "*" in text:
        raise InvalidInput(
            f"{field_name} {name!r}: wildcard domains are not supported", field=field_name
        )
    try:
        ascii_name = idna.encode(text, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as err:
        raise InvalidInput(
            f"{field_name} {name!r} is not a valid domain name: {err}", field=field_name
        ) from err
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{field_name} {name!r} is not a valid domain name", field=field_name)
    if len(labels) < 2 and ascii_name != "localhost":
        raise InvalidInput(
            f"{field_name} {name!r}: a domain needs at least two labels", field=field_name
        )
    return ascii_name


def is_private_domain(domain: str) -> bool:
    """Whether ``domain`` (normalized) is a name no public CA certifies."""
    return any(domain == suffix or domain.endswith(f".{suffix}") for suffix in PRIVATE_SUFFIXES)


def default_tls_mode(domain: str) -> TlsMode:
    """The TLS mode a domain gets unless told otherwise: internal for private names."""
    return TlsMode.INTERNAL if is_private_domain(domain) else TlsMode.ACME


def normalize_path(path: str, *, field_name: str = "path") -> str:
    """A path prefix as ``/a/b`` (``/`` for everything); InvalidInput if it is not one."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"{field_name} {path!r} must start with '/'", field=field_name)
    if "//" in path or not _PATH.match(path):
        raise InvalidInput(
            f"{field_name} {path!r}: only letters, digits and URL path characters, "
            "no '*', '?', '#', spaces or empty segments",
            field=field_name,
        )
    if any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidInput(
            f"{field_name} {path!r}: '.' and '..' segments are not allowed", field=field_name
        )
    return path.rstrip("/") or "/"


def parse_size(value: int | str, *, field_name: str = "size") -> int:
    """Bytes in ``value``: an integer, or ``10MB`` (SI, like Caddy) / ``10MiB`` (binary)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field_name} {value!r} is not a size", field=field_name)
    if isinstance(value, int):
        size = value
    else:
        found = _SIZE.match(value) if isinstance(value, str) else None
        if found is None:
            raise InvalidInput(
                f"{field_name} {value!r} is not a size: write bytes or a number with "
                "B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 10MB",
                field=field_name,
            )
        unit = (found.group(2) or "").lower().removesuffix("b")
        factor = 1024 ** (1 + "kmg".index(unit[0])) if unit.endswith("i") else _SIZE_UNITS[unit]
        size = int(found.group(1)) * factor
    if size < 1:
        raise InvalidInput(f"{field_name} {value!r} must be at least 1 byte", field=field_name)
    return size


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalizing a frozen dataclass in __post_init__


@dataclass(frozen=True)
class Upstream:
    """A swarm service port the router proxies to, found by name on ``network``."""

    service: str  # the service's DNS name on the network, e.g. ``shop_web``
    port: int
    network: str  # the overlay network the router joins to reach it

    def __post_init__(self) -> None:
        if not _SERVICE.match(self.service):
            raise InvalidInput(f"upstream service {self.service!r} is not a service name")
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise InvalidInput(f"upstream port {self.port!r} must be between 1 and 65535")
        if not _SERVICE.match(self.network):
            raise InvalidInput(f"upstream network {self.network!r} is not a network name")


# The router reaches the control plane through a unix socket in the folder it shares
# with it (next to Caddy's admin socket): the same on the host (`cloudos serve`) and in
# the swarm (`cloudos up`), on no network, and only the router can connect to it.
CONTROL_SOCKET = "/run/cloudos-router/control.sock"
CONTROL_VERIFY_URI = "/api/v1/auth/verify"


@dataclass(frozen=True)
class SocketUpstream:
    """A unix socket in the router's container the router proxies to (the control plane)."""

    path: str = CONTROL_SOCKET

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise InvalidInput(f"upstream socket {self.path!r} must be an absolute path")

    @property
    def dial(self) -> str:
        """Caddy's dial address for the socket."""
        return f"unix/{self.path}"


@dataclass(frozen=True)
class BasicAuthUser:
    """One account of a route's basic auth: a user name and a bcrypt hash (Caddy 2.6)."""

    username: str
    password_hash: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username or ":" in self.username or not self.username.isprintable():
            raise InvalidInput(f"basic auth user {self.username!r}: no ':' and no blanks allowed")
        if not _BCRYPT.match(self.password_hash):
            raise InvalidInput(
                f"basic auth user {self.username!r}: the password must be a bcrypt hash "
                "($2a$/$2b$/$2y$), e.g. from 'caddy hash-password'"
            )

    @classmethod
    def from_password(cls, username: str, password: str) -> BasicAuthUser:
        """An account whose plain ``password`` is hashed here with bcrypt (never kept)."""
        if not isinstance(password, str) or not password:
            raise InvalidInput(f"basic auth user {username!r}: a password is required")
        secret = password.encode()
        if len(secret) > BCRYPT_MAX_PASSWORD:
            raise InvalidInput(
                f"basic auth user {username!r}: the password is longer than "
                f"{BCRYPT_MAX_PASSWORD} bytes, the most bcrypt can check"
            )
        hashed = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
        return cls(username=username, password_hash=hashed)


@dataclass(frozen=True)
class ForwardAuth:
    """Ask another service (the control plane) whether a request may pass, before proxying it."""

    upstream: str  # ``host:port`` to dial, e.g. ``shop_auth:9091``, or ``unix//path``
    uri: str = CONTROL_VERIFY_URI
    copy_headers: tuple[str, ...] = ("Remote-Email", "Remote-Groups", "Remote-User")

    def __post_init__(self) -> None:
        if not _DIAL.match(self.upstream):
            raise InvalidInput(
                f"forward auth upstream {self.upstream!r} must be host:port or unix//path"
            )
        if not self.uri.startswith("/") or any(c.isspace() for c in self.uri):
            raise InvalidInput(f"forward auth uri {self.uri!r} must be a path")
        for name in self.copy_headers:
            if not _HEADER_NAME.match(name):
                raise InvalidInput(f"forward auth header {name!r} is not a header name")
        _set(self, "copy_headers", tuple(sorted(set(self.copy_headers))))


@dataclass(frozen=True)
class UploadedCertificate:
    """A certificate chain and its private key, PEM, that the user manages himself."""

    certificate_pem: str
    key_pem: str = field(repr=False)

    def __post_init__(self) -> None:
        try:
            chain = x509.load_pem_x509_certificates(self.certificate_pem.encode())
        except ValueError as err:
            raise InvalidInput(
                f"certificate: not a PEM certificate ({err})", field="certificate"
            ) from err
        try:
            key = serialization.load_pem_private_key(self.key_pem.encode(), password=None)
        except (ValueError, TypeError) as err:
            raise InvalidInput(
                "certificate key: not an unencrypted PEM private key "
                "(a key with a passphrase cannot be used unattended)"
            ) from err
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        encoding = serialization.Encoding.DER
        if key.public_key().public_bytes(encoding, public) != chain[0].public_key().public_bytes(
            encoding, public
        ):
            raise InvalidInput("certificate key: the key does not belong to the certificate")

    @property
    def leaf(self) -> x509.Certificate:
        """The first certificate of the chain, the one served."""
        return x509.load_pem_x509_certificates(self.certificate_pem.encode())[0]

    @property
    def names(self) -> tuple[str, ...]:
        """The DNS names the certificate covers."""
        try:
            alt = self.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return ()
        return tuple(name.lower() for name in alt.value.get_values_for_type(x509.DNSName))

    @property
    def not_after(self) -> datetime:
        """When the certificate expires (UTC)."""
        return self.leaf.not_valid_after_utc

    def covers(self, domain: str) -> bool:
        """Whether the certificate is valid for ``domain`` (one wildcard label allowed)."""
        parent = domain.partition(".")[2]
        return any(name in (domain, f"*.{parent}") for name in self.names)


@dataclass(frozen=True)
class Domain:
    """A domain a space has claimed, and where its certificate comes from."""

    name: str
    space: str
    tls: TlsMode | None = None  # None: by the name (internal for private names, else ACME)
    certificate: UploadedCertificate | None = None

    def __post_init__(self) -> None:
        _set(self, "name", normalize_domain(self.name))
        _check_space(self.space)
        if self.tls is not None:
            try:
                _set(self, "tls", TlsMode(self.tls))
            except ValueError as err:
                modes = ", ".join(mode.value for mode in TlsMode)
                raise InvalidInput(f"domain {self.name}: tls must be one of {modes}") from err
        if self.tls == TlsMode.UPLOADED:
            if self.certificate is None:
                raise InvalidInput(f"domain {self.name}: tls 'uploaded' needs a certificate")
            if not self.certificate.covers(self.name):
                names = ", ".join(self.certificate.names) or "no DNS names"
                raise InvalidInput(
                    f"domain {self.name}: the uploaded certificate is for {names}, not this domain"
                )
        elif self.certificate is not None:
            raise InvalidInput(f"domain {self.name}: a certificate is only for tls 'uploaded'")

    @property
    def tls_mode(self) -> TlsMode:
        """The effective TLS mode."""
        return self.tls or default_tls_mode(self.name)


@dataclass(frozen=True)
class Route:
    """HTTP traffic for a domain (and aliases) under a path prefix, sent to one upstream."""

    domain: str
    space: str
    upstream: Upstream | SocketUpstream
    path: str = "/"
    strip_prefix: bool = False  # the upstream sees ``/x`` for ``<path>/x``
    aliases: tuple[str, ...] = ()  # more names served the same way
    https_redirect: bool = True  # plain HTTP is redirected; False serves it as well
    hsts: bool | None = None  # None: as the platform's ``hsts`` setting says (all by default)
    max_body_bytes: int | None = None
    basic_auth: tuple[BasicAuthUser, ...] = ()
    maintenance: bool = False  # the app is stopped: answer 503 with a small page
    response_headers: tuple[tuple[str, str], ...] = ()
    forward_auth: ForwardAuth | None = None
    app: str | None = None  # the app it belongs to, shown on the maintenance page

    def __post_init__(self) -> None:
        _set(self, "domain", normalize_domain(self.domain))
        _check_space(self.space)
        _set(self, "path", normalize_path(self.path))
        aliases = {normalize_domain(alias, field_name="alias") for alias in self.aliases}
        if self.domain in aliases:
            raise InvalidInput(f"alias {self.domain} is the route's own domain")
        _set(self, "aliases", tuple(sorted(aliases)))
        if self.strip_prefix and self.path == "/":
            raise InvalidInput("strip_prefix needs a path prefix other than '/'")
        if self.max_body_bytes is not None:
            _set(
                self, "max_body_bytes", parse_size(self.max_body_bytes, field_name="max_body_bytes")
            )
        users = [user.username for user in self.basic_auth]
        if len(set(users)) != len(users):
            raise InvalidInput("basic_auth: a user name appears twice", field="basic_auth")
        _set(self, "basic_auth", tuple(sorted(self.basic_auth, key=lambda u: u.username)))
        headers = (
            self.response_headers.items()
            if isinstance(self.response_headers, Mapping)
            else self.response_headers
        )
        _set(self, "response_headers", _normalize_headers(headers))

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host name the route answers for: its domain, then its aliases."""
        return (self.domain, *self.aliases)


@dataclass(frozen=True)
class Redirect:
    """Requests for a domain (under a path prefix) are sent elsewhere with 301/302/307/308."""

    domain: str
    space: str
    to: str  # an absolute URL: ``https://example.com`` or ``https://example.com/shop``
    status: RedirectStatus = 301
    keep_path: bool = True  # append the request's path and query to ``to``
    path: str = "/"

    def __post_init__(self) -> None:
        _set(self, "domain", normalize_domain(self.domain))
        _check_space(self.space)
        _set(self, "path", normalize_path(self.path))
        if self.status not in (301, 302, 307, 308):
            raise InvalidInput(f"redirect status {self.status!r} must be 301, 302, 307 or 308")
        scheme, sep, rest = self.to.partition("://")
        if scheme not in ("http", "https") or not sep or not rest:
            raise InvalidInput(f"redirect target {self.to!r} must be an http(s) URL")
        if any(c.isspace() or c in "{}" for c in self.to):
            raise InvalidInput(f"redirect target {self.to!r}: no spaces or braces")
        host, slash, tail = rest.partition("/")
        hostname, colon, port = host.partition(":")
        if colon and not port.isdigit():
            raise InvalidInput(f"redirect target {self.to!r}: the port is not a number")
        normal = normalize_domain(hostname, field_name="redirect target")
        target = f"{scheme}://{normal}{colon}{port}{slash}{tail}"
        _set(self, "to", target.rstrip("/") if self.keep_path else target)


def redirect_www(domain: str, *, space: str, status: RedirectStatus = 301) -> Redirect:
    """Redirect ``www.x`` to ``x`` or ``x`` to ``www.x`` (whichever ``domain`` is), over HTTPS."""
    name = normalize_domain(domain)
    target = name.removeprefix("www.") if name.startswith("www.") else f"www.{name}"
    return Redirect(domain=name, space=space, to=f"https://{target}", status=status)


def _check_space(space: str) -> None:
    if not isinstance(space, str) or not space:
        raise InvalidInput("space: a space name is required", field="space")


def _normalize_headers(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    seen: dict[str, tuple[str, str]] = {}
    for name, value in pairs:
        if not _HEADER_NAME.match(name):
            raise InvalidInput(f"response header {name!r} is not a header name")
        if any(c in value for c in "\r\n\0"):
            raise InvalidInput(f"response header {name}: the value has a line break")
        if name.lower() in seen:
            raise InvalidInput(f"response header {name} is given twice")
        seen[name.lower()] = (name, value)
    return tuple(seen[key] for key in sorted(seen))


__all__ = [
    "CONTROL_SOCKET",
    "CONTROL_VERIFY_URI",
    "LETS_ENCRYPT_DIRECTORY",
    "PRIVATE_SUFFIXES",
    "BasicAuthUser",
    "Domain",
    "ForwardAuth",
    "Redirect",
    "RedirectStatus",
    "Route",
    "SocketUpstream",
    "TlsMode",
    "UploadedCertificate",
    "Upstream",
    "default_tls_mode",
    "is_private_domain",
    "normalize_domain",
    "normalize_path",
    "parse_size",
    "redirect_www",
]
