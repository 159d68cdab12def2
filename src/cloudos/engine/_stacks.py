"""Stacks: deploy with the docker CLI, inspect and remove through the Engine API.

Ownership is the rule everything here follows: every object Cloud OS creates
carries the label ``io.cloudos.instance=<instance>``, labels are added here before a
deploy (whatever the YAML says), and nothing whose services do not all carry this
instance's label is ever changed or removed. Several clouds can therefore share one
engine, each touching only its own stacks.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import docker
import yaml
from docker.errors import APIError, NotFound

from cloudos.engine._client import engine_address
from cloudos.errors import CloudOSError, Conflict, EnvironmentProblem, InvalidInput

log = logging.getLogger(__name__)

INSTANCE_LABEL = "io.cloudos.instance"
NAMESPACE_LABEL = "com.docker.stack.namespace"
_TOP_LEVEL_OBJECTS = ("networks", "volumes", "secrets", "configs")
_VOLUME_ROUNDS = 4  # removals of a stack's volumes before giving up
_VOLUME_SETTLE = 1.0  # seconds a late task gets to show up before volumes are listed again


@dataclass(frozen=True)
class StackInfo:
    """A stack on the engine, as seen from its services."""

    name: str
    services: tuple[str, ...]
    instance: str | None  # the owning cloud, if every service carries the same label

    def owned_by(self, instance: str) -> bool:
        """Whether this cloud owns the stack."""
        return self.instance == instance


@dataclass(frozen=True)
class ServiceState:
    """Desired and running tasks of one service, with the newest task error."""

    name: str
    desired: int
    running: int
    error: str | None


def label_stack(compose_yaml: str, *, instance: str) -> str:
    """Return the stack YAML with this instance's ownership label on every object."""
    try:
        document = yaml.safe_load(compose_yaml)
    except yaml.YAMLError as err:
        raise InvalidInput(f"stack YAML does not parse: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise InvalidInput("stack YAML must be a mapping with a 'services' mapping")
    for service in document["services"].values():
        if not isinstance(service, dict):
            raise InvalidInput("every service in the stack YAML must be a mapping")
        deploy = service.setdefault("deploy", {})
        _set_label(deploy, instance)
        _set_label(service, instance)
    for kind in _TOP_LEVEL_OBJECTS:
        for item in (document.get(kind) or {}).values():
            if isinstance(item, dict) and not item.get("external"):
                _set_label(item, instance)
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _set_label(owner: dict[str, Any], instance: str) -> None:
    given = owner.get("labels")
    labels: dict[str, Any] = {}
    if isinstance(given, list):
        for item in given:
            key, _, value = str(item).partition("=")
            labels[key] = value
    elif isinstance(given, dict):
        labels.update(given)
    labels[INSTANCE_LABEL] = instance
    owner["labels"] = labels


def list_stacks(client: docker.DockerClient) -> list[StackInfo]:
    """Every stack on the engine with its owner (``None`` when not Cloud OS's)."""
    services: dict[str, list[str]] = defaultdict(list)
    owners: dict[str, set[str | None]] = defaultdict(set)
    for service in _call(client.services.list, filters={"label": NAMESPACE_LABEL}):
        labels = service.attrs["Spec"].get("Labels") or {}
        stack = labels[NAMESPACE_LABEL]
        services[stack].append(service.name)
        owners[stack].add(labels.get(INSTANCE_LABEL))
    return [
        StackInfo(
            name=name,
            services=tuple(sorted(names)),
            instance=next(iter(owners[name])) if len(owners[name]) == 1 else None,
        )
        for name, names in sorted(services.items())
    ]


def find_stack(client: docker.DockerClient, name: str) -> StackInfo | None:
    """The stack called ``name``, if it exists."""
    return next((stack for stack in list_stacks(client) if stack.name == name), None)


def inspect_stack(
    client: docker.DockerClient, name: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The raw service specs of stack ``name`` and a network id -> name map."""
    services = _call(client.api.services, filters={"label": f"{NAMESPACE_LABEL}={name}"})
    networks = {str(n["Id"]): str(n["Name"]) for n in _call(client.api.networks)}
    return list(services), networks


def _check_ownership(
    client: docker.DockerClient, name: str, instance: str, *, adopt: bool = False
) -> StackInfo | None:
    stack = find_stack(client, name)
    if stack is not None and adopt and stack.instance is None:
        return stack  # taking over a stack nobody in Cloud OS owns, as asked explicitly
    if stack is not None and not stack.owned_by(instance):
        owner = f"cloud {stack.instance!r}" if stack.instance else "nobody in Cloud OS"
        raise Conflict(
            f"stack {name!r} exists and belongs to {owner}, not to this cloud ({instance!r}); "
            "it is left untouched"
        )
    return stack


def docker_cli(docker_host: str | None) -> tuple[str, dict[str, str]]:
    """The docker CLI binary and the environment that points it at our engine."""
    binary = shutil.which("docker")
    if binary is None:
        raise EnvironmentProblem("the docker command line is not installed (package docker.io)")
    env = dict(os.environ, DOCKER_HOST=engine_address(docker_host))
    return binary, env


def deploy_stack(
    client: docker.DockerClient,
    *,
    name: str,
    compose_yaml: str,
    instance: str,
    docker_host: str | None = None,
    prune: bool = True,
    adopt: bool = False,
) -> None:
    """Create or update stack ``name`` from ``compose_yaml``, labelled as this cloud's.

    ``adopt`` allows taking over a stack no cloud owns (never another cloud's).
    """
    _check_ownership(client, name, instance, adopt=adopt)
    labelled = label_stack(compose_yaml, instance=instance)
    binary, env = docker_cli(docker_host)
    # Images are built locally and may not exist in any registry: never resolve them.
    argv = [binary, "stack", "deploy", "--compose-file", "-", "--resolve-image", "never"]
    if prune:
        argv.append("--prune")
    argv.append(name)
    result = subprocess.run(
        argv, input=labelled, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise CloudOSError(
            f"deploying stack {name!r} failed: {message[-1] if message else 'no output'}"
        )
    log.info("deployed stack %s", name)


def validate_stack(compose_yaml: str, *, docker_host: str | None = None) -> str:
    """Check stack YAML with ``docker stack config``; returns the normalized YAML."""
    binary, env = docker_cli(docker_host)
    result = subprocess.run(
        [binary, "stack", "config", "--compose-file", "-"],
        input=compose_yaml,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise InvalidInput(f"docker stack config rejects the stack: {result.stderr.strip()}")
    return result.stdout


def remove_stack(
    client: docker.DockerClient,
    *,
    name: str,
    instance: str,
    volumes: bool = False,
    timeout: float = 60.0,
) -> bool:
    """Remove this cloud's stack ``name``; returns False when there was none.

    Volumes are kept unless ``volumes`` is true: data outlives its stack by default.
    """
    stack = _check_ownership(client, name, instance)
    selector = {"label": [f"{NAMESPACE_LABEL}={name}"]}
    if stack is not None:
        for service in _call(client.services.list, filters=selector):
            _ignore_missing(service.remove)
    # Networks, secrets and volumes stay in use until the tasks are gone.
    deadline = time.monotonic() + timeout
    _wait_for_containers_gone(client, selector, deadline)
    for network in _call(client.networks.list, filters=selector):
        _retry_in_use(network.remove, deadline)
    for secret in _call(client.secrets.list, filters=selector):
        _ignore_missing(secret.remove)
    for config in _call(client.configs.list, filters=selector):
        _ignore_missing(config.remove)
    if volumes:
        _remove_volumes(client, selector, deadline)
    return stack is not None


def _wait_for_containers_gone(
    client: docker.DockerClient, selector: dict[str, list[str]], deadline: float
) -> None:
    # Sparse: a full listing inspects each container, and one that goes away in between
    # (which is what this waits for) fails the whole listing with "No such container".
    while (
        _call(client.containers.list, all=True, sparse=True, filters=selector)
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)


def _remove_volumes(
    client: docker.DockerClient, selector: dict[str, list[str]], deadline: float
) -> None:
    """Remove the stack's volumes, and again if a task that was starting re-created one.

    A task the swarm was restarting when its service went away may still create its
    container, and with it a volume, after the volumes were removed: look again once
    such containers are gone, a bounded number of times.
    """
    for _round in range(_VOLUME_ROUNDS):
        left = _call(client.volumes.list, filters=selector)
        if not left:
            return
        for volume in left:
            _retry_in_use(volume.remove, deadline)
        time.sleep(_VOLUME_SETTLE)
        _wait_for_containers_gone(client, selector, deadline)
    left = _call(client.volumes.list, filters=selector)
    if left:
        names = ", ".join(sorted(volume.name for volume in left))
        raise EnvironmentProblem(
            f"volumes {names} came back {_VOLUME_ROUNDS} times after their stack was removed"
        )


def service_states(client: docker.DockerClient, stack: str) -> list[ServiceState]:
    """Desired and running task counts of every service of ``stack``."""
    states = []
    for service in _call(client.services.list, filters={"label": f"{NAMESPACE_LABEL}={stack}"}):
        mode = service.attrs["Spec"].get("Mode", {})
        desired = int(mode.get("Replicated", {}).get("Replicas", 1)) if "Replicated" in mode else 1
        tasks = _call(service.tasks, filters={"desired-state": "running"})
        running = sum(1 for task in tasks if task["Status"]["State"] == "running")
        errors = [task["Status"].get("Err") for task in tasks if task["Status"].get("Err")]
        states.append(ServiceState(service.name, desired, running, errors[-1] if errors else None))
    return sorted(states, key=lambda state: state.name)


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except APIError as err:
        raise EnvironmentProblem(
            f"the Docker engine refused a request: {err.explanation or err}"
        ) from err


def _ignore_missing(function: Any) -> None:
    try:
        function()
    except NotFound:
        pass
    except APIError as err:
        raise EnvironmentProblem(
            f"the Docker engine refused a removal: {err.explanation or err}"
        ) from err


def _retry_in_use(function: Any, deadline: float) -> None:
    while True:
        try:
            function()
            return
        except NotFound:
            return
        except APIError as err:
            if "in use" not in str(err) or time.monotonic() >= deadline:
                raise EnvironmentProblem(f"could not remove: {err.explanation or err}") from err
            time.sleep(0.5)


__all__ = [
    "INSTANCE_LABEL",
    "NAMESPACE_LABEL",
    "ServiceState",
    "StackInfo",
    "deploy_stack",
    "docker_cli",
    "find_stack",
    "inspect_stack",
    "label_stack",
    "list_stacks",
    "remove_stack",
    "service_states",
    "validate_stack",
]
