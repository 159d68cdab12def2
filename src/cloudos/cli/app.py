"""``cloudos app ...``: install, change, watch and remove apps through the control plane.

Every command that changes an app takes ``--wait``: it polls the app (every second),
draws its progress on stderr, and returns once the app reaches what the command asked
for (exit 0); it exits 1 with the reason when the app fails or an update is rolled
back, and when the timeout passes first. Results go to stdout, for scripts; progress
and messages go to stderr, for people.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from cloudos.cli._client import ApiClient, TokenOption, UrlOption, open_client, wiring_of
from cloudos.cli._output import (
    JsonFlag,
    console,
    err_console,
    print_json,
    print_listing,
    print_table,
)
from cloudos.cli._prompt import confirm_or_stop
from cloudos.errors import CloudOSError, EnvironmentProblem, InvalidInput, NotFound
from cloudos.statuses import TROUBLE, AppStatus

app = typer.Typer(
    help="Apps: install from a template, update, roll back, watch, remove.", no_args_is_help=True
)

DEFAULT_WAIT_TIMEOUT = 300.0
# What a wait ends at: an app status, or the app gone (its GET answers 404).
Goal = Literal[AppStatus.RUNNING, AppStatus.STOPPED, "gone"]
AppDocument = dict[str, Any]

NameArgument = Annotated[str, typer.Argument(help="The app's name.", show_default=False)]
SpaceOption = Annotated[
    str, typer.Option("--space", "-s", envvar="CLOUDOS_SPACE", help="The app's space.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="A parameter value; repeat for more (the last one of a key wins).",
        show_default=False,
    ),
]
WaitFlag = Annotated[
    bool,
    typer.Option("--wait", help="Show progress; return when done (exit 1 when it fails)."),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        help=f"Wait at most this long (implies --wait; default {DEFAULT_WAIT_TIMEOUT:g}).",
        show_default=False,
    ),
]


def parse_values(items: list[str] | None) -> dict[str, str]:
    """``--set KEY=VALUE`` arguments as a mapping: split at the first ``=``, last one wins."""
    values: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set {item!r}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


def template_fields(template: str) -> dict[str, str]:
    """The request fields naming TEMPLATE: a file's text when it is a file, else a catalog id."""
    path = Path(template)
    if path.is_dir() and (path / "template.yaml").is_file():
        path = path / "template.yaml"
    if not path.is_file():
        if os.sep in template or path.suffix in (".yaml", ".yml"):
            raise InvalidInput(f"{template}: no such template file")
        return {"template": template}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInput(f"{path}: not UTF-8 text") from err
    except OSError as err:
        raise InvalidInput(f"{path}: cannot read: {err.strerror}") from err
    return {"template_text": text, "template_source": str(path)}


def since_param(text: str) -> str:
    """``--since``: seconds, a duration (``10m``, ``2h``, ``1d``) or an RFC 3339 time."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if match:
        unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return str(int(match[1]) * unit)
    try:
        datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(
            f"--since {text!r}: expected seconds (90), a duration (10m, 2h, 1d)"
            " or an RFC 3339 time (2024-05-01T12:00:00Z)"
        ) from err
    return text


def app_path(space: str, name: str, *rest: str) -> str:
    """The API path of an app (or of something below it), each part quoted."""
    parts = ("spaces", space, "apps", name, *rest)
    return "/" + "/".join(quote(part, safe="") for part in parts)


def progress_line(app_data: AppDocument) -> str:
    """One line on how far an app is: its status and running/desired tasks per service."""
    services = ", ".join(
        f"{service['name']} {service['running']}/{service['desired']}"
        for service in app_data.get("services") or []
    )
    line = f"{app_data['name']}: {app_data['status']}"
    return f"{line} ({services})" if services else line


def wait_for_app(
    client: ApiClient,
    *,
    space: str,
    name: str,
    goal: Goal,
    timeout: float,
    interval: float,
) -> AppDocument | None:
    """Poll the app until it reaches ``goal``; raise when it fails or ``timeout`` passes."""
    # Swarm rolling back a failed start is the end of a wait for running, not of a stop.
    failures = TROUBLE if goal == AppStatus.RUNNING else frozenset({AppStatus.FAILED})
    deadline = time.monotonic() + timeout
    shown = ""
    with err_console.status(f"{name}: waiting") as spinner:
        while True:
            try:
                app_data: AppDocument = client.get(app_path(space, name))
            except NotFound:
                if goal == "gone":
                    return None
                raise
            except EnvironmentProblem:
                status, line = "control plane not answering", f"{name}: control plane not answering"
            else:
                status, line = app_data["status"], progress_line(app_data)
                if status == goal:
                    return app_data
                if status in failures:
                    reason = app_data.get("status_reason") or "no reason given"
                    raise CloudOSError(f"app {name} {status}: {reason}")
            if line != shown:
                err_console.print(f"• {line}", highlight=False, markup=False)
                spinner.update(Text(line))
                shown = line
            if time.monotonic() >= deadline:
                raise CloudOSError(f"timed out after {timeout:g} s (status: {status})")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def _finish(
    ctx: typer.Context,
    client: ApiClient,
    app_data: AppDocument,
    *,
    verbs: tuple[str, str],
    goal: Goal,
    wait: bool,
    timeout: float | None,
    json_output: bool = False,
) -> None:
    """Print what the change did, after waiting for its goal when asked to."""
    result: AppDocument | None = app_data
    verb = verbs[0]
    if wait or timeout is not None:
        verb = verbs[1]
        result = wait_for_app(
            client,
            space=app_data["space"],
            name=app_data["name"],
            goal=goal,
            timeout=DEFAULT_WAIT_TIMEOUT if timeout is None else timeout,
            interval=wiring_of(ctx).poll_interval,
        )
    assert result is not None  # only the goal "gone" ends without an app
    if json_output:
        print_json(result)
    else:
        print(_summary(verb, result))


def _summary(verb: str, app_data: AppDocument) -> str:
    parts = [f"revision {app_data['revision']}", app_data["status"], *app_data.get("urls", [])[:1]]
    line = f"{verb} {app_data['name']} in space {app_data['space']}: {', '.join(parts)}"
    reason = app_data.get("status_reason")
    return f"{line} ({reason})" if reason else line


@app.command("install")
def install_command(
    ctx: typer.Context,
    template: Annotated[
        str, typer.Argument(help="A catalog template id, or a template file.", show_default=False)
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="The app's name.", show_default=False)],
    space: SpaceOption = "default",
    set_: SetOption = None,
    dedicated: Annotated[
        list[str] | None,
        typer.Option(
            "--dedicated",
            metavar="ADDON",
            help="Give this addon of the template (mysql, postgresql, redis) a server of "
            "the app's own instead of the space's; repeat for more.",
            show_default=False,
        ),
    ] = None,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Install an app from a template into a space (revision 1)."""
    body: dict[str, object] = {"name": name, "template": None, "template_text": None}
    body |= template_fields(template)
    body["values"] = parse_values(set_)
    if dedicated:
        body["dedicated"] = sorted(set(dedicated))
    with open_client(ctx, url, token) as client:
        created = client.post(f"/spaces/{quote(space, safe='')}/apps", body)
        _finish(
            ctx,
            client,
            created,
            verbs=("installed", "installed"),
            goal=AppStatus.RUNNING,
            wait=wait,
            timeout=timeout,
            json_output=json_output,
        )


@app.command("update")
def update_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    set_: SetOption = None,
    template: Annotated[
        str | None,
        typer.Option("--template", help="A new template: catalog id or file.", show_default=False),
    ] = None,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Change an app's values or template (a new revision); values not given keep theirs."""
    body: dict[str, object] = {"values": parse_values(set_)}
    if template is not None:
        body |= template_fields(template)
    if not set_ and template is None:
        raise InvalidInput("nothing to change: give --set KEY=VALUE or --template TEMPLATE")
    with open_client(ctx, url, token) as client:
        updated = client.patch(app_path(space, name), body)
        _finish(
            ctx,
            client,
            updated,
            verbs=("updated", "updated"),
            goal=AppStatus.RUNNING,
            wait=wait,
            timeout=timeout,
            json_output=json_output,
        )


@app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            metavar="REVISION",
            min=1,
            help="The revision to go back to (default: the one before the current one).",
            show_default=False,
        ),
    ] = None,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Deploy an earlier revision's template and values again."""
    with open_client(ctx, url, token) as client:
        rolled = client.post(app_path(space, name, "rollback"), {"to": to})
        _finish(
            ctx,
            client,
            rolled,
            verbs=("rolled back", "rolled back"),
            goal=AppStatus.RUNNING,
            wait=wait,
            timeout=timeout,
            json_output=json_output,
        )


_LIFECYCLE = {
    "stop": ("stopping", "stopped", "Scale an app to zero, remembering its replicas."),
    "start": ("starting", "started", "Start a stopped app with the replicas it had."),
    "restart": ("restarting", "restarted", "Restart every service of an app."),
}


def _lifecycle_command(action: str) -> Callable[..., None]:
    accepted, reached, help_text = _LIFECYCLE[action]

    def command(
        ctx: typer.Context,
        name: NameArgument,
        space: SpaceOption = "default",
        wait: WaitFlag = False,
        timeout: TimeoutOption = None,
        json_output: JsonFlag = False,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        with open_client(ctx, url, token) as client:
            changed = client.post(app_path(space, name, action))
            _finish(
                ctx,
                client,
                changed,
                verbs=(accepted, reached),
                goal=AppStatus.STOPPED if action == "stop" else AppStatus.RUNNING,
                wait=wait,
                timeout=timeout,
                json_output=json_output,
            )

    command.__doc__ = help_text
    command.__name__ = f"{action}_command"
    return command


for _action in _LIFECYCLE:
    app.command(_action)(_lifecycle_command(_action))


@app.command("rotate")
def rotate_command(
    ctx: typer.Context,
    name: NameArgument,
    addon: Annotated[str, typer.Option("--addon", help="mysql, postgresql or redis.")],
    space: SpaceOption = "default",
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Give an app's addon a new password; the app restarts with it."""
    with open_client(ctx, url, token) as client:
        changed = client.post(app_path(space, name, "addons", addon, "rotate"))
        _finish(
            ctx,
            client,
            changed,
            verbs=("rotating", "rotated"),
            goal=AppStatus.RUNNING,
            wait=wait,
            timeout=timeout,
            json_output=json_output,
        )


@app.command("rm")
def remove_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    purge: Annotated[
        bool, typer.Option("--purge", help="Remove its volumes and secrets too (no undo).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Remove an app; its volumes are kept unless --purge."""
    if not yes:
        what = "with its volumes and secrets" if purge else "keeping its volumes"
        confirm_or_stop(
            f"Remove app {name} from space {space}, {what}?",
            refusal=f"app {name} not removed (pass --yes to skip the question)",
        )
    kept = "volumes and secrets purged" if purge else "volumes kept"
    with open_client(ctx, url, token) as client:
        client.delete(app_path(space, name), params={"purge": purge})
        if wait or timeout is not None:
            wait_for_app(
                client,
                space=space,
                name=name,
                goal="gone",
                timeout=DEFAULT_WAIT_TIMEOUT if timeout is None else timeout,
                interval=wiring_of(ctx).poll_interval,
            )
            print(f"removed {name} from space {space} ({kept})")
        else:
            print(f"removing {name} from space {space} ({kept})")


@app.command("adopt")
def adopt_command(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="A stack Cloud OS did not create.")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", "-n", help="The app's name (default: the stack's).", show_default=False
        ),
    ] = None,
    space: SpaceOption = "default",
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Take over an existing stack as an app (see `cloudos app unmanaged`)."""
    with open_client(ctx, url, token) as client:
        adopted = client.post(
            f"/spaces/{quote(space, safe='')}/adopt", {"stack": stack, "name": name or stack}
        )
        _finish(
            ctx,
            client,
            adopted,
            verbs=("adopted", "adopted"),
            goal=AppStatus.RUNNING,
            wait=wait,
            timeout=timeout,
            json_output=json_output,
        )


@app.command("unmanaged")
def unmanaged_command(
    ctx: typer.Context,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the stacks on the swarm that Cloud OS did not create (and never touches)."""
    with open_client(ctx, url, token) as client:
        stacks: list[dict[str, Any]] = client.get("/stacks/unmanaged")
    print_listing(
        stacks,
        json_output=json_output,
        empty="no unmanaged stacks",
        columns=("STACK", "SERVICES"),
        row=lambda stack: (stack["name"], ", ".join(map(str, stack.get("services", [])))),
    )


@app.command("ls")
def list_command(
    ctx: typer.Context,
    space: SpaceOption = "default",
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the apps of a space."""
    with open_client(ctx, url, token) as client:
        apps: list[AppDocument] = client.get(f"/spaces/{quote(space, safe='')}/apps")
    print_listing(
        apps,
        json_output=json_output,
        empty=f"no apps in space {space}",
        columns=("NAME", "TEMPLATE", "REVISION", "STATUS", "URL"),
        row=lambda app_data: (
            app_data["name"],
            f"{app_data['template_id']} {app_data['template_version']}",
            str(app_data["revision"]),
            app_data["status"],
            (app_data.get("urls") or ["-"])[0],
        ),
    )


@app.command("show")
def show_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    events: Annotated[int, typer.Option("--events", min=0, help="How many last events.")] = 10,
    json_output: Annotated[
        bool, typer.Option("--json", help="The app as JSON, with its last events under 'events'.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """An app's status per service, its reason, URLs and last events."""
    with open_client(ctx, url, token) as client:
        app_data: AppDocument = client.get(app_path(space, name))
        last = (
            client.get(app_path(space, name, "events"), params={"limit": events}) if events else []
        )
    if json_output:
        print_json({**app_data, "events": last})
        return
    facts = [
        ("app", f"{app_data['name']} (space {app_data['space']})"),
        (
            "template",
            f"{app_data['template_id']} {app_data['template_version']},"
            f" revision {app_data['revision']}",
        ),
        ("status", f"{app_data['status']} since {app_data['status_since']}"),
    ]
    if app_data.get("status_reason"):
        facts.append(("reason", app_data["status_reason"]))
    facts += [("url", link) for link in app_data.get("urls") or []]
    facts.append(("desired", app_data["desired_state"]))
    grid = Table.grid(padding=(0, 2))
    for key, value in facts:
        grid.add_row(Text(key, style="bold"), Text(str(value)))
    console.print(grid)
    services = [
        (
            service["name"],
            f"{service['running']}/{service['desired']}",
            service.get("health") or "-",
            service.get("error") or "",
        )
        for service in app_data.get("services") or []
    ]
    if services:
        console.print()
        print_table(("SERVICE", "RUNNING", "HEALTH", "ERROR"), services)
    addons = [
        (
            addon["kind"],
            addon["database"],
            "dedicated" if addon["dedicated"] else "space",
            addon["server"],
        )
        for addon in app_data.get("addons") or []
    ]
    if addons:
        console.print()
        print_table(("ADDON", "DATABASE", "SERVER", "STACK"), addons)
    if last:
        console.print()
        print_table(("AT", "EVENT", "MESSAGE"), [_event_row(event) for event in last])


@app.command("events")
def events_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest last.")] = 50,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """An app's events timeline: deployments, failures, rollbacks."""
    with open_client(ctx, url, token) as client:
        events: list[dict[str, Any]] = client.get(
            app_path(space, name, "events"), params={"limit": limit}
        )
    print_listing(
        events,
        json_output=json_output,
        empty=f"no events for {name}",
        columns=("AT", "EVENT", "MESSAGE"),
        row=_event_row,
    )


@app.command("revisions")
def revisions_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    show: Annotated[
        int | None,
        typer.Option(
            "--show",
            metavar="N",
            min=1,
            help="Print revision N's stack YAML (with --json: its values too).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """An app's revisions (the current one starred), or one revision's stack YAML."""
    with open_client(ctx, url, token) as client:
        if show is not None:
            revision: dict[str, Any] = client.get(app_path(space, name, "revisions", str(show)))
        else:
            revisions: list[dict[str, Any]] = client.get(app_path(space, name, "revisions"))
    if show is not None:
        if json_output:
            print_json(revision)
        else:
            stack_yaml: str = revision["stack_yaml"]
            sys.stdout.write(stack_yaml if stack_yaml.endswith("\n") else stack_yaml + "\n")
        return
    if json_output:
        print_json(revisions)
        return
    rows = [
        (
            f"{item['number']}{' *' if item.get('current') else ''}",
            str(item["template_version"]),
            str(item["created_at"]),
            str(item.get("created_by") or "-"),
            str(item.get("note") or ""),
        )
        for item in revisions
    ]
    print_table(("REVISION", "VERSION", "CREATED", "BY", "NOTE"), rows)


@app.command("logs")
def logs_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    tail: Annotated[
        int | None,
        typer.Option("--tail", metavar="N", min=0, help="Only the last N lines of each service."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="WHEN", help="Only lines since: 90, 10m, 2h, 1d or an RFC 3339 time."
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's lines.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print an app's logs (streamed by the control plane)."""
    params = {
        "tail": tail,
        "since": since_param(since) if since is not None else None,
        "follow": follow,
        "service": service,
    }
    with open_client(ctx, url, token) as client:
        try:
            for line in client.stream_lines(
                app_path(space, name, "logs"), params=params, follow=follow
            ):
                sys.stdout.write(line + "\n")
                if follow:
                    sys.stdout.flush()
            sys.stdout.flush()
        except BrokenPipeError:
            # `cloudos app logs ... | head`: the reader has all it wants.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    name: NameArgument,
    space: SpaceOption = "default",
    json_output: JsonFlag = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """CPU and memory of each of an app's services, now."""
    with open_client(ctx, url, token) as client:
        stats: list[dict[str, Any]] = client.get(app_path(space, name, "stats"))
    print_listing(
        stats,
        json_output=json_output,
        empty=f"no services of {name} run",
        columns=("SERVICE", "CPU", "MEMORY", "LIMIT"),
        row=lambda item: (
            item["service"],
            f"{item['cpu_percent']:.1f}%",
            _size(item.get("memory_bytes")),
            _size(item.get("memory_limit_bytes")),
        ),
    )


def _event_row(event: dict[str, Any]) -> tuple[str, str, str]:
    return str(event["at"]), str(event["kind"]), str(event["message"])


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    size, unit = float(value), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


__all__ = [
    "app",
    "app_path",
    "parse_values",
    "progress_line",
    "since_param",
    "template_fields",
    "wait_for_app",
]
