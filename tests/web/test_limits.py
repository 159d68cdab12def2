"""Request limits: body size and JSON nesting, refused before authentication or parsing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.ui._shapes import parse_history
from cloudos.web import create_app
from cloudos.web._limits import MAX_JSON_DEPTH, json_depth
from tests.helpers import free_port

MiB = 1024 * 1024
DEEP = b"[" * 10_000  # what crashed the parser: 500 with a RecursionError
RESTORE = "/api/v1/spaces/default/apps/blog/addons/mysql/restore"


class _Limits(TypedDict, total=False):
    max_body_bytes: int
    max_upload_bytes: int


def _app(tmp_path: Path, database: Database, **limits: Unpack[_Limits]) -> FastAPI:
    settings = Settings(data_dir=tmp_path, instance="limits-test", **limits)
    return create_app(settings=settings, database=database, connect_engine=None, reconcile=False)  # type: ignore[arg-type]


@pytest.fixture
def small(tmp_path: Path, database: Database) -> Iterator[TestClient]:
    """The app with 4 KiB for bodies and 8 KiB for uploads."""
    with TestClient(_app(tmp_path, database, max_body_bytes=4096, max_upload_bytes=8192)) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_deeply_nested_body_is_refused_with_the_limit_before_sign_in(
    client: TestClient, admin_token: str
) -> None:
    for path, headers in (
        ("/api/v1/auth/login", {}),  # anonymous
        ("/api/v1/spaces", auth(admin_token)),
        ("/api/v1/spaces/default/apps/blog/rollback", auth(admin_token)),
    ):
        for content_type in ("application/json", None):  # no type: FastAPI parses JSON too
            sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
            answer = client.post(path, content=DEEP, headers=sent)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"] == (
                f"request body: JSON nested more than {MAX_JSON_DEPTH} levels deep"
            )


def test_nesting_up_to_the_limit_is_parsed_and_brackets_in_strings_do_not_count(
    client: TestClient,
) -> None:
    levels = MAX_JSON_DEPTH - 1  # inside the body's object: the limit exactly
    nested = "[" * levels + "]" * levels
    answer = client.post(
        "/api/v1/auth/login",
        content=f'{{"username": {nested}, "password": "x"}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    # Past the limit check, into ordinary validation that names the field.
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("body.username:")
    wrong = client.post(
        "/api/v1/auth/login", json={"username": "root", "password": "[{" * 500 + '\\"'}
    )
    assert wrong.status_code == 401


def test_json_depth_is_measured_on_the_bytes() -> None:
    assert json_depth(b"") == 0
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'["[[[[", "\\"[[[", {}]') == 2
    assert json_depth(b'"unterminated [[[[') == 0
    assert json_depth(DEEP) == len(DEEP)
    assert json_depth("[[[".encode("utf-16")) == 3  # the parser reads UTF-16 too
    assert json_depth(b"]]][[") == 0  # a stray closer ends parsing there
    with pytest.raises(UnicodeDecodeError):
        json_depth(b'{"name": "\xff\xfe\xfd"}')


def test_a_body_that_is_no_json_text_is_a_422_naming_it(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/auth/login",
        content=b"\xcc\x99_*\xff",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "request body: not JSON text (JSON is UTF-8, or UTF-16 or UTF-32)"
    )


def test_a_declared_body_over_the_limit_is_refused_unread(small: TestClient) -> None:
    answer = small.post(
        "/api/v1/auth/login",
        content=b"x" * 5000,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "request body too large: at most 4 KiB (4096 bytes) here"


def test_a_streamed_body_without_a_length_is_counted(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    answer = small.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert "at most 4 KiB" in answer.json()["detail"]
    within = small.post("/api/v1/auth/login", json={"username": "nobody", "password": "p" * 1000})
    assert within.status_code == 401  # under the limit: signing in is tried


def test_a_form_post_over_the_limit_gets_a_page(small: TestClient) -> None:
    answer = small.post("/signin", data={"username": "x", "password": "p" * 5000})
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "request body too large: at most 4 KiB" in answer.text


def test_an_upload_route_takes_more_than_a_body_and_is_limited_too(
    tmp_path: Path, database: Database, admin_token: str
) -> None:
    app = _app(tmp_path, database, max_body_bytes=4096, max_upload_bytes=8192)
    with TestClient(app) as client:
        dump = client.put(RESTORE, content=b"x" * 6000, headers=auth(admin_token))
        # Past the body limit: the restore itself answers (there is no such app).
        assert dump.status_code == 404, dump.text
        bigger = client.put(RESTORE, content=b"x" * 9000, headers=auth(admin_token))
        assert bigger.status_code == 413
        assert "at most 8 KiB" in bigger.json()["detail"]
        # A JSON content type does not make an upload's body parsed or read whole.
        json_typed = client.put(
            RESTORE,
            content=b"[" * 6000,
            headers={**auth(admin_token), "Content-Type": "application/json"},
        )
        assert json_typed.status_code == 404


@pytest.fixture
def served(tmp_path: Path, database: Database) -> Iterator[int]:
    """The app (default limits) served by uvicorn on a port; the port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(tmp_path, database), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        thread.join(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_anonymous_100_mb_login_is_refused_before_its_body_is_sent(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
            b'{"username": "'
        )
        started = time.monotonic()
        answer = b""
        while chunk := connection.recv(65536):  # the server closes: it reads no more
            answer += chunk
    answer_text = answer.decode()
    assert answer_text.startswith("HTTP/1.1 413 "), answer_text
    assert "request body too large: at most 1 MiB (1048576 bytes) here" in answer_text
    assert time.monotonic() - started < 5


def test_a_nested_form_field_does_not_break_the_usage_plot() -> None:
    assert parse_history("[" * 20_000, ["web"]) == {}


def test_the_body_limit_is_a_setting_with_a_sane_floor() -> None:
    assert Settings().max_body_bytes == MiB
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings(max_body_bytes=10)
