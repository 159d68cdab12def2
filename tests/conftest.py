"""Shared fixtures and the rule that, in CI, a Docker or PostgreSQL test never skips."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import Runner

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a test that needs a real part must run there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not skip)")
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``disruptive`` (they restart the engine) run after all the others,
    however the run was asked for; ``make test`` also runs them as a step of their own."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(autouse=True)
def cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords in this process with argon2id at its cheapest cost: sign-in tests
    check hundreds of passwords, each ~0.1 s at the production cost. Hashes still are
    argon2id, verified by their own parameters; tests marked ``real_hashes`` (and every
    subprocess) use the production cost (tests/identity/test_accounts.py checks it)."""
    if request.node.get_closest_marker("real_hashes"):
        return
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from cloudos.identity import _accounts

    monkeypatch.setattr(_accounts, "_hasher", PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """A client of a real engine in swarm mode (manager)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        info = client.info()
    except DockerException as err:
        unavailable(f"no Docker engine: {err}")
        raise  # unreachable: unavailable() raises
    if not (info.get("Swarm") or {}).get("ControlAvailable"):
        unavailable("the Docker engine is not a swarm manager")
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of an empty-able PostgreSQL test database (scripts/ensure-test-services.sh)."""
    url = os.environ.get(
        "CLOUDOS_TEST_POSTGRES_URL",
        "postgresql+psycopg://cloudos_test:cloudos_test@127.0.0.1:5432/cloudos_test",
    )
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as err:
        unavailable(f"no PostgreSQL test database at {url}: {err.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def cloudos() -> Runner:
    """Run the real ``cloudos ARGS...`` in a subprocess with a clean CLOUDOS_* environment."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        clean = {key: value for key, value in os.environ.items() if not key.startswith("CLOUDOS_")}
        clean.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "cloudos", *args],
            capture_output=True,
            text=True,
            env=clean,
            timeout=timeout,
            check=False,
        )

    return run
