"""The command line's client of the control plane's REST API (``/api/v1``).

Failures become the project's errors here, once, so commands never see httpx: a
control plane nobody answers is an ``EnvironmentProblem`` (exit code 2), a missing or
refused token says how to get one, and a problem+json answer becomes the error of its
status carrying the server's ``detail``.

Where the control plane is, strongest first: ``--url``/``--token``, the environment
(``CLOUDOS_URL``/``CLOUDOS_TOKEN``, read by Typer), the file ``cloudos login`` writes
(``~/.config/cloudos/config.toml``, keys ``url`` and ``token``), then the default URL.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, BinaryIO, TypedDict
from urllib.parse import quote

import httpx
import typer

from cloudos import __version__
from cloudos.errors import (
    CloudOSError,
    Conflict,
    EnvironmentProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)

DEFAULT_URL = "http://127.0.0.1:8080"
API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0

TOKEN_HINT = (
    "run `cloudos login`, pass --token or set CLOUDOS_TOKEN "
    "(`cloudos admin create-token --data-dir DIR` makes one on the cloud's host)"
)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="CLOUDOS_URL",
        help=f"The control plane's URL (default: {DEFAULT_URL}).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="CLOUDOS_TOKEN", help="An API token.", show_default=False),
]

_ERROR_BY_STATUS: Mapping[int, type[CloudOSError]] = {
    400: InvalidInput,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    503: EnvironmentProblem,
}


class CredentialsRefused(Unauthenticated):
    """HTTP 401: the control plane refused the credentials; ``detail`` is its own reason."""

    def __init__(
        self, message: str, *, detail: str, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.detail = detail


@dataclass(frozen=True)
class Connection:
    """Where the control plane answers and the token to show it."""

    url: str
    token: str | None


@dataclass(frozen=True)
class Wiring:
    """What a test may swap in through Typer's ``obj``: the transport, the poll interval."""

    transport: httpx.BaseTransport | None = None
    poll_interval: float = 1.0


def config_file() -> Path:
    """The file ``cloudos login`` keeps the URL and token in."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cloudos" / "config.toml"


def resolve_connection(
    url: str | None, token: str | None, *, config_path: Path | None = None
) -> Connection:
    """Flags and environment first, then the config file, then the default URL."""
    path = config_path or config_file()
    stored = _read_config(path) if (url is None or token is None) else {}
    url = url or stored.get("url") or DEFAULT_URL
    token = token or stored.get("token") or None
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise InvalidInput(f"--url {url!r}: {err}") from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"--url {url!r}: expected http://HOST:PORT or https://HOST")
    return Connection(url=url.rstrip("/"), token=token)


def _read_config(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{path}: {err}") from err
    except OSError as err:
        raise InvalidInput(f"{path}: cannot read: {err.strerror}") from err
    for key in ("url", "token"):
        if key in values and not isinstance(values[key], str):
            raise InvalidInput(f"{path}: {key} must be a string")
    return {key: values[key] for key in ("url", "token") if key in values}


def save_config(values: Mapping[str, str | None], *, path: Path | None = None) -> Path:
    """Set (or, for ``None``, remove) top-level keys of the config file; keep the rest.

    The file is rewritten line by line rather than re-serialized, so other keys, tables
    and comments survive; it is replaced atomically and readable only by its owner,
    since it holds an API token.
    """
    path = path or config_file()
    _read_config(path)  # refuse to rewrite a file that is not valid TOML
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    except OSError as err:
        raise InvalidInput(f"{path}: cannot read: {err.strerror}") from err
    top = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
    head, tables = lines[:top], lines[top:]
    for key, value in values.items():
        pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
        head = [line for line in head if not pattern.match(line)]
        if value is not None:
            head.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML string
    if tables and head and head[-1].strip():
        head.append("")
    text = "\n".join(head + tables) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp makes the file 0600 before a byte of the token is in it.
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
        temporary = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as err:
        raise EnvironmentProblem(f"{path}: cannot write: {err.strerror}") from err
    return path


def api_path(*parts: str) -> str:
    """The API path of these parts (``"spaces", name, "members"``), each quoted."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


def stored_token(*, path: Path | None = None) -> str | None:
    """The token the config file holds, if any."""
    return _read_config(path or config_file()).get("token")


def open_client(
    ctx: typer.Context, url: str | None, token: str | None, *, anonymous: bool = False
) -> ApiClient:
    """A client for the control plane the command's options (or env, or config) name.

    ``anonymous`` sends no token at all (signing in, joining as a new user): a stale
    token in the config would otherwise get the request refused.
    """
    wiring = wiring_of(ctx)
    connection = resolve_connection(url, token)
    return ApiClient(
        connection.url, None if anonymous else connection.token, transport=wiring.transport
    )


def wiring_of(ctx: typer.Context) -> Wiring:
    """The wiring a test passed as Typer's ``obj``, or the real one."""
    return ctx.obj if isinstance(ctx.obj, Wiring) else Wiring()


class ApiClient:
    """The control plane's REST API: parsed JSON back, the project's errors on failure."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.has_token = bool(token)
        self._timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": f"cloudos-cli/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX, headers=headers, transport=transport, timeout=timeout
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(self, path: str, *, params: Mapping[str, object] | None = None) -> Any:
        """``GET path``: the parsed JSON answer."""
        return self._request("GET", path, params=params)

    def post(self, path: str, body: object = None) -> Any:
        """``POST path`` with a JSON body: the parsed JSON answer."""
        return self._request("POST", path, body=body)

    def patch(self, path: str, body: object) -> Any:
        """``PATCH path`` with a JSON body: the parsed JSON answer."""
        return self._request("PATCH", path, body=body)

    def put(self, path: str, body: object) -> Any:
        """``PUT path`` with a JSON body: the parsed JSON answer."""
        return self._request("PUT", path, body=body)

    def delete(self, path: str, *, params: Mapping[str, object] | None = None) -> Any:
        """``DELETE path``: the parsed JSON answer, or None for 204."""
        return self._request("DELETE", path, params=params)

    def health(self) -> dict[str, Any]:
        """``GET /healthz`` (beside the API): the platform's state and, with a token, the
        failing objects the caller may see. A 503 is an answer too (``unavailable``)."""
        try:
            response = self._http.get(self.url + "/healthz")
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        if response.is_error and response.status_code != 503:
            raise CloudOSError(
                f"{self.url}/healthz: HTTP {response.status_code}: {_detail(response)}"
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as err:
            raise CloudOSError(
                f"{self.url}/healthz answered with something that is not JSON: "
                "is it a Cloud OS control plane?"
            ) from err
        return body

    def stream_lines(
        self, path: str, *, params: Mapping[str, object] | None = None, follow: bool = False
    ) -> Iterator[str]:
        """``GET path`` as a text stream, one line at a time (no read timeout when following)."""
        timeout = httpx.Timeout(self._timeout, read=None) if follow else self._timeout
        try:
            with self._http.stream(
                "GET",
                path,
                params=_query(params),
                headers={"Accept": "text/plain"},
                timeout=timeout,
            ) as response:
                if response.is_error:
                    response.read()
                    raise self._error(response, "GET", path)
                yield from response.iter_lines()
        except httpx.TransportError as err:
            raise self._unreachable(err) from err

    def download(self, path: str, sink: BinaryIO) -> int:
        """``GET path`` written to ``sink`` as it arrives; the bytes written.

        A body the control plane cuts off (it failed part way) is an error, never a
        shorter file taken for a whole one.
        """
        written = 0
        try:
            with self._http.stream(
                "GET",
                path,
                headers={"Accept": "application/octet-stream"},
                timeout=httpx.Timeout(self._timeout, read=None),
            ) as response:
                if response.is_error:
                    response.read()
                    raise self._error(response, "GET", path)
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
        except httpx.RemoteProtocolError as err:
            raise CloudOSError(
                f"the control plane stopped sending after {written} bytes: the output is "
                "incomplete (its log says why)"
            ) from err
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        return written

    def upload(self, path: str, chunks: Iterable[bytes]) -> Any:
        """``PUT path`` with ``chunks`` as the body, streamed: the parsed JSON answer."""
        try:
            response = self._http.put(
                path,
                content=chunks,
                headers={"Content-Type": "application/octet-stream"},
                timeout=httpx.Timeout(self._timeout, read=None, write=None),
            )
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        if response.is_error:
            raise self._error(response, "PUT", path)
        return response.json()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: object = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, params=_query(params), json=body)
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        if response.is_error:
            raise self._error(response, method, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise CloudOSError(
                f"{self.url} answered {method} {API_PREFIX}{path} with something that is not"
                " JSON: is it a Cloud OS control plane?"
            ) from err

    def _unreachable(self, err: httpx.TransportError) -> EnvironmentProblem:
        if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout):
            return EnvironmentProblem(
                f"no control plane answers at {self.url}: start it with `cloudos up`"
                " or set --url/CLOUDOS_URL"
            )
        if isinstance(err, httpx.TimeoutException):
            return EnvironmentProblem(
                f"the control plane at {self.url} did not answer within {self._timeout:g} s"
            )
        return EnvironmentProblem(
            f"the connection to the control plane at {self.url} failed: {err}"
        )

    def _error(self, response: httpx.Response, method: str, path: str) -> CloudOSError:
        """The error of a refusal: its message from the problem's ``detail``, and its
        ``code`` and ``field`` for commands that branch on them."""
        status = response.status_code
        detail = _detail(response)
        about = _code_and_field(response)
        if status == 401:
            if not self.has_token:
                return CredentialsRefused(
                    f"the control plane at {self.url} needs an API token: {TOKEN_HINT}",
                    detail=detail,
                    **about,
                )
            return CredentialsRefused(
                f"the control plane at {self.url} refused the API token ({detail}): {TOKEN_HINT}",
                detail=detail,
                **about,
            )
        if status == 404 and detail == "Not Found":
            # FastAPI's answer for a route it does not have, not for a missing object.
            return NotFound(
                f"{method} {API_PREFIX}{path}: no such API on {self.url} (an older control plane?)"
            )
        error_type = _ERROR_BY_STATUS.get(status)
        if error_type is not None:
            return error_type(detail, **about)
        if status >= 500:
            return CloudOSError(f"the control plane failed (HTTP {status}): {detail}", **about)
        return CloudOSError(f"{method} {API_PREFIX}{path}: HTTP {status}: {detail}", **about)


def _query(params: Mapping[str, object] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {key: value for key, value in params.items() if value is not None}


class _About(TypedDict):
    code: str | None
    field: str | None


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object (a problem document), or empty when it is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code_and_field(response: httpx.Response) -> _About:
    """The problem's ``code`` and ``field`` (None when absent: an older control plane)."""
    found = _problem(response)
    code, field = found.get("code"), found.get("field")
    return {
        "code": code if isinstance(code, str) and code else None,
        "field": field if isinstance(field, str) and field else None,
    }


def _detail(response: httpx.Response) -> str:
    """The problem's detail (or title), else the first line of the body, else the reason."""
    body = _problem(response)
    for key in ("detail", "title"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    text = response.text.strip().splitlines()
    return text[0][:200] if text else response.reason_phrase or f"HTTP {response.status_code}"


__all__ = [
    "API_PREFIX",
    "DEFAULT_URL",
    "ApiClient",
    "Connection",
    "CredentialsRefused",
    "TokenOption",
    "UrlOption",
    "Wiring",
    "api_path",
    "config_file",
    "open_client",
    "resolve_connection",
    "save_config",
    "stored_token",
    "wiring_of",
]
