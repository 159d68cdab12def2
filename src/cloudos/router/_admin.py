"""A client of Caddy's admin API on the router's unix socket (the only way in).

Caddy refuses admin requests whose Host header is not empty when it listens on a
unix socket, so every request sends ``Host:`` empty. ``POST /load`` replaces the whole
config atomically: Caddy starts the new config and only then stops the old one, and
a config it rejects leaves the old one serving. Errors are translated here, once:
a rejected config is :class:`InvalidInput` with Caddy's own message, a socket that
does not answer is :class:`EnvironmentProblem`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cloudos.errors import EnvironmentProblem, InvalidInput

log = logging.getLogger(__name__)

_HEADERS = {"Host": ""}


class RouterAdmin:
    """Load and read the router's Caddy config through its admin socket."""

    def __init__(self, socket_path: str | Path, *, timeout: float = 30.0) -> None:
        self.socket_path = Path(socket_path)
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            base_url="http://router-admin",
            headers=_HEADERS,
            timeout=timeout,
        )

    def load(self, config: Mapping[str, Any] | bytes) -> None:
        """Replace the router's whole config in one step; InvalidInput if Caddy rejects it."""
        body = config if isinstance(config, bytes) else json.dumps(config).encode()
        response = self._request(
            "POST", "/load", content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code != 200:
            message = _caddy_error(response)
            if response.status_code < 500:
                raise InvalidInput(f"the router rejected the configuration: {message}")
            raise EnvironmentProblem(f"the router failed to load its configuration: {message}")
        log.info("router configuration loaded (%d bytes)", len(body))

    def config(self) -> dict[str, Any]:
        """The config the router runs now (``{}`` when it has none)."""
        response = self._request("GET", "/config/")
        if response.status_code != 200:
            raise EnvironmentProblem(
                f"the router's config cannot be read: {_caddy_error(response)}"
            )
        current = response.json()
        return current if isinstance(current, dict) else {}

    def answers(self) -> bool:
        """Whether the admin socket answers at all."""
        try:
            self.config()
        except EnvironmentProblem:
            return False
        return True

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> RouterAdmin:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # Checked first: httpcore leaks the socket of a failed unix connect.
        if not self.socket_path.is_socket():
            raise EnvironmentProblem(
                f"the router's admin socket {self.socket_path} does not answer: "
                "it does not exist (is the router running, its socket folder mounted?)"
            )
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise EnvironmentProblem(
                f"the router's admin socket {self.socket_path} does not answer: {err}"
            ) from err


def _caddy_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text.strip()


__all__ = ["RouterAdmin"]
