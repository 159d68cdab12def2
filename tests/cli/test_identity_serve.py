"""People and access for real: ``cloudos serve`` in a subprocess, the real ``cloudos``.

One server for the whole walk (it takes seconds to start): the offline password reset,
``login`` writing a config that ``space ls`` then uses, a lockout lifted from the host,
two-factor sign-in turned on and used, and ``logout`` leaving a dead token behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.helpers import assert_one_line_error, control_plane


def cloudos(
    *args: str, home: Path, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The real ``cloudos ARGS`` with its config under ``home`` and ``stdin`` piped in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLOUDOS_")}
    env["XDG_CONFIG_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "cloudos", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``cloudos serve`` on a fresh data directory (first admin made beforehand); its URL."""
    data = tmp_path / "data"
    first = cloudos("admin", "create-token", "--data-dir", str(data), home=tmp_path)
    assert first.stdout.startswith("cos_")
    with control_plane(data) as base:
        yield base


def test_reset_login_lockout_2fa_logout(server: str, tmp_path: Path) -> None:
    data, home = str(tmp_path / "data"), tmp_path / "home"
    initial = (tmp_path / "data" / "initial-admin-password").read_text().split()[-1]

    # The host resets the admin's password; the old one stops working.
    reset = cloudos("admin", "reset-password", "admin", "--data-dir", data, home=home)
    password = reset.stdout.strip()
    assert reset.stdout == password + "\n"
    assert len(password) >= 16
    assert password != initial
    old = cloudos("login", "--url", server, "--user", "admin", home=home, stdin=initial + "\n",
                  check=False)  # fmt: skip
    assert_one_line_error(old, 1, "sign-in refused")

    # login writes url and token to a private file; space ls works with nothing else.
    login = cloudos("login", "--url", server, "--user", "admin", home=home, stdin=password + "\n")
    config = home / "cloudos" / "config.toml"
    assert str(config) in login.stdout
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert f'url = "{server}"' in config.read_text()
    spaces = json.loads(cloudos("space", "ls", "--json", home=home).stdout)
    assert "default" in [space["name"] for space in spaces]
    tokens = json.loads(cloudos("token", "ls", "--json", home=home).stdout)
    assert [token["name"][:4] for token in tokens] == ["cli", "cli@"]  # create-token's, login's

    # Five wrong passwords lock the account; a reset from the host lets the admin back in.
    for _ in range(5):
        cloudos("login", "--url", server, "--user", "admin", home=tmp_path / "elsewhere",
                stdin="wrong password\n", check=False)  # fmt: skip
    locked = cloudos("login", "--url", server, "--user", "admin", home=tmp_path / "elsewhere",
                     stdin=password + "\n", check=False)  # fmt: skip
    assert_one_line_error(locked, 1, "sign-in refused")
    new_password = "a new password, typed"
    cloudos("admin", "reset-password", "admin", "--data-dir", data, "--password-stdin",
            home=home, stdin=new_password + "\n")  # fmt: skip
    cloudos("login", "--url", server, "--user", "admin", home=tmp_path / "elsewhere",
            stdin=new_password + "\n")  # fmt: skip

    # Two-factor on through the CLI; then login asks for the code on its second line.
    secret, recovery = _enable_2fa(home, new_password)
    with_code = cloudos("login", "--url", server, "--user", "admin", home=tmp_path / "phone",
                        stdin=f"{new_password}\n{pyotp.TOTP(secret).now()}\n")  # fmt: skip
    assert "signed in" in with_code.stdout
    cloudos("login", "--url", server, "--user", "admin", "--code", recovery[0],
            home=tmp_path / "lost-phone", stdin=new_password + "\n")  # fmt: skip
    no_code = cloudos("login", "--url", server, "--user", "admin", home=tmp_path / "x",
                      stdin=new_password + "\n", check=False)  # fmt: skip
    assert_one_line_error(no_code, 1, "two-factor code: none given")

    # The audit log shows the offline reset, exported as JSON lines.
    lines = cloudos("audit", "ls", "--jsonl", "--actor", "host", home=home).stdout.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["user_password"] * 2

    # logout revokes the token: it is gone from the file and dead on the server.
    stored_token = _token_in(config)
    cloudos("logout", home=home)
    assert "token" not in config.read_text()
    me = httpx.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {stored_token}"})
    assert me.status_code == 401
    after = cloudos("space", "ls", home=home, check=False)
    assert_one_line_error(after, 1, "needs an API token", "cloudos login")


def _enable_2fa(home: Path, password: str) -> tuple[str, list[str]]:
    """``cloudos 2fa enable``: the password, then the code from the secret it prints."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLOUDOS_")}
    env |= {"XDG_CONFIG_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "cloudos", "2fa", "enable"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        process.stdin.write(password + "\n")
        process.stdin.flush()
        first = process.stdout.readline()
        assert first.startswith("secret: "), first
        secret = first.split()[-1]
        assert "otpauth://" in process.stdout.readline()
        out, err = process.communicate(pyotp.TOTP(secret).now() + "\n", timeout=60)
    assert process.returncode == 0, err
    recovery = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(recovery) >= 5
    return secret, recovery


def _token_in(config: Path) -> str:
    token: str = tomllib.loads(config.read_text())["token"]
    return token
