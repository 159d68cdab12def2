"""``cloudos route add`` options and ``cloudos cert ls`` against a fake API."""

from __future__ import annotations

from typing import Any

import pytest

from cloudos.cli import _output
from tests.cli.test_app_cli import FakeApi, run

pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py

ROUTE = {
    "url": "https://shop.example.com/",
    "app": "shop",
    "service": "web",
    "port": 8080,
}


def test_route_add_sends_every_option(api: FakeApi) -> None:
    api.on("POST", "/routes", (201, ROUTE))
    result = run(
        api,
        "route", "add", "shop.example.com", "--app", "shop",
        "--max-body", "10MB",
        "--header", "X-Frame-Options=DENY",
        "--no-hsts",
        "--alias", "www.shop.example.com",
        "--basic-auth", "ann",
        "--forward-auth", "http://auth:8080/verify",
        stdin="open sesame\n",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    options: dict[str, Any] = api.body("POST", "/routes")["options"]
    assert options == {
        "max_body_bytes": 10_000_000,
        "response_headers": {"X-Frame-Options": "DENY"},
        "hsts": False,
        "aliases": ["www.shop.example.com"],
        "basic_auth": [{"username": "ann", "password": "open sesame"}],
        "forward_auth": "http://auth:8080/verify",
    }
    assert "open sesame" not in result.stdout + result.stderr


def test_without_options_nothing_is_switched(api: FakeApi) -> None:
    api.on("POST", "/routes", (201, ROUTE))
    assert run(api, "route", "add", "shop.example.com", "--app", "shop").code == 0
    assert api.body("POST", "/routes")["options"] == {}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--max-body", "10XB"], None, "--max-body '10XB' is not a size"),
        (["--header", "X-Frame-Options"], None, "--header 'X-Frame-Options': write NAME=VALUE"),
        (["--basic-auth", "ann"], "\n", "--basic-auth ann: no password given"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    api: FakeApi, args: list[str], stdin: str | None, message: str
) -> None:
    result = run(api, "route", "add", "shop.example.com", "--app", "shop", *args, stdin=stdin)
    assert result.code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert api.requests == []


# As GET /certificates lists them: one served by the internal CA, one never obtained.
SERVED = {
    "names": ["hello.default.localhost"],
    "issuer": "Caddy Local Authority - ECC Intermediate",
    "not_before": "2026-11-22T10:00:00Z",
    "not_after": "2026-11-22T22:00:00Z",
    "serial": "1",
    "source": "local",
    "last_error": None,
    "last_error_at": None,
}
FAILED = {
    "names": ["shop.example.com"],
    "issuer": None,
    "not_before": None,
    "not_after": None,
    "serial": None,
    "source": "none",
    "last_error": "HTTP 400 urn:ietf:params:acme:error:malformed - no such host",
    "last_error_at": "2026-11-22T10:00:00Z",
}


def test_cert_ls_shows_the_last_error(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output.console, "width", 240)  # one line per certificate
    api.on("GET", "/certificates", (200, [FAILED, SERVED]))
    result = run(api, "cert", "ls")
    assert result.code == 0, result.stderr
    assert "LAST ERROR" in result.stdout
    assert "urn:ietf:params:acme:error:malformed" in result.stdout
    assert "Caddy Local Authority" in result.stdout


def test_cert_ls_without_errors_has_no_error_column(api: FakeApi) -> None:
    api.on("GET", "/certificates", (200, [SERVED]))
    result = run(api, "cert", "ls")
    assert result.code == 0, result.stderr
    assert "LAST ERROR" not in result.stdout
    assert "hello.default.localhost" in result.stdout  # not folded in 80 columns
