"""End-to-end fixtures: the real engine, the real swarm, locally built images."""

from __future__ import annotations

import docker
import pytest

from cloudos.engine.images import build_images


@pytest.fixture(scope="session")
def built_images(docker_client: docker.DockerClient) -> docker.DockerClient:
    """Every platform image, built (or found up to date) once per test run."""
    build_images(docker_client)
    return docker_client
