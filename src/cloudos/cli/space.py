"""``cloudos space ...``: create, list and remove spaces, through the control plane's API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from cloudos.cli._client import TokenOption, UrlOption, open_client
from cloudos.cli._output import JsonFlag, print_json, print_listing, print_table
from cloudos.errors import InvalidInput

app = typer.Typer(help="Spaces: the units apps live in.", no_args_is_help=True)


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Base domain of its apps (default: NAME.localhost)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a space with its own network and base domain."""
    body: dict[str, str] = {"name": name}
    if domain is not None:
        body["domain"] = domain
    with open_client(ctx, url, token) as client:
        space = client.post("/spaces", body)
    print(f"space {space['name']} created (domain {space['domain']})")


@app.command("ls")
def list_command(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the spaces."""
    with open_client(ctx, url, token) as client:
        spaces: list[dict[str, Any]] = client.get("/spaces")
    print_listing(
        spaces,
        json_output=json_output,
        empty="no spaces",
        columns=("NAME", "DOMAIN", "APPS", "CREATED"),
        row=lambda space: (
            space["name"],
            space["domain"],
            str(space["apps"]),
            str(space["created_at"]),
        ),
    )


@app.command("rm")
def remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even while apps remain: they go with it.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove a space; refused while it holds apps, unless --force."""
    with open_client(ctx, url, token) as client:
        client.delete(f"/spaces/{quote(name, safe='')}", params={"force": force})
    print(f"space {name} removed")


@app.command("policy")
def policy_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Allow a grant (repeatable); cluster admins only."),
    ] = None,
    deny: Annotated[
        list[str] | None,
        typer.Option("--deny", help="Take a grant back (repeatable); cluster admins only."),
    ] = None,
    ports: Annotated[
        str | None,
        typer.Option(
            "--ports",
            help="The host ports its apps may publish, FROM-TO ('none': none); "
            "cluster admins only.",
        ),
    ] = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show what the space's apps may ask for, or change it (docs/security.md)."""
    path = f"/spaces/{quote(name, safe='')}/policy"
    with open_client(ctx, url, token) as client:
        policy: dict[str, Any] = client.get(path)
        if allow or deny or ports is not None:
            grants = policy["grants"]
            for grant in [*(allow or []), *(deny or [])]:
                if grant not in grants:
                    known = ", ".join(grants)
                    raise InvalidInput(f"unknown grant {grant!r} (grants: {known})")
            wanted = (set(policy["allow"]) | set(allow or [])) - set(deny or [])
            kept = policy.get("ports")
            if ports is not None:  # the control plane says what is wrong with a range
                kept = None if ports.strip().lower() in ("", "none") else ports
            policy = client.put(path, {"allow": sorted(wanted), "ports": kept})
    if json_output:
        print_json(policy)
        return
    allowed = set(policy["allow"])
    print_table(
        ("GRANT", "ALLOWED", "WHAT"),
        [
            *(
                (grant, "yes" if grant in allowed else "no", words)
                for grant, words in policy["grants"].items()
            ),
            ("ports", policy.get("ports") or "none", "host ports its apps may publish"),
        ],
    )


@app.command("quota")
def quota_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    apps: Annotated[
        int | None, typer.Option("--apps", min=0, help="Most apps the space may hold.")
    ] = None,
    cpus: Annotated[
        float | None,
        typer.Option("--cpus", min=0, help="Most CPUs its apps' limits may add up to."),
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option("--memory", help="Most memory its apps' limits may add up to (e.g. 2G)."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="No limits (then the options given, if any).")
    ] = False,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show the space's quotas and use, or change them (cluster admins only)."""
    from cloudos.spaces._quota import format_cpus, format_size, parse_size

    path = f"/spaces/{quote(name, safe='')}/quota"
    size = None if memory is None else parse_size(memory, what="--memory")
    with open_client(ctx, url, token) as client:
        quota: dict[str, Any] = client.get(path)
        if clear or apps is not None or cpus is not None or memory is not None:
            body = {key: None if clear else quota[key] for key in _QUOTA_KEYS}
            given = {"max_apps": apps, "max_cpus": cpus, "max_memory": size}
            body.update({key: value for key, value in given.items() if value is not None})
            quota = client.put(path, body)
    if json_output:
        print_json(quota)
        return
    usage = quota["usage"]

    def limit(value: Any, show: Any) -> str:
        return "no limit" if value is None else show(value)

    print_table(
        ("", "USED", "QUOTA"),
        [
            ("apps", str(usage["apps"]), limit(quota["max_apps"], str)),
            ("cpus", format_cpus(usage["cpus"]), limit(quota["max_cpus"], format_cpus)),
            ("memory", format_size(usage["memory"]), limit(quota["max_memory"], format_size)),
        ],
    )
    for key, words in (("cpus", "CPU"), ("memory", "memory")):
        if usage[f"unlimited_{key}"]:
            print(f"without a {words} limit: {', '.join(usage[f'unlimited_{key}'])}")


_QUOTA_KEYS = ("max_apps", "max_cpus", "max_memory")


__all__ = ["app"]
