"""The names that belong to the platform itself, never to a space.

The control plane's sign-in, API and pages are served at one host only, the platform
host (setting ``platform_host``, default ``cloud.localhost``), so the session cookie
belongs to that host and no tenant's app can ever receive it. No space may route,
redirect or claim:

- ``localhost`` itself (spaces' default domains live under it, so only the bare name);
- the platform host, and every name under it (a name under a host can set cookies
  for it);
- each name of :data:`RESERVED_LABELS` next to the platform host (``auth.localhost``,
  ``registry.localhost`` with the default), and every name under it: kept free for
  the platform's capabilities to come, so that giving them a host breaks no tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudos.errors import InvalidInput
from cloudos.router._model import normalize_domain

DEFAULT_PLATFORM_HOST = "cloud.localhost"
# Hosts next to the platform host kept for what is to come: the OpenID Connect issuer
# (single sign-on) and the image registry. The one list: add a name here, and docs/router.md.
RESERVED_LABELS: tuple[str, ...] = ("auth", "registry")
PLATFORM_SPACE = "(platform)"  # who owns the platform's names in the route table


def is_within(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or a name under it (both normalized)."""
    return name == domain or name.endswith(f".{domain}")


@dataclass(frozen=True)
class Platform:
    """The platform host (where the control plane answers) and the names it keeps."""

    host: str = DEFAULT_PLATFORM_HOST
    https_port: int = 443

    def __post_init__(self) -> None:
        host = normalize_domain(self.host, field_name="platform_host")
        if host == "localhost":
            raise InvalidInput(
                "platform_host 'localhost': spaces live under localhost; "
                f"choose a name of its own such as {DEFAULT_PLATFORM_HOST}"
            )
        object.__setattr__(self, "host", host)

    @property
    def names(self) -> tuple[str, ...]:
        """The platform's names; each keeps every name under it too (``localhost`` aside)."""
        parent = self.host.partition(".")[2]
        return (self.host, *(f"{label}.{parent}" for label in RESERVED_LABELS))

    def reserves(self, name: str) -> bool:
        """Whether the (normalized) host ``name`` is the platform's."""
        return name == "localhost" or any(is_within(name, kept) for kept in self.names)

    def overlaps(self, domain: str) -> bool:
        """Whether a space at ``domain`` would hold platform names (or they it)."""
        return self.reserves(domain) or any(is_within(kept, domain) for kept in self.names)

    def url(self, path: str = "/") -> str:
        """The address of ``path`` on the platform host, over HTTPS through the router."""
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.host}{port}{path}"


__all__ = ["DEFAULT_PLATFORM_HOST", "PLATFORM_SPACE", "RESERVED_LABELS", "Platform", "is_within"]
