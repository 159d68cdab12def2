"""The router's way into the control plane: its socket, the forward-auth check per space,
the client's address and scheme believed only there, and portals at spaces' domains."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from cloudos.errors import EnvironmentProblem
from cloudos.identity import create_token, create_user, set_member
from cloudos.settings import Settings
from cloudos.spaces import create_space, get_space
from cloudos.store import Database
from cloudos.web import create_app
from cloudos.web._listen import RouterForwarded, control_socket_path, listen_sockets
from tests.helpers import free_port


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(database: Database) -> dict[str, str]:
    """Tokens: ``dev`` is a developer of space ``team``, ``eve`` of no space."""
    with database.session() as session:
        create_space(session, name="team", domain="team.example.com")
        tokens = {}
        for name in ("dev", "eve"):
            user = create_user(session, username=name, password="a long password")
            tokens[name] = create_token(session, user=user, name="t")
        set_member(
            session,
            get_space(session, "team"),
            username="dev",
            role="developer",
            granted_by="owner",
        )
    return tokens


def test_forward_auth_for_a_space_lets_its_members_and_admins_through_with_their_role(
    client: TestClient, admin_token: str, people: dict[str, str]
) -> None:
    member = client.get("/api/v1/auth/verify?space=team", headers=auth(people["dev"]))
    assert member.status_code == 204
    assert (member.headers["Remote-User"], member.headers["Remote-Groups"]) == ("dev", "developer")
    admin = client.get("/api/v1/auth/verify?space=team", headers=auth(admin_token))
    assert admin.status_code == 204
    assert admin.headers["Remote-Groups"].split(",")[0] == "admins"
    stranger = client.get("/api/v1/auth/verify?space=team", headers=auth(people["eve"]))
    assert stranger.status_code == 403
    assert "eve is not a member of space 'team'" in stranger.json()["detail"]
    assert "Remote-User" not in stranger.headers
    # Signed in somewhere is not enough for a space that does not exist either.
    nowhere = client.get("/api/v1/auth/verify?space=ghost", headers=auth(people["dev"]))
    assert nowhere.status_code == 403
    assert client.get("/api/v1/auth/verify?space=team").status_code == 401


async def _call(scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(inner: MutableMapping[str, Any], _receive: Any, _send: Any) -> None:
        seen.update(scheme=inner["scheme"], client=inner["client"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(_message: Any) -> None:
        pass

    await RouterForwarded(app)(scope, nothing, ignore)
    return seen


def _scope(*, client: tuple[str, int] | None, server: tuple[str, int | None]) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "http",
        "client": client,
        "server": server,
        "headers": [
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-for", b"203.0.113.9, 198.51.100.7"),
        ],
    }


def _seen(scope: dict[str, Any]) -> dict[str, Any]:
    # In a thread of its own: the browser tests' Playwright keeps an event loop running
    # in the main thread for the whole session.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _call(scope)).result()


def test_the_clients_scheme_and_address_are_believed_only_on_the_routers_socket() -> None:
    via_router = _seen(_scope(client=None, server=("/data/control.sock", None)))
    assert via_router == {"scheme": "https", "client": ("198.51.100.7", 0)}
    direct = _seen(_scope(client=("127.0.0.1", 5000), server=("127.0.0.1", 8080)))
    assert direct == {"scheme": "http", "client": ("127.0.0.1", 5000)}


@pytest.fixture
def serving(tmp_path: Path, database: Database) -> Iterator[Settings]:
    """The app served by uvicorn on a port and on the router's socket, as ``cloudos serve``."""
    settings = Settings(data_dir=tmp_path, instance="sock-test", port=free_port(), router=True)
    app = create_app(settings=settings, database=database, connect_engine=None, reconcile=False)  # type: ignore[arg-type]
    sockets = listen_sockets(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            thread.join(0.05)
        yield settings
    finally:
        server.should_exit = True
        thread.join(10)
        for listener in sockets:
            listener.close()


def test_the_control_plane_answers_on_the_routers_socket(
    serving: Settings, admin_token: str
) -> None:
    path = control_socket_path(serving.data_dir)
    assert path.is_socket()
    assert path.stat().st_mode & 0o777 == 0o660
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://router") as via_router:
        answer = via_router.get(
            "/api/v1/auth/verify?space=default",
            headers={**auth(admin_token), "X-Forwarded-For": "198.51.100.7"},
        )
    assert answer.status_code == 204
    assert answer.headers["Remote-User"] == "root"
    direct = httpx.get(f"http://127.0.0.1:{serving.port}/healthz")
    assert direct.status_code == 200
    # A second control plane on the same data directory is refused, naming the socket.
    again = serving.model_copy(update={"port": free_port()})
    with pytest.raises(EnvironmentProblem, match="another control plane is listening on"):
        listen_sockets(again)


def test_a_stale_socket_is_replaced_and_a_too_long_path_is_named(tmp_path: Path) -> None:
    stale = control_socket_path(tmp_path)
    stale.parent.mkdir(parents=True)
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(stale))
    left.close()  # bound, never listened: what a crash leaves behind
    settings = Settings(data_dir=tmp_path, port=free_port(), router=True)
    sockets = listen_sockets(settings)
    try:
        assert [s.family for s in sockets] == [socket.AF_INET, socket.AF_UNIX]
    finally:
        for listener in sockets:
            listener.close()
    deep = tmp_path / ("d" * 100)
    with pytest.raises(EnvironmentProblem, match="choose a shorter --data-dir"):
        listen_sockets(Settings(data_dir=deep, port=free_port(), router=True))
    # Nothing is left listening after the refusal: the port is free again.
    port = free_port()
    with pytest.raises(EnvironmentProblem):
        listen_sockets(Settings(data_dir=deep, port=port, router=True))
    socket.create_server(("127.0.0.1", port)).close()


def _cookie(answer: httpx.Response) -> tuple[str, set[str]]:
    name_value, *attributes = answer.headers["set-cookie"].split(";")
    return name_value.split("=", 1)[0], {a.strip().split("=")[0].lower() for a in attributes}


def test_the_session_cookie_is_host_only_and_host_prefixed_behind_https(
    serving: Settings, people: dict[str, str]
) -> None:
    """Signed in at the platform host through the router: a ``__Host-`` cookie, which a
    browser never sends to another host nor lets a name under it replace."""
    sign_in = {"username": "dev", "password": "a long password"}
    transport = httpx.HTTPTransport(uds=str(control_socket_path(serving.data_dir)))
    router = {"Host": "cloud.localhost", "X-Forwarded-Proto": "https"}
    with httpx.Client(transport=transport, base_url="http://router", headers=router) as client:
        answer = client.post("/api/v1/auth/login", json=sign_in)
        assert answer.status_code == 200, answer.text
        name, attributes = _cookie(answer)
        assert name == "__Host-cloudos_session"
        assert {"secure", "httponly", "path", "samesite"} <= attributes
        assert "domain" not in attributes
        session = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        cookie = {"Cookie": f"__Host-cloudos_session={session}"}
        me = client.get("/api/v1/me", headers=cookie)
        assert (me.status_code, me.json()["username"]) == (200, "dev")
        # The unprefixed name is not the session behind HTTPS.
        plain = client.get("/api/v1/me", headers={"Cookie": f"cloudos_session={session}"})
        assert plain.status_code == 401
        out = client.post(
            "/api/v1/auth/logout", headers={**cookie, "X-CSRF-Token": answer.json()["csrf_token"]}
        )
        assert out.status_code == 204, out.text
        name, attributes = _cookie(out)  # forgotten: Secure and Path=/ or the browser keeps it
        assert (name, {"secure", "path", "max-age"} <= attributes) == (
            "__Host-cloudos_session",
            True,
        )
    # Straight to the control plane's port (plain HTTP): no prefix, still host-only.
    direct = httpx.post(f"http://127.0.0.1:{serving.port}/api/v1/auth/login", json=sign_in)
    name, attributes = _cookie(direct)
    assert name == "cloudos_session"
    assert "domain" not in attributes
    assert "secure" not in attributes
