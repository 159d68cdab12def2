"""The CLI's API client: what it sends, and every failure as one of the project's errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cloudos.cli._client import DEFAULT_URL, ApiClient, CredentialsRefused, resolve_connection
from cloudos.errors import (
    CloudOSError,
    Conflict,
    EnvironmentProblem,
    Forbidden,
    InvalidInput,
    NotFound,
)
from tests.helpers import free_port

Handler = Callable[[httpx.Request], httpx.Response]


TOKEN = "secret"


def client_for(handler: Handler, token: str | None = TOKEN) -> ApiClient:
    return ApiClient("http://cloud.test:8080/", token, transport=httpx.MockTransport(handler))


def problem(status: int, detail: str, title: str = "Problem") -> Handler:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return lambda _request: httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json"}
    )


def test_requests_carry_the_token_and_the_api_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"name": "shop"})

    with client_for(handler) as client:
        assert client.post("/spaces", {"name": "shop"}) == {"name": "shop"}
        client.delete("/spaces/shop", params={"force": False, "absent": None})
    assert seen[0].url == "http://cloud.test:8080/api/v1/spaces"
    assert seen[0].headers["authorization"] == "Bearer secret"
    assert json.loads(seen[0].content) == {"name": "shop"}
    assert str(seen[1].url) == "http://cloud.test:8080/api/v1/spaces/shop?force=false"


def test_no_content_is_none() -> None:
    with client_for(lambda _request: httpx.Response(204)) as client:
        assert client.delete("/spaces/shop") is None


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, InvalidInput),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (422, InvalidInput),
        (503, EnvironmentProblem),
    ],
)
def test_problems_become_the_matching_error_with_the_detail(
    status: int, error_type: type[CloudOSError]
) -> None:
    with (
        client_for(problem(status, "space 'shop' still holds 2 apps")) as client,
        pytest.raises(error_type) as caught,
    ):
        client.get("/spaces")
    assert str(caught.value) == "space 'shop' still holds 2 apps"
    assert type(caught.value) is error_type


def test_a_problems_code_and_field_reach_the_error_and_the_detail_stays_the_message() -> None:
    body = {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "current_password: wrong password",
        "code": "wrong_password",
        "field": "current_password",
    }
    with (
        client_for(lambda _request: httpx.Response(403, json=body)) as client,
        pytest.raises(Forbidden) as caught,
    ):
        client.put("/me/password", {"current_password": "x", "new_password": "y"})
    assert str(caught.value) == "current_password: wrong password"
    assert (caught.value.code, caught.value.field) == ("wrong_password", "current_password")


def test_a_problem_without_a_code_gets_its_errors_own() -> None:
    # An older control plane sends no code: the error's kind still says what it is.
    with (
        client_for(problem(409, "space 'shop' already exists")) as client,
        pytest.raises(Conflict) as caught,
    ):
        client.post("/spaces", {"name": "shop"})
    assert (caught.value.code, caught.value.field) == ("conflict", None)


def test_a_sign_in_that_wants_the_second_factor_says_so_in_its_code() -> None:
    body = {"title": "Unauthenticated", "status": 401, "detail": "a two-factor code is needed"}
    body |= {"code": "second_factor_needed", "field": "code"}
    with (
        client_for(lambda _request: httpx.Response(401, json=body), token=None) as client,
        pytest.raises(CredentialsRefused) as caught,
    ):
        client.post("/auth/login", {"username": "ann", "password": "pw"})
    assert caught.value.detail == "a two-factor code is needed"
    assert caught.value.code == "second_factor_needed"


def test_a_server_failure_says_so() -> None:
    with (
        client_for(problem(500, "database is locked")) as client,
        pytest.raises(CloudOSError) as caught,
    ):
        client.get("/spaces")
    assert type(caught.value) is CloudOSError
    assert str(caught.value) == "the control plane failed (HTTP 500): database is locked"
    assert caught.value.exit_code == 1


def test_an_unexpected_status_names_the_request() -> None:
    with (
        client_for(problem(429, "slow down")) as client,
        pytest.raises(CloudOSError, match=r"^POST /api/v1/spaces: HTTP 429: slow down$"),
    ):
        client.post("/spaces", {"name": "x"})


def test_a_proxy_error_page_shows_its_first_line() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="Bad gateway\n<html>...</html>")

    with client_for(handler) as client, pytest.raises(CloudOSError, match=r"502.*Bad gateway$"):
        client.get("/spaces")


def test_a_missing_token_says_how_to_make_one() -> None:
    with (
        client_for(problem(401, "an API token is required"), token=None) as client,
        pytest.raises(CloudOSError) as caught,
    ):
        client.get("/spaces")
    message = str(caught.value)
    assert isinstance(caught.value, CredentialsRefused)
    assert caught.value.detail == "an API token is required"  # what `cloudos login` reads
    assert caught.value.exit_code == 1
    assert "needs an API token" in message
    assert "--token" in message
    assert "CLOUDOS_TOKEN" in message
    assert "cloudos admin create-token --data-dir DIR" in message


def test_a_refused_token_says_why() -> None:
    with (
        client_for(problem(401, "the API token is unknown, expired or revoked")) as client,
        pytest.raises(CloudOSError) as caught,
    ):
        client.get("/spaces")
    assert "refused the API token (the API token is unknown, expired or revoked)" in str(
        caught.value
    )
    assert "--token" in str(caught.value)


def test_a_route_the_server_lacks_is_not_mistaken_for_a_missing_object() -> None:
    with (
        client_for(problem(404, "Not Found", title="HTTP error")) as client,
        pytest.raises(NotFound, match="GET /api/v1/stacks/unmanaged: no such API on"),
    ):
        client.get("/stacks/unmanaged")


def test_an_answer_that_is_not_json_is_an_error() -> None:
    with (
        client_for(lambda _request: httpx.Response(200, text="<html>hello</html>")) as client,
        pytest.raises(CloudOSError, match="not JSON: is it a Cloud OS control plane"),
    ):
        client.get("/spaces")


def test_connection_refused_is_an_environment_problem() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(url, "t") as client, pytest.raises(EnvironmentProblem) as caught:
        client.get("/spaces")
    assert str(caught.value) == (
        f"no control plane answers at {url}: start it with `cloudos up` or set --url/CLOUDOS_URL"
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ConnectTimeout("slow"), "no control plane answers at http://cloud.test:8080"),
        (httpx.ReadTimeout("slow"), "did not answer within 30 s"),
        (httpx.RemoteProtocolError("closed"), "connection to the control plane"),
    ],
)
def test_transport_failures_are_environment_problems(
    failure: httpx.TransportError, message: str
) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise failure

    with client_for(handler) as client, pytest.raises(EnvironmentProblem, match=message):
        client.get("/spaces")


def test_stream_lines_yields_each_line() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="web.1 | started\nweb.1 | GET / 200\n")

    with client_for(handler) as client:
        lines = list(
            client.stream_lines("/x/logs", params={"tail": 5, "follow": True}, follow=True)
        )
    assert lines == ["web.1 | started", "web.1 | GET / 200"]
    assert seen[0].url.params["follow"] == "true"


def test_stream_errors_are_mapped_too() -> None:
    with (
        client_for(problem(404, "app 'web' not found in space 'default'")) as client,
        pytest.raises(NotFound, match="app 'web' not found"),
    ):
        list(client.stream_lines("/x/logs"))


def test_connection_flags_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('url = "https://cloud.example.com"\ntoken = "from-file"\n')
    given = resolve_connection("http://10.0.0.2:8080/", "from-flag", config_path=config)
    assert (given.url, given.token) == ("http://10.0.0.2:8080", "from-flag")
    stored = resolve_connection(None, None, config_path=config)
    assert (stored.url, stored.token) == ("https://cloud.example.com", "from-file")
    default = resolve_connection(None, None, config_path=tmp_path / "absent.toml")
    assert (default.url, default.token) == (DEFAULT_URL, None)


def test_a_broken_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("token = \n")
    with pytest.raises(InvalidInput, match=f"^{config}: "):
        resolve_connection(None, None, config_path=config)
    config.write_text("token = 12\n")
    with pytest.raises(InvalidInput, match="token must be a string"):
        resolve_connection(None, None, config_path=config)


@pytest.mark.parametrize("url", ["cloud.example.com", "ftp://cloud", "http://"])
def test_a_url_that_is_not_http_is_invalid_input(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--url"):
        resolve_connection(url, None, config_path=tmp_path / "none.toml")
