"""``cloudos health`` against a fake control plane: the state, what fails, the exit code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.test_app_cli import FakeApi, run

pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py


def answer(api: FakeApi, status: int, body: dict[str, Any]) -> None:
    api.replies[("GET", "/healthz")] = [(status, body)]


FAILING = {
    "kind": "space",
    "name": "shop",
    "space": "shop",
    "error": "removing space 'shop': network c-shop is still in use by service c-router_caddy",
    "attempts": 4,
    "since": "2026-01-01T12:00:00Z",
    "retry_in": 8.0,
}


def test_ok_exits_zero(api: FakeApi) -> None:
    answer(api, 200, {"status": "ok", "version": "1", "database": "ok", "failing": []})
    result = run(api, "health", "--token", "t")
    assert (result.code, result.stdout) == (0, "ok (database ok)\n")
    (request,) = [r for r in api.requests if r.url.path == "/healthz"]
    assert request.headers["authorization"] == "Bearer t"


def test_degraded_lists_what_fails_and_exits_one(api: FakeApi) -> None:
    answer(api, 200, {"status": "degraded", "version": "1", "database": "ok", "failing": [FAILING]})
    result = run(api, "health", "--token", "t")
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "degraded (database ok)"
    assert lines[1].split() == ["KIND", "NAME", "SPACE", "ATTEMPTS", "NEXT", "TRY", "ERROR"]
    assert lines[2].split()[:6] == ["space", "shop", "shop", "4", "in", "8"]
    assert "still in use by service c-router_caddy" in result.stdout


def test_degraded_without_a_token_says_how_to_see_more(api: FakeApi) -> None:
    answer(api, 200, {"status": "degraded", "version": "1", "database": "ok"})
    result = run(api, "health")
    assert result.code == 1
    assert result.stdout == "degraded (database ok)\n"
    assert "sign in (cloudos login) or pass --token" in result.stderr


def test_unavailable_is_an_answer_with_exit_two(api: FakeApi) -> None:
    answer(api, 503, {"status": "unavailable", "version": "1", "database": "unreachable"})
    result = run(api, "health", "--json")
    assert result.code == 2
    assert '"unreachable"' in result.stdout
    assert "Traceback" not in result.stderr
