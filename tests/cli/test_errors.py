"""Bad input and faults: one clear line, exit code 2, no traceback, nothing half-done."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers import Runner, assert_one_line_error, free_port


def test_no_engine_reachable(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos(
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        env={"CLOUDOS_DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert_one_line_error(result, 2, "no Docker engine answers at unix:///nonexistent/docker.sock")


def test_doctor_without_engine_says_why(cloudos: Runner, tmp_path: Path) -> None:
    import json

    result = cloudos(
        "doctor",
        "--json",
        "--data-dir",
        str(tmp_path),
        env={"CLOUDOS_DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["can_run"] is False
    assert report["engine"]["reachable"] is False
    assert any("no Docker engine" in reason for reason in report["reasons"])


def test_port_already_taken(cloudos: Runner, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cloudos("serve", "--data-dir", str(tmp_path), "--port", str(port))
    assert_one_line_error(result, 2, f"port {port}", "already taken")
    assert not (tmp_path / "cloudos.db").exists()


def test_data_dir_not_writable(cloudos: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cloudos("serve", "--data-dir", str(blocker / "data"), "--port", str(free_port()))
    assert_one_line_error(result, 2, "data directory", "cannot be created")


def test_database_unreachable(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos(
        "admin",
        "create-token",
        "--data-dir",
        str(tmp_path),
        env={"CLOUDOS_DATABASE_URL": "postgresql://cloud:hunter2@127.0.0.1:9/cloud"},
    )
    assert_one_line_error(result, 2, "database", "cannot be reached")
    assert "hunter2" not in result.stderr
    assert result.stdout == ""


def test_bad_setting_in_environment(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos("serve", "--data-dir", str(tmp_path), env={"CLOUDOS_PORT": "http"})
    assert_one_line_error(result, 1, "port")


def test_bad_config_file(cloudos: Runner, tmp_path: Path) -> None:
    (tmp_path / "cloudos.toml").write_text("prot = 80\n")
    result = cloudos("serve", "--data-dir", str(tmp_path))
    assert_one_line_error(result, 1, "cloudos.toml", "unknown setting 'prot'")


def test_an_unknown_hsts_setting_names_the_variable_and_the_choices(
    cloudos: Runner, tmp_path: Path
) -> None:
    result = cloudos("serve", "--data-dir", str(tmp_path), env={"CLOUDOS_HSTS": "sometimes"})
    assert_one_line_error(result, 1, "CLOUDOS_HSTS", "'all', 'public' or 'off'")


def test_doctor_says_when_hsts_is_off(cloudos: Runner, tmp_path: Path) -> None:
    env = {"CLOUDOS_DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = cloudos("doctor", "--data-dir", str(tmp_path), env={**env, "CLOUDOS_HSTS": "off"})
    assert "hsts        off: HTTPS answers carry no Strict-Transport-Security" in result.stdout
    result = cloudos("doctor", "--data-dir", str(tmp_path), env=env)
    assert "hsts        all" in result.stdout
