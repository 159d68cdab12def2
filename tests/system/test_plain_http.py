"""The control plane's plain-HTTP port: only this machine's, unless the admin chooses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudos.settings import Settings
from cloudos.system import is_loopback, plain_http_warning
from tests.helpers import Runner


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost"])
def test_loopback_addresses_reach_only_this_machine(host: str) -> None:
    assert is_loopback(host)
    assert plain_http_warning(Settings(host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "cloud.example.com"])
def test_any_other_address_is_warned_about_with_the_https_way_in(host: str) -> None:
    assert not is_loopback(host)
    warning = plain_http_warning(Settings(host=host, port=9000, https_port=8443))
    assert warning is not None
    assert f"plain HTTP on {host}:9000" in warning
    assert "unencrypted" in warning
    assert "https://cloud.localhost:8443/ through the router" in warning


def test_the_default_listens_on_loopback() -> None:
    assert Settings().host == "127.0.0.1"


def test_doctor_warns_when_the_port_is_open_to_other_machines(
    cloudos: Runner, tmp_path: Path
) -> None:
    engine = {"CLOUDOS_DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    quiet = cloudos("doctor", "--json", "--data-dir", str(tmp_path), env=engine)
    assert json.loads(quiet.stdout)["warnings"] == []
    exposed = cloudos(
        "doctor", "--data-dir", str(tmp_path), env={**engine, "CLOUDOS_HOST": "0.0.0.0"}
    )
    assert "warning: the control plane answers plain HTTP on 0.0.0.0:8080" in " ".join(
        exposed.stdout.split()
    )
    assert "Traceback" not in exposed.stderr
