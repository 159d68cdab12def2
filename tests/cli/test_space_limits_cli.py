"""``cloudos space policy|quota`` against a fake API: what is sent, shown, and refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.test_app_cli import FakeApi, problem, run

pytestmark = pytest.mark.usefixtures("clean_environment")  # tests/cli/conftest.py

GRANTS = {
    "privileged": "privileged mode",
    "docker_socket": "the Docker socket",
    "host_paths": "host paths",
    "host_network": "the host's network",
    "capabilities": "added Linux capabilities (cap_add)",
}


def policy(*allow: str, ports: str | None = None) -> dict[str, Any]:
    return {"space": "acme", "allow": list(allow), "ports": ports, "grants": GRANTS}


def test_policy_without_flags_shows_every_grant(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy("host_paths")))
    result = run(api, "space", "policy", "acme")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GRANT", "ALLOWED", "WHAT"]
    assert lines[1].split()[:2] == ["privileged", "no"]
    assert lines[3].split()[:2] == ["host_paths", "yes"]
    assert not api.sent("PUT", "/spaces/acme/policy")


def test_policy_allow_and_deny_change_the_list(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy("host_paths", "capabilities")))
    api.on("PUT", "/spaces/acme/policy", (200, policy("capabilities", "privileged")))
    result = run(
        api, "space", "policy", "acme", "--allow", "privileged", "--deny", "host_paths", "--json"
    )
    assert result.code == 0, result.stderr
    assert api.body("PUT", "/spaces/acme/policy") == {
        "allow": ["capabilities", "privileged"],
        "ports": None,
    }
    assert '"privileged"' in result.stdout


def test_policy_ports_sets_the_range_and_keeps_the_grants(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy("host_paths")))
    api.on("PUT", "/spaces/acme/policy", (200, policy("host_paths", ports="20000-20100")))
    result = run(api, "space", "policy", "acme", "--ports", "20000-20100")
    assert result.code == 0, result.stderr
    assert api.body("PUT", "/spaces/acme/policy") == {
        "allow": ["host_paths"],
        "ports": "20000-20100",
    }
    assert result.stdout.splitlines()[-1].split()[:2] == ["ports", "20000-20100"]


def test_policy_ports_none_takes_the_range_back(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy(ports="20000-20100")))
    api.on("PUT", "/spaces/acme/policy", (200, policy()))
    assert run(api, "space", "policy", "acme", "--ports", "none").code == 0
    assert api.body("PUT", "/spaces/acme/policy") == {"allow": [], "ports": None}


def test_policy_grants_alone_keep_the_range(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy(ports="20000-20100")))
    api.on("PUT", "/spaces/acme/policy", (200, policy("privileged", ports="20000-20100")))
    assert run(api, "space", "policy", "acme", "--allow", "privileged").code == 0
    assert api.body("PUT", "/spaces/acme/policy") == {
        "allow": ["privileged"],
        "ports": "20000-20100",
    }


def test_policy_ports_that_do_not_read_are_one_clear_line(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy()))
    detail = "ports 'lots': give a port or a range of ports like 20000-20100"
    api.on("PUT", "/spaces/acme/policy", (422, {"title": "t", "status": 422, "detail": detail}))
    result = run(api, "space", "policy", "acme", "--ports", "lots")
    assert (result.code, result.stderr) == (1, f"error: {detail}\n")


def test_policy_refuses_unknown_grants_before_sending(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy()))
    result = run(api, "space", "policy", "acme", "--allow", "root")
    assert result.code == 1
    assert result.stderr == (
        "error: unknown grant 'root' (grants: privileged, docker_socket, host_paths, "
        "host_network, capabilities)\n"
    )
    assert not api.sent("PUT", "/spaces/acme/policy")


def test_policy_change_by_a_non_admin_is_one_clear_line(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/policy", (200, policy()))
    detail = "only a cluster admin can change a space's policy"
    api.on(
        "PUT", "/spaces/acme/policy", (403, {"title": "Forbidden", "status": 403, "detail": detail})
    )
    result = run(api, "space", "policy", "acme", "--allow", "privileged")
    assert (result.code, result.stderr) == (1, f"error: {detail}\n")


def quota(**changes: Any) -> dict[str, Any]:
    usage = {"apps": 2, "cpus": 1.5, "memory": 768 << 20, "unlimited_cpus": [],
             "unlimited_memory": ["old/web"]}  # fmt: skip
    body = {"space": "acme", "max_apps": None, "max_cpus": 2.0, "max_memory": 1 << 30}
    return body | changes | {"usage": usage}


def test_quota_without_flags_shows_use_and_limits(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/quota", (200, quota()))
    result = run(api, "space", "quota", "acme")
    assert result.code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[1:4] == [
        ["apps", "2", "no", "limit"],
        ["cpus", "1.5", "2"],
        ["memory", "768M", "1G"],
    ]
    assert rows[4] == ["without", "a", "memory", "limit:", "old/web"]


def test_quota_flags_change_only_what_they_name(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/quota", (200, quota()))
    api.on("PUT", "/spaces/acme/quota", (200, quota(max_apps=5, max_memory=2 << 30)))
    result = run(api, "space", "quota", "acme", "--apps", "5", "--memory", "2G")
    assert result.code == 0, result.stderr
    assert api.body("PUT", "/spaces/acme/quota") == {
        "max_apps": 5,
        "max_cpus": 2.0,
        "max_memory": 2 << 30,
    }


def test_quota_clear_removes_every_limit_but_the_ones_given(api: FakeApi) -> None:
    api.on("GET", "/spaces/acme/quota", (200, quota()))
    api.on("PUT", "/spaces/acme/quota", (200, quota(max_cpus=None, max_memory=None)))
    result = run(api, "space", "quota", "acme", "--clear", "--cpus", "4")
    assert result.code == 0, result.stderr
    assert api.body("PUT", "/spaces/acme/quota") == {
        "max_apps": None,
        "max_cpus": 4.0,
        "max_memory": None,
    }


def test_quota_refuses_a_bad_size_before_sending(api: FakeApi) -> None:
    result = run(api, "space", "quota", "acme", "--memory", "lots")
    assert (result.code, result.stderr) == (
        1,
        "error: --memory 'lots' is not a size like 512M or 2G\n",
    )
    assert not api.requests


def test_quota_of_an_unknown_space(api: FakeApi) -> None:
    api.replies[("GET", "/api/v1/spaces/nope/quota")] = [
        (404, problem_body("space 'nope' does not exist"))
    ]
    result = run(api, "space", "quota", "nope")
    assert (result.code, result.stderr) == (1, "error: space 'nope' does not exist\n")


def problem_body(detail: str) -> dict[str, Any]:
    return dict(problem(404, detail).json())
