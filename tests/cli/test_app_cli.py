"""``cloudos space|app ...`` against a fake API: the requests sent, the output, the exit code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cloudos.cli import app as cloudos_app
from cloudos.cli._client import Wiring
from cloudos.cli.app import parse_values, since_param
from cloudos.errors import CloudOSError, InvalidInput
from tests.helpers import Runner, assert_one_line_error, free_port

Reply = tuple[int, Any]
pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py


@dataclass
class FakeApi:
    """Answers by (method, path) from queued replies (the last one repeats); records requests."""

    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[(method, "/api/v1" + path)] = list(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.replies.get((request.method, request.url.path))
        if not queue:
            return problem(404, "Not Found")
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        if status == 204:
            return httpx.Response(204)
        return httpx.Response(status, json=body)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, "/api/v1" + path)]

    def body(self, method: str, path: str) -> Any:
        (request,) = self.sent(method, path)
        return json.loads(request.content)


def problem(status: int, detail: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "t", "status": status, "detail": detail}
    return httpx.Response(status, json=body)


def an_app(**changes: Any) -> dict[str, Any]:
    app = {
        "name": "web",
        "space": "default",
        "template_id": "org.cloudos.nginx",
        "template_version": "1.2.0",
        "revision": 1,
        "desired_state": "running",
        "status": "pending",
        "status_reason": None,
        "status_since": "2024-05-01T12:00:00Z",
        "services": [{"name": "web", "desired": 1, "running": 0, "health": None, "error": None}],
        "urls": ["http://web.default.localhost"],
        "created_at": "2024-05-01T12:00:00Z",
    }
    return app | changes


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run(api: FakeApi, *args: str, stdin: str | None = None, **env: str) -> Result:
    """``cloudos ARGS`` in this process, errors handled as ``main()`` does; never a traceback."""
    wiring = Wiring(transport=httpx.MockTransport(api), poll_interval=0.001)
    result = CliRunner().invoke(cloudos_app, list(args), input=stdin, env=env, obj=wiring)
    error = result.exception
    if isinstance(error, CloudOSError):
        return Result(error.exit_code, result.stdout, result.stderr + f"error: {error}\n")
    assert error is None or isinstance(error, SystemExit), repr(error)
    return Result(result.exit_code, result.stdout, result.stderr)


# --set and friends


def test_set_splits_at_the_first_equals_and_the_last_one_wins() -> None:
    values = parse_values(["title=a=b", "port=80", "port=8080", "empty="])
    assert values == {"title": "a=b", "port": "8080", "empty": ""}


@pytest.mark.parametrize("bad", ["port", "=80"])
def test_set_without_a_key_names_the_argument(bad: str) -> None:
    with pytest.raises(InvalidInput, match=f"--set '{bad}': expected KEY=VALUE"):
        parse_values([bad])


def test_since_takes_durations_and_times() -> None:
    assert since_param("90") == "90"
    assert since_param("10m") == "600"
    assert since_param("2h") == "7200"
    assert since_param("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00Z"
    with pytest.raises(InvalidInput, match="--since 'yesterday'"):
        since_param("yesterday")


# spaces


def test_space_create_ls_rm(api: FakeApi) -> None:
    space = {"name": "shop", "domain": "shop.example.com", "network": "cloudos-shop", "apps": 2,
             "created_at": "2024-05-01T12:00:00Z"}  # fmt: skip
    api.on("POST", "/spaces", (201, space))
    api.on("GET", "/spaces", (200, [space]))
    api.on("DELETE", "/spaces/shop", (204, None))

    created = run(api, "space", "create", "shop", "--domain", "shop.example.com")
    assert created.code == 0, created.stderr
    assert api.body("POST", "/spaces") == {"name": "shop", "domain": "shop.example.com"}
    assert created.stdout == "space shop created (domain shop.example.com)\n"

    listed = run(api, "space", "ls")
    assert listed.stdout.split("\n")[1].split() == [
        "shop",
        "shop.example.com",
        "2",
        "2024-05-01T12:00:00Z",
    ]
    assert json.loads(run(api, "space", "ls", "--json").stdout) == [space]

    removed = run(api, "space", "rm", "shop", "--force")
    assert removed.code == 0
    assert api.sent("DELETE", "/spaces/shop")[0].url.params["force"] == "true"


def test_space_rm_refused_while_apps_remain(api: FakeApi) -> None:
    detail = "space shop still holds 2 apps (web, db): remove them or pass --force"
    api.on("DELETE", "/spaces/shop", (409, {"title": "Conflict", "status": 409, "detail": detail}))
    result = run(api, "space", "rm", "shop")
    assert result.code == 1
    assert api.sent("DELETE", "/spaces/shop")[0].url.params["force"] == "false"
    assert result.stderr == f"error: {detail}\n"


# install


def test_install_from_the_catalog_sends_id_and_values(api: FakeApi) -> None:
    api.on("POST", "/spaces/shop/apps", (201, an_app(space="shop")))
    result = run(api, "app", "install", "org.cloudos.nginx", "--space", "shop", "--name", "web",
                 "--set", "title=Hello = world", "--set", "port=80",
                 "--set", "port=8080")  # fmt: skip
    assert result.code == 0, result.stderr
    assert api.body("POST", "/spaces/shop/apps") == {
        "name": "web",
        "template": "org.cloudos.nginx",
        "template_text": None,
        "values": {"title": "Hello = world", "port": "8080"},
    }
    assert result.stdout == (
        "installed web in space shop: revision 1, pending, http://web.default.localhost\n"
    )


def test_install_from_a_file_sends_its_text_and_name(api: FakeApi, tmp_path: Path) -> None:
    template = tmp_path / "app.yaml"
    template.write_text("format: cloudos.template/v1\nid: org.example.app\n")
    api.on("POST", "/spaces/default/apps", (201, an_app()))
    result = run(api, "app", "install", str(template), "--name", "web")
    assert result.code == 0, result.stderr
    body = api.body("POST", "/spaces/default/apps")
    assert body["template"] is None
    assert body["template_text"] == template.read_text()
    assert body["template_source"] == str(template)


def test_install_space_comes_from_the_environment(api: FakeApi) -> None:
    api.on("POST", "/spaces/team/apps", (201, an_app(space="team")))
    result = run(api, "app", "install", "org.cloudos.nginx", "--name", "web", CLOUDOS_SPACE="team")
    assert result.code == 0, result.stderr
    assert api.sent("POST", "/spaces/team/apps")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["./missing.yaml"], "error: ./missing.yaml: no such template file\n"),
        (["org.cloudos.nginx", "--set", "port"], "error: --set 'port': expected KEY=VALUE\n"),
    ],
)
def test_bad_install_input_sends_nothing(api: FakeApi, args: list[str], message: str) -> None:
    result = run(api, "app", "install", *args, "--name", "web")
    assert (result.code, result.stderr) == (1, message)
    assert api.requests == []


def test_install_rejected_by_the_server_shows_its_detail(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps", (422, {"title": "InvalidInput", "status": 422,
            "detail": "app.yaml:9:9: services.web.ports[0]: ${port} is not a port"}))  # fmt: skip
    result = run(api, "app", "install", "org.cloudos.nginx", "--name", "web")
    assert result.code == 1
    assert result.stderr == "error: app.yaml:9:9: services.web.ports[0]: ${port} is not a port\n"


# --wait


def test_install_wait_shows_progress_and_returns_when_running(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps", (201, an_app()))
    running = [{"name": "web", "desired": 1, "running": 1, "health": "healthy", "error": None}]
    api.on("GET", "/spaces/default/apps/web",
           (200, an_app(status="deploying")), (200, an_app(status="starting")),
           (200, an_app(status="running", services=running)))  # fmt: skip
    result = run(api, "app", "install", "org.cloudos.nginx", "--name", "web", "--wait")
    assert result.code == 0, result.stderr
    assert "web: deploying (web 0/1)" in result.stderr
    assert "web: starting (web 0/1)" in result.stderr
    assert result.stdout == (
        "installed web in space default: revision 1, running, http://web.default.localhost\n"
    )


def test_install_wait_fails_with_the_reason(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps", (201, an_app()))
    reason = "image cloudos/x:1 not found on node vm"
    api.on("GET", "/spaces/default/apps/web", (200, an_app(status="deploying")),
           (200, an_app(status="failed", status_reason=reason)))  # fmt: skip
    result = run(api, "app", "install", "org.cloudos.nginx", "--name", "web", "--wait")
    assert result.code == 1
    assert result.stderr.endswith(f"error: app web failed: {reason}\n")
    assert result.stdout == ""


def test_update_wait_fails_when_rolled_back(api: FakeApi) -> None:
    api.on("PATCH", "/spaces/default/apps/web", (200, an_app(revision=2, status="updating")))
    reason = "task web.1 failed its health check: GET / answered 500"
    api.on("GET", "/spaces/default/apps/web",
           (200, an_app(revision=2, status="rolled back", status_reason=reason)))  # fmt: skip
    result = run(api, "app", "update", "web", "--set", "title=x", "--wait")
    assert result.code == 1
    assert result.stderr.endswith(f"error: app web rolled back: {reason}\n")


def test_wait_times_out_with_the_last_status(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps/web/restart", (200, an_app(status="updating")))
    api.on("GET", "/spaces/default/apps/web", (200, an_app(status="starting")))
    result = run(api, "app", "restart", "web", "--timeout", "0.05")
    assert result.code == 1
    assert result.stderr.endswith("error: timed out after 0.05 s (status: starting)\n")
    assert len(api.sent("GET", "/spaces/default/apps/web")) > 1


def test_wait_rides_out_a_control_plane_restart(api: FakeApi) -> None:
    def flaky(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and not api.sent("GET", "/spaces/default/apps/web"):
            api.requests.append(request)
            raise httpx.ConnectError("refused")
        return api(request)

    api.on("POST", "/spaces/default/apps/web/start", (200, an_app(status="starting")))
    api.on("GET", "/spaces/default/apps/web", (200, an_app(status="running")))
    wiring = Wiring(transport=httpx.MockTransport(flaky), poll_interval=0.001)
    result = CliRunner().invoke(cloudos_app, ["app", "start", "web", "--wait"], obj=wiring)
    assert result.exit_code == 0, result.exception
    assert "control plane not answering" in result.stderr
    assert result.stdout.startswith("started web in space default: revision 1, running")


def test_stop_waits_for_stopped(api: FakeApi) -> None:
    api.on("POST", "/spaces/default/apps/web/stop", (200, an_app(status="stopping")))
    api.on("GET", "/spaces/default/apps/web", (200, an_app(status="stopping")),
           (200, an_app(status="stopped", desired_state="stopped")))  # fmt: skip
    result = run(api, "app", "stop", "web", "--wait")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("stopped web in space default: revision 1, stopped")


# update, rollback, lifecycle


def test_update_sends_only_what_changes(api: FakeApi, tmp_path: Path) -> None:
    template = tmp_path / "v2.yaml"
    template.write_text("id: org.example.app\nversion: 2.0.0\n")
    api.on("PATCH", "/spaces/default/apps/web", (200, an_app(revision=2, status="updating")))
    result = run(api, "app", "update", "web", "--set", "port=81", "--template", str(template))
    assert result.code == 0, result.stderr
    assert api.body("PATCH", "/spaces/default/apps/web") == {
        "values": {"port": "81"},
        "template_text": template.read_text(),
        "template_source": str(template),
    }
    assert result.stdout.startswith("updated web in space default: revision 2, updating")


def test_update_with_nothing_to_change_is_refused(api: FakeApi) -> None:
    result = run(api, "app", "update", "web")
    assert result.code == 1
    assert "nothing to change" in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(("args", "to"), [([], None), (["--to", "2"], 2)])
def test_rollback_sends_the_revision(api: FakeApi, args: list[str], to: int | None) -> None:
    api.on("POST", "/spaces/default/apps/web/rollback", (200, an_app(revision=4)))
    result = run(api, "app", "rollback", "web", *args)
    assert result.code == 0, result.stderr
    assert api.body("POST", "/spaces/default/apps/web/rollback") == {"to": to}


@pytest.mark.parametrize("action", ["stop", "start", "restart"])
def test_lifecycle_commands_post_their_action(api: FakeApi, action: str) -> None:
    api.on("POST", f"/spaces/shop/apps/web/{action}", (200, an_app(space="shop")))
    result = run(api, "app", action, "web", "--space", "shop", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "web"


def test_missing_app_is_one_line(api: FakeApi) -> None:
    missing = {"title": "NotFound", "status": 404, "detail": "no app nope in space default"}
    api.on("POST", "/spaces/default/apps/nope/start", (404, missing))
    result = run(api, "app", "start", "nope")
    assert (result.code, result.stderr) == (1, "error: no app nope in space default\n")


# rm


def test_rm_asks_first(api: FakeApi) -> None:
    result = run(api, "app", "rm", "web", "--purge", stdin="n\n")
    assert result.code == 1
    assert "with its volumes and secrets?" in result.stderr
    assert "not removed" in result.stderr
    assert api.requests == []


def test_rm_wait_returns_once_the_app_is_gone(api: FakeApi) -> None:
    api.on("DELETE", "/spaces/default/apps/web", (202, an_app(status="removing")))
    api.on("GET", "/spaces/default/apps/web", (200, an_app(status="removing")),
           (404, {"title": "NotFound", "status": 404, "detail": "no app web"}))  # fmt: skip
    result = run(api, "app", "rm", "web", "--purge", "--yes", "--wait")
    assert result.code == 0, result.stderr
    assert api.sent("DELETE", "/spaces/default/apps/web")[0].url.params["purge"] == "true"
    assert result.stdout == "removed web from space default (volumes and secrets purged)\n"


def test_rm_confirmed_keeps_volumes_by_default(api: FakeApi) -> None:
    api.on("DELETE", "/spaces/default/apps/web", (202, an_app(status="removing")))
    result = run(api, "app", "rm", "web", stdin="y\n")
    assert result.code == 0, result.stderr
    assert "keeping its volumes" in result.stderr
    assert api.sent("DELETE", "/spaces/default/apps/web")[0].url.params["purge"] == "false"
    assert result.stdout.endswith("removing web from space default (volumes kept)\n")


# reading


def test_ls_is_a_table_and_json(api: FakeApi) -> None:
    apps = [an_app(status="running", revision=3), an_app(name="db", urls=[], status="failed")]
    api.on("GET", "/spaces/default/apps", (200, apps))
    result = run(api, "app", "ls")
    assert result.code == 0, result.stderr
    header, web, db = result.stdout.splitlines()
    assert header.split() == ["NAME", "TEMPLATE", "REVISION", "STATUS", "URL"]
    assert web.split() == ["web", "org.cloudos.nginx", "1.2.0", "3", "running",
                           "http://web.default.localhost"]  # fmt: skip
    assert db.split() == ["db", "org.cloudos.nginx", "1.2.0", "1", "failed", "-"]
    assert json.loads(run(api, "app", "ls", "--json").stdout) == apps


def test_ls_of_an_empty_space_says_so_on_stderr(api: FakeApi) -> None:
    api.on("GET", "/spaces/default/apps", (200, []))
    result = run(api, "app", "ls")
    assert (result.code, result.stdout, result.stderr) == (0, "", "no apps in space default\n")


def test_show_has_services_reason_and_events(api: FakeApi) -> None:
    services = [{"name": "web", "desired": 2, "running": 1, "health": "unhealthy",
                 "error": "task exited with code 1 [x]"}]  # fmt: skip
    shown = an_app(status="failed", status_reason="web: 1 of 2 tasks failing", services=services)
    events = [{"at": "2024-05-01T12:00:01Z", "kind": "deploy", "message": "revision 1 deployed"}]
    api.on("GET", "/spaces/default/apps/web", (200, shown))
    api.on("GET", "/spaces/default/apps/web/events", (200, events))
    result = run(api, "app", "show", "web")
    assert result.code == 0, result.stderr
    assert "reason    web: 1 of 2 tasks failing" in result.stdout
    assert "web      1/2      unhealthy  task exited with code 1 [x]" in result.stdout
    assert "revision 1 deployed" in result.stdout
    assert api.sent("GET", "/spaces/default/apps/web/events")[0].url.params["limit"] == "10"
    as_json = json.loads(run(api, "app", "show", "web", "--json").stdout)
    assert as_json == {**shown, "events": events}


def test_revisions_table_and_one_revisions_yaml(api: FakeApi) -> None:
    revisions = [
        {"number": 1, "template_version": "1.0.0", "created_at": "t1", "created_by": "admin",
         "note": "install", "current": False},
        {"number": 2, "template_version": "1.1.0", "created_at": "t2", "created_by": "admin",
         "note": "update", "current": True},
    ]  # fmt: skip
    api.on("GET", "/spaces/default/apps/web/revisions", (200, revisions))
    api.on("GET", "/spaces/default/apps/web/revisions/2", (200, {**revisions[1],
           "values": {"password": "********"}, "stack_yaml": "services:\n  web: {}"}))  # fmt: skip
    table = run(api, "app", "revisions", "web").stdout.splitlines()
    assert table[2].split() == ["2", "*", "1.1.0", "t2", "admin", "update"]
    assert run(api, "app", "revisions", "web", "--show", "2").stdout == "services:\n  web: {}\n"
    shown = json.loads(run(api, "app", "revisions", "web", "--show", "2", "--json").stdout)
    assert shown["values"] == {"password": "********"}


def test_logs_stream_lines_with_their_filters(api: FakeApi) -> None:
    api.on("GET", "/spaces/default/apps/web/logs", (200, "web.1 | one\nweb.1 | two\n"))
    result = run(api, "app", "logs", "web", "--tail", "5", "--since", "10m", "--follow",
                 "--service", "web")  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stdout == "web.1 | one\nweb.1 | two\n"
    params = api.sent("GET", "/spaces/default/apps/web/logs")[0].url.params
    assert dict(params) == {"tail": "5", "since": "600", "follow": "true", "service": "web"}


def test_events_stats_unmanaged_and_adopt(api: FakeApi) -> None:
    api.on("GET", "/spaces/default/apps/web/events",
           (200, [{"at": "t1", "kind": "failed", "message": "image not found"}]))  # fmt: skip
    api.on("GET", "/spaces/default/apps/web/stats", (200, [{"service": "web", "cpu_percent": 1.25,
           "memory_bytes": 50 * 1024**2, "memory_limit_bytes": None}]))  # fmt: skip
    api.on("GET", "/stacks/unmanaged", (200, [{"name": "legacy", "services": ["legacy_web"]}]))
    api.on("POST", "/spaces/default/adopt", (201, an_app(name="old")))

    assert run(api, "app", "events", "web").stdout.splitlines()[1].split() == [
        "t1", "failed", "image", "not", "found"]  # fmt: skip
    assert run(api, "app", "stats", "web").stdout.splitlines()[1].split() == [
        "web", "1.2%", "50.0", "MiB", "-"]  # fmt: skip
    assert "legacy_web" in run(api, "app", "unmanaged").stdout
    adopted = run(api, "app", "adopt", "legacy", "--name", "old")
    assert adopted.code == 0, adopted.stderr
    assert api.body("POST", "/spaces/default/adopt") == {"stack": "legacy", "name": "old"}


# connection settings and faults


def test_url_and_token_come_from_the_config_file(api: FakeApi, tmp_path: Path) -> None:
    config = tmp_path / "config" / "cloudos" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('url = "https://cloud.example.com"\ntoken = "stored"\n')
    api.on("GET", "/spaces", (200, []))
    assert run(api, "space", "ls").code == 0
    assert api.requests[0].url.host == "cloud.example.com"
    assert api.requests[0].headers["authorization"] == "Bearer stored"
    run(api, "space", "ls", "--token", "flag", CLOUDOS_URL="http://10.1.1.1:9000")
    assert api.requests[1].url.host == "10.1.1.1"
    assert api.requests[1].headers["authorization"] == "Bearer flag"


def test_no_token_says_how_to_get_one(api: FakeApi) -> None:
    api.on("GET", "/spaces", (401, {"title": "HTTP error", "status": 401,
            "detail": "an API token is required (Authorization: Bearer ...)"}))  # fmt: skip
    result = run(api, "space", "ls")
    assert result.code == 1
    assert "pass --token or set CLOUDOS_TOKEN" in result.stderr
    assert "cloudos admin create-token --data-dir DIR" in result.stderr


def test_connection_refused_is_one_line_exit_2(cloudos: Runner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cloudos("app", "ls", "--space", "shop", env={"CLOUDOS_URL": url})
    assert_one_line_error(result, 2, f"no control plane answers at {url}", "cloudos up")
    assert result.stdout == ""
