"""Connecting to the Docker engine, with one clear message when that fails."""

from __future__ import annotations

import os
from typing import TypeAlias

import docker
from docker.errors import DockerException

from cloudos.errors import EnvironmentProblem

# What the rest of the code holds to talk to the engine: only this package may use it
# as the Docker SDK's client (an import contract says so); others pass it back here.
EngineClient: TypeAlias = docker.DockerClient

# API 1.41 is Docker 20.10, the oldest engine we support (Debian 12's docker.io).
MIN_API_VERSION = "1.41"


def engine_address(docker_host: str | None = None) -> str:
    """The engine address that will be tried, for messages and for the docker CLI."""
    return docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect_engine(docker_host: str | None = None, *, timeout: int = 60) -> EngineClient:
    """Return a client for a reachable engine, or raise :class:`EnvironmentProblem`."""
    address = engine_address(docker_host)
    try:
        client = docker.DockerClient(base_url=address, version="auto", timeout=timeout)
        client.ping()
    except DockerException as err:
        raise EnvironmentProblem(
            f"no Docker engine answers at {address}: start it (`make up` installs and starts "
            "one on Debian/Ubuntu) or point DOCKER_HOST/CLOUDOS_DOCKER_HOST at one"
        ) from err
    return client


__all__ = ["MIN_API_VERSION", "EngineClient", "connect_engine", "engine_address"]
