"""``cloudos doctor``: can a cloud run here, and if not, why."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cloudos import __version__
from cloudos.engine import (
    EngineClient,
    connect_engine,
    detect_engine,
    engine_address,
    service_summary,
)
from cloudos.engine.images import image_status
from cloudos.errors import CloudOSError
from cloudos.settings import Settings
from cloudos.system._bootstrap import plain_http_warning

MIN_FREE_BYTES = 2 * 1024**3
MIN_API = (1, 41)


def run_doctor(settings: Settings) -> dict[str, Any]:
    """Inspect the machine; ``report["can_run"]`` says whether ``cloudos up`` can work."""
    reasons: list[str] = []
    listening = settings.host
    report: dict[str, Any] = {"version": __version__, "instance": settings.instance_name}
    report["engine"] = engine = {
        "address": engine_address(settings.docker_host),
        "reachable": False,
    }
    try:
        client = connect_engine(settings.docker_host, timeout=10)
    except CloudOSError as err:
        reasons.append(str(err))
        client = None
    if client is not None:
        try:
            info = detect_engine(client)
            engine.update(reachable=True, **info.as_dict())
            engine["role"] = (
                "manager"
                if info.is_manager
                else ("worker" if info.swarm_state == "active" else "none")
            )
            if _api_tuple(info.api_version) < MIN_API:
                reasons.append(f"engine API {info.api_version} is older than 1.41 (Docker 20.10)")
            if info.swarm_state == "active" and not info.is_manager:
                reasons.append("this engine is a swarm worker; Cloud OS must run on a manager")
            elif info.swarm_state not in ("active", "inactive"):
                reasons.append(f"the engine's swarm is {info.swarm_state}")
            report["images"] = [image.as_dict() for image in image_status(client)]
            listening = _running_host(client, settings.instance_name) or listening
        except CloudOSError as err:
            reasons.append(str(err))
        finally:
            client.close()
    report["disk"] = disk = _disk(settings.data_dir)
    if disk["free_bytes"] < MIN_FREE_BYTES:
        reasons.append(
            f"only {disk['free_bytes'] // 1024**2} MiB free at {disk['path']} (need 2 GiB)"
        )
    report["hsts"] = settings.hsts
    report["can_run"] = not reasons
    report["reasons"] = reasons
    warning = plain_http_warning(settings.model_copy(update={"host": listening}))
    report["warnings"] = [] if warning is None else [warning]
    return report


def _running_host(client: EngineClient, instance: str) -> str | None:
    """The address the running control plane of ``instance`` listens on, if it runs."""
    service = service_summary(client, service=f"{instance}_control")
    if service is None:
        return None
    if service.published_ports:
        return "0.0.0.0"  # noqa: S104 - published by an older version: every address
    return service.environment.get("CLOUDOS_HOST")


def _disk(data_dir: Path) -> dict[str, Any]:
    path = data_dir.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    return {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}


def _api_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


__all__ = ["run_doctor"]
