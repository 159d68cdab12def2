"""What a request may carry: body size and JSON nesting, checked before anything reads it.

:class:`RequestLimits` is the outermost layer of the app (inside only the server's own
error handling), so it runs before authentication, the audit log and every parser:

- **Size.** A body may hold ``max_body_bytes`` (1 MiB by default). A declared
  ``Content-Length`` over it is refused at once, nothing read; otherwise bytes are
  counted as they arrive, and the request is refused as soon as the count passes the
  limit, whatever the headers said (chunked bodies have no length at all).
- **Nesting.** A JSON body (``application/json``, ``*/*+json``, or no content type,
  which FastAPI also parses as JSON) may nest arrays and objects ``MAX_JSON_DEPTH``
  deep. Python's parser recurses once per level and fails with ``RecursionError`` at
  about a thousand, so the depth is measured on the bytes first, without recursing.

Bodies of ordinary routes are read whole here (at most ``max_body_bytes``) and handed
on unchanged. A route that takes an upload declares ``openapi_extra=UPLOAD``: its body
may reach ``max_upload_bytes`` and is counted while it streams to the handler, never
held here; such a body is never parsed as JSON (nor read by the audit log).

Refusals are problem documents (413 for size, 422 for nesting) naming the limit; a
page (anything outside ``/api/``) gets a short HTML page saying the same.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from itertools import accumulate
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from cloudos.errors import CloudOSError, InvalidInput

MAX_JSON_DEPTH = 32
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# openapi_extra of a route whose body is an upload (a dump to restore): the larger limit.
UPLOAD_KEY = "x-cloudos-body-limit"
UPLOAD: dict[str, Any] = {UPLOAD_KEY: "upload"}
_UPLOAD_SCOPE = "cloudos.upload"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A JSON string, closed or running to the end of the body; never backtracks, so one
# pass over any input is linear.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
NOT_TEXT = "request body: not JSON text (JSON is UTF-8, or UTF-16 or UTF-32)"


class PayloadTooLarge(CloudOSError):
    """A request body over its limit (raised while an upload streams)."""

    exit_code = 1
    http_status = 413
    default_code = "too_large"


def json_depth(body: bytes) -> int:
    """How deep the JSON document ``body`` nests arrays and objects, without parsing it.

    Brackets inside strings do not count. A stray closing bracket can only lower the
    count; a parser stops at it anyway, before it could go deeper. Raises
    ``UnicodeDecodeError`` (a ``ValueError``) for bytes that are no JSON text at all.
    """
    if not body:
        return 0
    text = body.decode(json.detect_encoding(body))  # UTF-8, or UTF-16/32 as json reads them
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets))))


def is_upload(scope: Scope) -> bool:
    """Whether the request goes to a route that takes an upload (its body streams)."""
    return bool(scope.get(_UPLOAD_SCOPE))


def too_large_message(limit: int) -> str:
    """What a refused body is told."""
    return f"request body too large: at most {_size(limit)} ({limit} bytes) here"


def too_deep_message() -> str:
    """What a too deeply nested body is told."""
    return f"request body: JSON nested more than {MAX_JSON_DEPTH} levels deep"


def _size(limit: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a content type as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class RequestLimits:
    """ASGI middleware enforcing the body size and JSON nesting limits (module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.uploads = [
            route
            for route in routes
            if isinstance(route, APIRoute) and (route.openapi_extra or {}).get(UPLOAD_KEY)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = any(route.matches(scope)[0] is Match.FULL for route in self.uploads)
        scope[_UPLOAD_SCOPE] = upload
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            await _refuse(scope, send, 413, "Content Too Large", too_large_message(limit))
            return
        if upload:
            await self.app(scope, _counting(receive, limit), send)
            return
        body, complete = await _read_body(receive, limit)
        if body is None:
            await _refuse(scope, send, 413, "Content Too Large", too_large_message(limit))
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        if body and _is_json(content_type):
            try:
                deep = json_depth(body) > MAX_JSON_DEPTH
            except ValueError:
                await _refuse(scope, send, 422, "Invalid request", NOT_TEXT)
                return
            if deep:
                await _refuse(scope, send, 422, "Invalid request", too_deep_message())
                return
        await self.app(scope, _replaying(body, complete, receive), send)


def _content_length(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """The whole body, or ``None`` once it passes ``limit``; whether it arrived whole."""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False  # the client went away
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if complete:
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    """A ``receive`` that raises :class:`PayloadTooLarge` once the body passes ``limit``."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(too_large_message(limit))
        return message

    return counted


async def _refuse(scope: Scope, send: Send, status: int, title: str, detail: str) -> None:
    """Answer ``status`` without reading further: a problem document, or a page."""
    if scope.get("path", "").startswith("/api/"):
        problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        code = PayloadTooLarge.default_code if status == 413 else InvalidInput.default_code
        body = json.dumps({**problem, "code": code, "field": None}).encode()
        media = b"application/problem+json"
    else:
        body = _PAGE.format(title=html.escape(title), detail=html.escape(detail)).encode()
        media = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Cloud OS</title>
<link rel="stylesheet" href="/ui/static/cloudos.css"></head>
<body><main><h1>{title}</h1><p>{detail}</p><p><a href="/">Back to the dashboard</a></p></main>
</body></html>
"""


__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "UPLOAD",
    "PayloadTooLarge",
    "RequestLimits",
    "is_upload",
    "json_depth",
]
