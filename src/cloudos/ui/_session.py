"""Who is looking at a page: the browser session, its CSRF token, and the page route.

Pages use the API's session machinery (``web._auth.browser_session``): the same
cookie, the same CSRF token. A page that changes something is a plain HTML form
carrying the token in its ``csrf_token`` field (HTMX sends it in the header, from
``hx-headers`` on ``<body>``). Every page but sign-in needs a session; without one a
browser is sent to sign in, and comes back afterwards.

:class:`PageRoute` turns the project's errors into HTML pages (a space that is not
the visitor's is "not found", as in the API) and times every page in a
``Server-Timing`` header.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from cloudos.errors import CloudOSError, Unauthenticated
from cloudos.identity import Principal
from cloudos.web._auth import CSRF_FIELD, SAFE_METHODS, browser_session, forget_session_cookie

HERE = Path(__file__).resolve().parent
PAGES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def compile_templates() -> None:
    """Compile every page template now, so no visitor's request pays for it."""
    for name in PAGES.env.list_templates(extensions=["html"]):
        PAGES.env.get_template(name)


# Everything from here (HTMX is vendored, templates' icons are served from their folders):
# the interface works with no internet, and a page never tells another site who looks.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


# Login CSRF: another site could post its own name and password to the sign-in form
# and so sign the visitor into the attacker's account (whatever they type next lands
# there). The form carries a random token that must match a cookie set with the form
# (double submit): another site can make the browser send the cookie but can neither
# read it nor the form. Over HTTPS the cookie's name has the ``__Host-`` prefix, so a
# sibling host (an app at a subdomain) cannot plant one of its own.
SIGNIN_COOKIE = "cloudos_signin"
_SIGNIN_TOKEN_LENGTH = len(secrets.token_urlsafe(24))
SIGNIN_REFUSED = "This sign-in form has expired or was sent from another site: sign in again here."


def signin_cookie_name(request: Request) -> str:
    """The sign-in form's cookie for this request's scheme."""
    return f"__Host-{SIGNIN_COOKIE}" if request.url.scheme == "https" else SIGNIN_COOKIE


def signin_token(request: Request) -> str:
    """The token of the visitor's sign-in form: the one their cookie has, else a new one."""
    held = request.cookies.get(signin_cookie_name(request), "")
    return held if len(held) == _SIGNIN_TOKEN_LENGTH else secrets.token_urlsafe(24)


def signin_token_ok(request: Request, sent: str | None) -> bool:
    """Whether a posted sign-in form carries the token of the cookie sent with it."""
    held = request.cookies.get(signin_cookie_name(request), "")
    return bool(held) and hmac.compare_digest(held.encode(), (sent or "").encode())


def set_signin_cookie(request: Request, response: Response, token: str) -> None:
    """Hand the sign-in form's cookie to the browser (HttpOnly, SameSite=Strict, this host
    only, Secure over HTTPS); it lasts as long as the browser is open."""
    response.set_cookie(
        signin_cookie_name(request),
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@dataclass(frozen=True)
class Visitor:
    """A signed-in person and the CSRF token their pages carry."""

    principal: Principal
    csrf: str


class SignInNeeded(Exception):
    """The page needs a session and the request has none."""


async def _form(request: Request) -> FormData:
    return await request.form() if request.method not in SAFE_METHODS else FormData()


Form = Annotated[FormData, Depends(_form)]


async def _visitor(request: Request, form: Form) -> Visitor:
    field = form.get(CSRF_FIELD)
    found = await run_in_threadpool(
        browser_session, request, csrf_field=field if isinstance(field, str) else None
    )
    if found is None:
        raise SignInNeeded()
    visitor = Visitor(principal=found[0], csrf=found[1])
    request.state.principal = found[0]
    request.state.visitor = visitor
    return visitor


CurrentVisitor = Annotated[Visitor, Depends(_visitor)]


def fields_of(form: FormData) -> dict[str, str]:
    """The form's text fields; a repeated field keeps its last value (a checked box after
    its hidden "false")."""
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def render(
    request: Request,
    page: str,
    context: dict[str, Any],
    *,
    visitor: Visitor | None,
    status: int = 200,
) -> HTMLResponse:
    """One page (or the fragment ``page`` names)."""
    return PAGES.TemplateResponse(
        request, page, {"visitor": visitor, **context}, status_code=status
    )


def redirect(request: Request, url: str) -> Response:
    """Go to ``url`` after a form: a 303 for the browser, ``HX-Redirect`` for HTMX."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else the dashboard (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


class PageRoute(APIRoute):
    """A page: project errors become HTML, a missing session a trip to sign-in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, wrapped."""
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except (SignInNeeded, Unauthenticated):
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect(request, f"/signin?next={quote(here)}")
                forget_session_cookie(request, response)
            except CloudOSError as err:
                response = _error(request, err.http_status, str(err))
            except RequestValidationError as err:
                first = err.errors()[0] if err.errors() else {}
                response = _error(request, 422, f"the form is incomplete: {first.get('msg', '')}")
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"page;dur={elapsed:.1f}"
            # A response may bring a stricter policy of its own (an icon: no scripts at all).
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers["X-Content-Type-Options"] = "nosniff"
            # Pages may hold values just typed (the wizard's passwords): never cache them.
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return page


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not valid"}
    return render(
        request,
        "error.html",
        {"title": titles.get(status, "Something went wrong"), "message": message},
        visitor=visitor,
        status=status,
    )


__all__ = [
    "SIGNIN_REFUSED",
    "CurrentVisitor",
    "Form",
    "PageRoute",
    "SignInNeeded",
    "Visitor",
    "fields_of",
    "local_path",
    "redirect",
    "render",
    "set_signin_cookie",
    "signin_token",
    "signin_token_ok",
]
