"""Adoption: a template that describes a stack Cloud OS did not create (pure).

The stack keeps its name when adopted, so its volumes and networks (named
``<stack>_<name>``) are the same objects after the first deploy by Cloud OS: data
stays where it is. What a service spec cannot tell (build contexts, secret
contents) is referenced by name or left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_NS = 1_000_000_000
_SKIP_LABEL = re.compile(r"^com\.docker\.")


def _duration(nanoseconds: int | None) -> str | None:
    if not nanoseconds:
        return None
    if nanoseconds % _NS == 0:
        return f"{nanoseconds // _NS}s"
    return f"{nanoseconds // 1_000_000}ms"


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "stack"


def template_from_services(
    stack: str, services: Sequence[Mapping[str, Any]], networks: Mapping[str, str]
) -> dict[str, Any]:
    """A template document for ``stack`` from its services' inspect data.

    ``networks`` maps network ids to names (a service spec names networks by id).
    """
    document: dict[str, Any] = {
        "format": "cloudos.template/v1",
        "id": f"local.adopted.{_slug(stack)}",
        "version": "1.0.0",
        "name": stack,
        "description": f"Adopted from the existing stack {stack}.",
        "services": {},
    }
    volumes: dict[str, Any] = {}
    nets: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    prefix = f"{stack}_"
    for service in sorted(services, key=lambda s: str(s["Spec"]["Name"])):
        spec = service["Spec"]
        name = str(spec["Name"]).removeprefix(prefix)
        task = spec.get("TaskTemplate") or {}
        container = task.get("ContainerSpec") or {}
        labels = spec.get("Labels") or {}
        out: dict[str, Any] = {
            "image": labels.get("com.docker.stack.image") or str(container["Image"]).split("@")[0]
        }
        if container.get("Command"):
            out["entrypoint"] = list(container["Command"])
        if container.get("Args"):
            out["command"] = list(container["Args"])
        if container.get("Env"):
            out["environment"] = dict(
                item.split("=", 1) if "=" in item else (item, "") for item in container["Env"]
            )
        for key, target in (("User", "user"), ("Dir", "working_dir"), ("Hostname", "hostname")):
            if container.get(key):
                out[target] = container[key]
        health = container.get("Healthcheck")
        if health and health.get("Test"):
            check: dict[str, Any] = {"test": list(health["Test"])}
            for key, target in (
                ("Interval", "interval"),
                ("Timeout", "timeout"),
                ("StartPeriod", "start_period"),
            ):
                if _duration(health.get(key)):
                    check[target] = _duration(health.get(key))
            if health.get("Retries"):
                check["retries"] = health["Retries"]
            out["healthcheck"] = check
        mounts = []
        for mount in container.get("Mounts") or []:
            source, target = str(mount.get("Source") or ""), str(mount["Target"])
            suffix = ":ro" if mount.get("ReadOnly") else ""
            if mount.get("Type") == "volume" and source:
                short = source.removeprefix(prefix) if source.startswith(prefix) else _slug(source)
                volumes[short] = (
                    {} if source.startswith(prefix) else {"external": True, "name": source}
                )
                mounts.append(f"{short}:{target}{suffix}")
            elif mount.get("Type") == "bind":
                mounts.append(f"{source}:{target}{suffix}")
        if mounts:
            out["volumes"] = mounts
        endpoint = spec.get("EndpointSpec") or {}
        ports = [
            {
                "target": port["TargetPort"],
                "published": port["PublishedPort"],
                "protocol": port.get("Protocol", "tcp"),
                "mode": port.get("PublishMode", "ingress"),
            }
            for port in endpoint.get("Ports") or []
            if port.get("PublishedPort")
        ]
        if ports:
            out["ports"] = ports
        attached = []
        for network in task.get("Networks") or []:
            full = networks.get(str(network.get("Target")), str(network.get("Target")))
            if full == "ingress":
                continue
            short = full.removeprefix(prefix) if full.startswith(prefix) else _slug(full)
            nets[short] = {} if full.startswith(prefix) else {"external": True, "name": full}
            attached.append(short)
        if attached:
            out["networks"] = sorted(attached)
        for secret in container.get("Secrets") or []:
            key = _slug(str(secret["SecretName"]))
            secrets[key] = {"external": True, "name": secret["SecretName"]}
            out.setdefault("secrets", []).append(
                {"source": key, "target": str((secret.get("File") or {}).get("Name") or key)}
            )
        deploy: dict[str, Any] = {}
        mode = spec.get("Mode") or {}
        if "Global" in mode:
            deploy["mode"] = "global"
        elif "Replicated" in mode:
            deploy["replicas"] = int(mode["Replicated"].get("Replicas", 1))
        if endpoint.get("Mode"):
            deploy["endpoint_mode"] = endpoint["Mode"]
        constraints = (task.get("Placement") or {}).get("Constraints")
        if constraints:
            deploy["placement"] = {"constraints": list(constraints)}
        limits = (task.get("Resources") or {}).get("Limits") or {}
        if limits.get("NanoCPUs") or limits.get("MemoryBytes"):
            deploy["resources"] = {"limits": {}}
            if limits.get("NanoCPUs"):
                deploy["resources"]["limits"]["cpus"] = str(limits["NanoCPUs"] / _NS)
            if limits.get("MemoryBytes"):
                deploy["resources"]["limits"]["memory"] = f"{limits['MemoryBytes']}b"
        kept = {
            k: v
            for k, v in labels.items()
            if not _SKIP_LABEL.match(k) and not k.startswith("io.cloudos.")
        }
        if kept:
            deploy["labels"] = kept
        if deploy:
            out["deploy"] = deploy
        document["services"][name] = out
    if volumes:
        document["volumes"] = volumes
    if nets:
        document["networks"] = nets
    if secrets:
        document["secrets"] = secrets
    return document


__all__ = ["template_from_services"]
