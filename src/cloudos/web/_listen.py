"""Where the control plane listens: its port, and a unix socket only the router reaches.

The router (Caddy, a swarm service) must reach the control plane to serve it at the
platform host (sign-in, API, pages) and to ask it, before proxying a request, whether
the caller may pass (forward auth). Wherever the control plane runs, on the host
(``cloudos serve``) or as a swarm service (``cloudos up``), it shares one folder
with the router: ``<data dir>/router``, where Caddy keeps its admin socket. The
control plane listens on ``control.sock`` there, so the router dials it on no network
at all, and nothing but the router (and root on the host) can connect to it.

Requests on that socket come from the router, so the client's scheme and address
that Caddy sends along (``X-Forwarded-Proto``, ``X-Forwarded-For``) are believed
there, and only there: session cookies get ``Secure`` behind HTTPS and sign-in
throttling counts the real client.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from cloudos.errors import EnvironmentProblem
from cloudos.router import CONTROL_SOCKET
from cloudos.settings import Settings

SOCKET_NAME = CONTROL_SOCKET.rsplit("/", 1)[1]
_UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL


def control_socket_path(data_dir: Path) -> Path:
    """The router's way in, as the control plane sees it."""
    return data_dir / "router" / SOCKET_NAME


def listen_sockets(settings: Settings) -> list[socket.socket]:
    """The bound sockets to serve on: the control plane's port, and with the router on,
    its socket in the router's folder (a stale one from a crash is replaced)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    port = socket.create_server((settings.host, settings.port), family=family, backlog=2048)
    if not settings.router:
        return [port]
    try:
        return [port, _unix_socket(control_socket_path(settings.data_dir.resolve()))]
    except BaseException:
        port.close()
        raise


def _unix_socket(path: Path) -> socket.socket:
    if len(os.fsencode(path)) > _UNIX_PATH_MAX:
        raise EnvironmentProblem(
            f"the router's socket {path} is longer than {_UNIX_PATH_MAX} bytes, the most a "
            "unix socket's path may be: choose a shorter --data-dir"
        )
    path.parent.mkdir(mode=0o770, parents=True, exist_ok=True)
    if path.is_socket():
        _check_unused(path)
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        # The router's group (the folder's, once the router has started) may connect;
        # the router's entrypoint hands it over when the folder was not its yet.
        os.chown(path, -1, path.parent.stat().st_gid)
        path.chmod(0o660)
        listener.listen(2048)
    except OSError as err:
        listener.close()
        raise EnvironmentProblem(f"cannot listen on {path}: {err.strerror}") from err
    return listener


def _check_unused(path: Path) -> None:
    """Refuse to take the socket of a control plane that still answers on it."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as err:
        if err.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return  # left over from a control plane that is gone
        raise EnvironmentProblem(f"cannot use {path}: {err.strerror}") from err
    finally:
        probe.close()
    raise EnvironmentProblem(
        f"another control plane is listening on {path}: two cannot share one data directory"
    )


class RouterForwarded:
    """ASGI middleware: on the router's socket, take the client's scheme and address
    from the headers Caddy sets; anywhere else, leave the request as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _on_unix_socket(scope):
            headers = dict(scope["headers"])
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip()
            if proto in ("http", "https"):
                secure = proto == "https"
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = proto
            # Caddy replaces what an untrusted client sent: its last entry is the peer.
            forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
            client = forwarded.rsplit(",", 1)[-1].strip()
            if client:
                scope["client"] = (client, 0)
        await self.app(scope, receive, send)


def _on_unix_socket(scope: Scope) -> bool:
    server = scope.get("server")
    return scope.get("client") is None and server is not None and server[1] is None


__all__ = ["RouterForwarded", "control_socket_path", "listen_sockets"]
