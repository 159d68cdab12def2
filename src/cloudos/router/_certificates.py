"""What certificates the router holds and serves, and why one could not be obtained.

Caddy 2.6 has no endpoint listing certificates. It keeps each one in its storage as
``certificates/<issuer>/<name>/<name>.crt`` (the router's ``/data/caddy`` volume), so
they are read from there; the certificate actually served for a name can be read
with a TLS handshake to the router's HTTPS port. Why issuance failed is only in
Caddy's JSON log, which :func:`certificate_errors` reads.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from cloudos.errors import EnvironmentProblem


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate: whom it is for, who issued it, and when it expires."""

    names: tuple[str, ...]
    issuer: str  # the issuer's common name (its full DN when it has none)
    not_before: datetime
    not_after: datetime
    serial: int
    fingerprint_sha256: str
    source: str  # Caddy's issuer folder (``local``, ``acme-v02.api.letsencrypt.org-directory``)

    @classmethod
    def from_x509(cls, cert: x509.Certificate, *, source: str) -> CertificateInfo:
        """Describe a parsed certificate."""
        return cls(
            names=_names(cert),
            issuer=_common_name(cert.issuer),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            serial=cert.serial_number,
            fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
            source=source,
        )


def read_certificates(storage_root: str | Path) -> list[CertificateInfo]:
    """Every certificate in Caddy's storage (``/data/caddy`` in the router), by first name."""
    base = Path(storage_root) / "certificates"
    found: list[CertificateInfo] = []
    if not base.is_dir():
        return found
    for path in sorted(base.glob("*/*/*.crt")):
        try:
            chain = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError):
            continue  # being written, or not ours: the next read will see it
        found.append(CertificateInfo.from_x509(chain[0], source=path.parent.parent.name))
    return sorted(found, key=lambda info: (info.names, info.source))


def served_certificate(
    *, host: str, port: int, server_name: str, timeout: float = 5.0
) -> CertificateInfo:
    """The certificate the router serves for ``server_name`` (SNI) at ``host:port``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we read the certificate, we do not trust it
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as err:
        raise EnvironmentProblem(
            f"no certificate for {server_name} from the router at {host}:{port}: {err}"
        ) from err
    if der is None:
        raise EnvironmentProblem(f"the router at {host}:{port} sent no certificate")
    return CertificateInfo.from_x509(x509.load_der_x509_certificate(der), source="served")


@dataclass(frozen=True)
class CertificateError:
    """Why the router's last attempt to get (or renew) a name's certificate failed."""

    message: str  # the issuer's answer, e.g. ``HTTP 400 urn:ietf:params:acme:error:...``
    at: datetime | None  # when Caddy logged it (UTC)


# What certmagic (Caddy 2.6's certificate manager) logs, under the loggers ``tls.obtain``
# and ``tls.renew``: after every failed attempt, once per issuer, "could not get
# certificate from issuer" with the name and the issuer's error; after a success, one
# of these. Its other error lines repeat that error ("will retry") or are about locks
# and shutdown ("unable to unlock", "job failed: context canceled"), not the name.
_FAILED = "could not get certificate from issuer"
_SUCCEEDED = frozenset({"certificate obtained successfully", "certificate renewed successfully"})


def certificate_errors(log_lines: Iterable[str]) -> dict[str, CertificateError]:
    """The last certificate error per name in Caddy's JSON log, cleared by a later success.

    Lines may carry a prefix before the JSON (``docker service logs`` adds a time and
    the task name); lines that are not Caddy's JSON are skipped.
    """
    errors: dict[str, CertificateError] = {}
    for line in log_lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("logger") not in ("tls.obtain", "tls.renew"):
            continue
        name = entry.get("identifier")
        if not isinstance(name, str):
            continue
        if entry.get("msg") == _FAILED:
            message = str(entry.get("error") or _FAILED)
            errors[name] = CertificateError(message=message, at=_timestamp(entry.get("ts")))
        elif entry.get("msg") in _SUCCEEDED:
            errors.pop(name, None)
    return errors


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return tuple(str(n.value) for n in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return tuple(alt.value.get_values_for_type(x509.DNSName))


def _common_name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


__all__ = [
    "CertificateError",
    "CertificateInfo",
    "certificate_errors",
    "read_certificates",
    "served_certificate",
]
