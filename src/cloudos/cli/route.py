"""``cloudos route|domain|cert ...``: the router's routes, domains and certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli._output import JsonFlag, print_listing
from cloudos.cli._prompt import read_secret
from cloudos.errors import InvalidInput
from cloudos.router import parse_size

route_app = typer.Typer(
    help="HTTP routes: which domain and path reach which app.", no_args_is_help=True
)
domain_app = typer.Typer(
    help="Domains claimed by spaces, and their certificates.", no_args_is_help=True
)
redirect_app = typer.Typer(
    help="Redirects: a domain answered with another address.", no_args_is_help=True
)
cert_app = typer.Typer(help="Certificates the router holds.", no_args_is_help=True)

SpaceOption = Annotated[str, typer.Option("--space", envvar="CLOUDOS_SPACE", help="The space.")]


@route_app.command("ls")
def route_list(
    ctx: typer.Context,
    space: Annotated[str | None, typer.Option("--space", help="Only this space's routes.")] = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the routes."""
    with open_client(ctx, url, token) as client:
        routes: list[dict[str, Any]] = client.get(
            "/routes", params={"space": space} if space else None
        )
    print_listing(
        routes,
        json_output=json_output,
        empty="no routes",
        columns=("URL", "SPACE", "APP", "SERVICE", "PORT", "DEFAULT"),
        row=lambda r: (
            r["url"],
            r["space"],
            r["app"],
            r["service"],
            str(r["port"]),
            "yes" if r["default"] else "",
        ),
    )


@route_app.command("add")
def route_add(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(help="The host name to serve.")],
    app_name: Annotated[str, typer.Option("--app", help="The app that serves it.")],
    space: SpaceOption = "default",
    path: Annotated[str, typer.Option(help="Path prefix.")] = "/",
    service: Annotated[
        str | None, typer.Option(help="The app's service (default: its web one).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="The service's HTTP port.")] = None,
    strip_prefix: Annotated[
        bool, typer.Option(help="Strip the path prefix before proxying.")
    ] = False,
    no_https_redirect: Annotated[bool, typer.Option(help="Serve plain HTTP too.")] = False,
    hsts: Annotated[
        bool | None,
        typer.Option(
            "--hsts/--no-hsts",
            help="Send Strict-Transport-Security or not (default: the hsts setting, all).",
            show_default=False,
        ),
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another host name served the same way.")
    ] = None,
    max_body: Annotated[
        str | None,
        typer.Option(help="Largest request body: bytes, or e.g. 10MB, 512KiB (413 above)."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Response header NAME=VALUE (repeatable).")
    ] = None,
    basic_auth: Annotated[
        str | None,
        typer.Option(
            "--basic-auth",
            metavar="USER",
            help="Ask for this user's password first; it is read from the terminal "
            "(or the first line of stdin) and stored only as a bcrypt hash.",
        ),
    ] = None,
    forward_auth: Annotated[
        str | None,
        typer.Option(
            "--forward-auth",
            metavar="URL",
            help="Ask first: 'control' (the cloud itself: members of the space pass, "
            "signed in by token or session) or http://APP[:PORT]/PATH (an app of the space). "
            "2xx lets the request through with its Remote-* headers, any other answer goes "
            "to the client.",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Send DOMAIN (and a path prefix) to an app."""
    options: dict[str, Any] = {}
    if no_https_redirect:
        options["https_redirect"] = False
    if hsts is not None:
        options["hsts"] = hsts
    if alias:
        options["aliases"] = alias
    if max_body is not None:
        options["max_body_bytes"] = parse_size(max_body, field_name="--max-body")
    if header:
        headers = {}
        for item in header:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise InvalidInput(f"--header {item!r}: write NAME=VALUE")
            headers[name] = value
        options["response_headers"] = headers
    if basic_auth is not None:
        options["basic_auth"] = [
            {
                "username": basic_auth,
                "password": read_secret(
                    f"password for {basic_auth}",
                    missing=f"--basic-auth {basic_auth}: no password given",
                    confirm=True,
                ),
            }
        ]
    if forward_auth is not None:
        options["forward_auth"] = forward_auth
    body = {
        "space": space,
        "app": app_name,
        "domain": domain,
        "path": path,
        "service": service,
        "port": port,
        "strip_prefix": strip_prefix,
        "options": options,
    }
    with open_client(ctx, url, token) as client:
        route = client.post("/routes", body)
    print(f"route {route['url']} -> {route['app']} ({route['service']}:{route['port']})")


@route_app.command("rm")
def route_remove(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(help="The route's host name.")],
    path: Annotated[str, typer.Option(help="The route's path prefix.")] = "/",
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a route."""
    with open_client(ctx, url, token) as client:
        client.delete("/routes", params={"domain": domain, "path": path})
    print(f"route {domain}{path} removed")


@domain_app.command("ls")
def domain_list(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the claimed domains."""
    with open_client(ctx, url, token) as client:
        domains: list[dict[str, Any]] = client.get("/domains")
    print_listing(
        domains,
        json_output=json_output,
        empty="no domains",
        columns=("DOMAIN", "SPACE", "TLS"),
        row=lambda d: (d["name"], d["space"], d["tls"] or "auto"),
    )


@domain_app.command("add")
def domain_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The domain.")],
    space: SpaceOption = "default",
    tls: Annotated[
        str | None, typer.Option(help="acme, internal or uploaded (default: by name).")
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="Certificate chain (PEM) to upload.")] = None,
    key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Claim a domain for a space (optionally with your own certificate)."""
    body: dict[str, Any] = {"space": space, "name": name, "tls": tls}
    for field, path in (("certificate_pem", cert), ("key_pem", key)):
        if path is not None:
            try:
                body[field] = path.read_text(encoding="utf-8")
            except OSError as err:
                raise InvalidInput(f"{path}: cannot read: {err.strerror}") from err
    with open_client(ctx, url, token) as client:
        domain = client.post("/domains", body)
    print(f"domain {domain['name']} belongs to space {domain['space']}")


@domain_app.command("rm")
def domain_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The domain.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Give up a domain claim."""
    with open_client(ctx, url, token) as client:
        client.delete(f"/domains/{quote(name, safe='')}")
    print(f"domain {name} released")


@redirect_app.command("ls")
def redirect_list(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the redirects."""
    with open_client(ctx, url, token) as client:
        redirects: list[dict[str, Any]] = client.get("/redirects")
    print_listing(
        redirects,
        json_output=json_output,
        empty="no redirects",
        columns=("FROM", "TO", "STATUS", "SPACE"),
        row=lambda r: (r["domain"] + r["path"], r["to"], str(r["status"]), r["space"]),
    )


@redirect_app.command("add")
def redirect_add(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(help="The host name to redirect.")],
    to: Annotated[str, typer.Argument(help="Where to: an absolute URL.")],
    space: SpaceOption = "default",
    status: Annotated[int, typer.Option(help="301, 302, 307 or 308.")] = 301,
    path: Annotated[str, typer.Option(help="Only under this path prefix.")] = "/",
    drop_path: Annotated[bool, typer.Option(help="Do not append the request's path.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Answer DOMAIN with a redirect to TO (e.g. www.example.com -> https://example.com)."""
    body = {
        "space": space,
        "domain": domain,
        "to": to,
        "status": status,
        "path": path,
        "keep_path": not drop_path,
    }
    with open_client(ctx, url, token) as client:
        redirect = client.post("/redirects", body)
    print(
        f"redirect {redirect['domain']}{redirect['path']} -> {redirect['to']}"
        f" ({redirect['status']})"
    )


@redirect_app.command("rm")
def redirect_remove(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(help="The redirected host name.")],
    path: Annotated[str, typer.Option(help="Its path prefix.")] = "/",
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a redirect."""
    with open_client(ctx, url, token) as client:
        client.delete("/redirects", params={"domain": domain, "path": path})
    print(f"redirect {domain}{path} removed")


@cert_app.command("ls")
def cert_list(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List certificates: names, issuer, expiry, and why the last attempt to get one failed."""
    with open_client(ctx, url, token) as client:
        certificates: list[dict[str, Any]] = client.get("/certificates")
    columns = ("NAMES", "ISSUER", "EXPIRES", "SOURCE")
    errors = any(c["last_error"] for c in certificates)

    def row(cert: dict[str, Any]) -> tuple[str, ...]:
        cells = (
            ", ".join(cert["names"]),
            cert["issuer"] or "-",
            str(cert["not_after"] or "-"),
            cert["source"],
        )
        if not errors:
            return cells
        error = f"{cert['last_error_at']}: {cert['last_error']}" if cert["last_error"] else ""
        return (*cells, error)

    print_listing(
        certificates,
        json_output=json_output,
        empty="no certificates",
        # The error column only when there is one: it is long, and a table of 80
        # columns would fold the names.
        columns=(*columns, "LAST ERROR") if errors else columns,
        row=row,
    )


__all__ = ["cert_app", "domain_app", "redirect_app", "route_app"]
