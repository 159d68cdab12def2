"""The merged log stream lets go: a quiet stream still returns every second, so a
client that left is noticed and the engine connection closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cloudos.web import _apps_api


class Client:
    """Stands in for the engine connection: only ``close`` is used here."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def test_a_quiet_followed_stream_yields_control_and_closes_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quiet = threading.Event()

    def service_logs(_client: Any, *, service: str, **_options: Any) -> Iterator[bytes]:
        yield b"hello\npart"
        quiet.wait(timeout=30)  # a followed service that says nothing more

    monkeypatch.setattr(_apps_api, "service_logs", service_logs)
    client = Client()
    stream = _apps_api._merged_logs(
        client, ["s_web"], prefix="s_", tail=10, since=None, follow=True
    )
    assert next(stream) == b"web | hello\n"
    started = time.monotonic()
    assert next(stream) == b""  # nothing to say, but the thread is handed back
    assert time.monotonic() - started < 5
    assert not client.closed.is_set()
    stream.close()  # what happens when the response is dropped
    assert client.closed.wait(timeout=5)
    quiet.set()


def test_every_line_arrives_and_the_stream_ends_with_its_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def service_logs(_client: Any, *, service: str, **_options: Any) -> Iterator[bytes]:
        yield b"one\ntw"
        yield b"o\nthree"

    monkeypatch.setattr(_apps_api, "service_logs", service_logs)
    client = Client()
    lines = [
        chunk
        for chunk in _apps_api._merged_logs(
            client, ["s_web"], prefix="s_", tail=None, since=None, follow=False
        )
        if chunk
    ]
    assert lines == [b"web | one\n", b"web | two\n", b"web | three\n"]
    assert client.closed.is_set()
