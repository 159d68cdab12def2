"""Bringing a cloud up and down on the engine here (the effects behind ``cloudos up``).

``up`` is idempotent: it makes the engine a swarm manager when it is in no swarm,
builds the platform images that are missing or stale, prepares the database and the
first admin, (re)deploys the system stack and waits until the control plane answers.
``down`` removes the system stack only; the data directory and volumes stay.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from cloudos.engine import (
    EngineClient,
    connect_engine,
    deploy_stack,
    engine_address,
    ensure_swarm_manager,
    find_stack,
    remove_stack,
    service_states,
    service_summary,
)
from cloudos.engine.images import BuildEvent, build_images, image_ref
from cloudos.errors import CloudOSError, Conflict, EnvironmentProblem
from cloudos.identity import INITIAL_PASSWORD_FILE, ensure_first_admin
from cloudos.settings import Settings
from cloudos.store import open_database
from cloudos.system._stack import SystemStackSpec, render_system_stack

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UpResult:
    """Where the cloud answers and where the first admin's credentials are."""

    url: str
    instance: str
    credentials_file: Path | None
    router_url: str | None = None  # the control plane for other machines, over HTTPS


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data directory if needed (mode 0700: it holds the database, the keys
    and the audit log), make an existing one private too, and check it is writable;
    returns it resolved."""
    path = data_dir.expanduser().resolve()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentProblem(
            f"data directory {path} cannot be created: {err.strerror}; choose another with "
            "--data-dir or CLOUDOS_DATA_DIR"
        ) from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise EnvironmentProblem(
            f"data directory {path} is not writable by this user (uid {os.getuid()}); choose "
            "another with --data-dir or CLOUDOS_DATA_DIR"
        )
    _make_private(path)
    return path


def _make_private(path: Path) -> None:
    """Take group and others' access to ``path`` away (a directory made before 0700)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 == 0:
        return
    try:
        path.chmod(mode & 0o700)
    except OSError as err:
        raise EnvironmentProblem(
            f"data directory {path} is open to other users (mode {mode:04o}) and cannot be "
            f"made private: {err.strerror}; run `chmod 700 {path}` as its owner"
        ) from err


def check_port_free(host: str, port: int, *, what: str = "port", flag: str = "--port") -> None:
    """Raise a clear error when something already listens on ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(
                    f"{what} {port} on {host} is already taken by another program: choose "
                    f"another with {flag}"
                ) from err
            raise EnvironmentProblem(f"cannot listen on {host}:{port}: {err.strerror}") from err


def bring_up(settings: Settings, *, progress: Progress, health_timeout: float = 180.0) -> UpResult:
    """Start (or refresh) this cloud; see the module docstring."""
    data_dir = prepare_data_dir(settings.data_dir)
    client = connect_engine(settings.docker_host)
    try:
        progress("checking the swarm")
        info = ensure_swarm_manager(client, advertise_addr=settings.advertise_addr)
        instance = settings.instance_name
        existing = find_stack(client, instance)
        if existing is None or not _holds_port(client, instance, settings.port):
            if existing is not None and not existing.owned_by(instance):
                raise Conflict(f"stack {instance!r} exists and is not this cloud's; left untouched")
            check_port_free(settings.host, settings.port)
        if settings.router and find_stack(client, f"{instance}-router") is None:
            for port, flag in (
                (settings.http_port, "--http-port"),
                (settings.https_port, "--https-port"),
            ):
                check_port_free("0.0.0.0", port, what="router port", flag=flag)  # noqa: S104
        progress("building platform images (only those missing or changed)")
        build_images(client, progress=lambda event: _report_build(event, progress))
        progress("preparing the database")
        database = open_database(settings.effective_database_url)
        try:
            with database.session() as session:
                created = ensure_first_admin(session, data_dir)
        finally:
            database.close()
        credentials = created or (data_dir / INITIAL_PASSWORD_FILE)
        progress(f"deploying the system stack {instance!r}")
        spec = SystemStackSpec(
            instance=instance,
            control_image=image_ref("control"),
            data_dir=data_dir,
            port=settings.port,
            host=settings.host,
            node_id=info.node_id or "",
            docker_host=engine_address(settings.docker_host),
            database_url=settings.database_url,
            log_level=settings.log_level,
            http_port=settings.http_port,
            https_port=settings.https_port,
            extra_env=_passed_settings(settings),
            memory=settings.control_memory,
        )
        deploy_stack(
            client,
            name=instance,
            compose_yaml=render_system_stack(spec),
            instance=instance,
            docker_host=settings.docker_host,
        )
        url = _plain_url(settings.host, settings.port)
        progress(f"waiting for the control plane at {url}")
        _wait_healthy(client, instance, f"{url}/healthz", timeout=health_timeout)
    finally:
        client.close()
    return UpResult(
        url=url,
        instance=instance,
        credentials_file=credentials if credentials.exists() else None,
        router_url=settings.platform.url() if settings.router else None,
    )


def _plain_url(host: str, port: int) -> str:
    """Where this machine reaches a control plane listening on ``host:port``."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - every address: loopback is one of them
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# Settings the control plane in its container needs as the host has them. The stack
# sets the rest itself (data directory, address, ports, instance, engine, database,
# log level); ``acme_ca_root`` is a path on the host the container does not see.
PASSED_SETTINGS = (
    "router",
    "platform_host",
    "hsts",
    "acme_directory",
    "acme_email",
    "endpoint_mode",
    "reconcile_interval",
    "addon_timeout",
    "max_body_bytes",
    "max_upload_bytes",
)


def _passed_settings(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The PASSED_SETTINGS that have a value, as the container's environment."""
    passed = []
    for name in PASSED_SETTINGS:
        value = getattr(settings, name)
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        passed.append((f"CLOUDOS_{name.upper()}", text))
    return tuple(passed)


def _report_build(event: BuildEvent, progress: Progress) -> None:
    if event.kind == "finished" and event.result is not None:
        result = event.result
        progress(f"image {result.ref}: {result.outcome} ({result.seconds:.0f} s)")


def bring_down(settings: Settings) -> bool:
    """Stop this cloud's control plane; data stays. Returns False when it was not running."""
    client = connect_engine(settings.docker_host)
    try:
        return remove_stack(client, name=settings.instance_name, instance=settings.instance_name)
    finally:
        client.close()


def _holds_port(client: EngineClient, stack: str, port: int) -> bool:
    """Whether this cloud's own control plane is what holds ``port`` (on any address:
    as published by an older version, or listening on the host's network)."""
    service = service_summary(client, service=f"{stack}_control")
    if service is None:
        return False
    return port in service.published_ports or service.environment.get("CLOUDOS_PORT") == str(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(settings: Settings) -> str | None:
    """What to tell the admin when the control plane's plain-HTTP port is open to other
    machines (None when it listens on loopback only, the default)."""
    if is_loopback(settings.host):
        return None
    return (
        f"the control plane answers plain HTTP on {settings.host}:{settings.port}: passwords, "
        "session cookies and API tokens cross the network unencrypted. Other machines should "
        f"use {settings.platform.url()} through the router; listen on 127.0.0.1 (the default) "
        "unless this network is trusted"
    )


def _wait_healthy(client: EngineClient, stack: str, url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as err:
            last_error = str(err) or type(err).__name__
        for state in service_states(client, stack):
            if state.error and state.running == 0:
                last_error = state.error
                if "No such image" in state.error or "not found" in state.error:
                    raise CloudOSError(f"the control plane cannot start: {state.error}")
        time.sleep(1.0)
    raise CloudOSError(
        f"the control plane did not answer at {url} within {timeout:.0f} s (last: {last_error}); "
        f"see `docker service logs {stack}_control`"
    )


__all__ = [
    "UpResult",
    "bring_down",
    "bring_up",
    "check_port_free",
    "is_loopback",
    "plain_http_warning",
    "prepare_data_dir",
]
