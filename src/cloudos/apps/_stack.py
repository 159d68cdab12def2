"""From a stored revision to the stack YAML that is deployed (pure).

A revision keeps the template text, the parameter values (secrets encrypted) and
the modifiers with their values; rendering is deterministic, so the stack can be
rebuilt from a revision at any time and hashes the same. Secret parameters are
handed to every service as Docker secrets (``/run/secrets/<name>``) whose names
carry a hash of their content: a new value means a new secret, as secrets are
immutable. What is shown to users is the dump of the same document with every
secret value masked (``_mask``), never a text replacement in the YAML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cloudos.addons import (
    Credentials,
    context_values,
    credential_files,
    credentials_env,
    secret_spellings,
)
from cloudos.apps._mask import MASK, mask_document
from cloudos.spaces import Finding, published_ports, reserved_labels
from cloudos.statuses import DesiredState
from cloudos.templates import (
    AttachedModifier,
    Modifier,
    RenderContext,
    Template,
    render,
    template_from_text,
)
from cloudos.templates.compose import dump_stack

APP_LABEL = "io.cloudos.app"
SPEC_LABEL = "io.cloudos.spec"
STATE_LABEL = "io.cloudos.state"
SECRET_TYPES = frozenset({"password", "secret"})


@dataclass(frozen=True)
class AddonLink:
    """An addon an app uses: its credentials and the network its server is on."""

    credentials: Credentials
    network: str


@dataclass(frozen=True)
class StackInputs:
    """Everything one deployment of an app depends on."""

    app_id: int
    app_name: str
    space_name: str
    space_domain: str
    stack: str
    space_network: str
    template_text: str
    template_source: str
    values: Mapping[str, object]  # plain (decrypted)
    modifiers: Sequence[Mapping[str, Any]]  # [{"id": ..., "values": {...}}]
    addons: Mapping[str, AddonLink] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltStack:
    """A deployable stack and what goes with it."""

    yaml: str  # what is deployed, secrets in Docker secrets or substituted values
    masked_yaml: str  # what users see
    spec_hash: str
    values: Mapping[str, object]  # every parameter value, generated ones included
    secrets: Mapping[str, str]  # Docker secret name -> value
    secret_params: frozenset[str]
    template: Template
    document: Mapping[str, Any]  # the stack as data (what policy and quotas read)
    # Labels in the platform's namespaces the template, its modifiers or values set
    # (refused at admission; read before the platform adds its own).
    reserved_labels: tuple[Finding, ...] = ()
    # What the platform changed for the app to stay deployable, in words for its events.
    notes: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def parse_template(text: str, source: str) -> Template:
    """The template in ``text`` (cached: revisions share template texts)."""
    return template_from_text(text, source=source)


def build_stack(
    inputs: StackInputs, *, library: Mapping[str, Modifier], stopped: bool = False
) -> BuiltStack:
    """Render a revision into the stack to deploy (``stopped``: every replica at zero)."""
    template = parse_template(inputs.template_text, inputs.template_source)
    attached = [
        AttachedModifier(library[str(entry["id"])], dict(entry.get("values") or {}))
        for entry in inputs.modifiers
    ]
    result = render(
        template,
        context=RenderContext(
            app_name=inputs.app_name,
            space_name=inputs.space_name,
            space_domain=inputs.space_domain,
            extra={
                key: value
                for link in inputs.addons.values()
                for key, value in context_values(link.credentials).items()
            },
        ),
        values=inputs.values,
        modifiers=attached,
        library=library,
    )
    stack: dict[str, Any] = result.stack
    platform_labels = {
        "cloudos.app": inputs.app_name,
        "cloudos.space": inputs.space_name,
        "cloudos.template": template.id,
        "cloudos.template-version": template.version,
    }
    refused_labels = tuple(reserved_labels(stack, platform=platform_labels))
    notes = tuple(placeable_update_order(stack))
    _attach_networks(stack, inputs.space_network, {route.service for route in template.routes})
    secret_params = frozenset(
        name for name, param in template.parameters.items() if param.type in SECRET_TYPES
    )
    secrets = _attach_secrets(stack, inputs.stack, secret_params, result.values)
    secrets.update(
        _attach_addons(stack, inputs.stack, inputs.addons, plain=template.credentials == "env")
    )
    spec_hash = hashlib.sha256(dump_stack(stack).encode()).hexdigest()[:16]
    for service in stack["services"].values():
        deploy = service.setdefault("deploy", {})
        labels = deploy.setdefault("labels", {})
        labels[APP_LABEL] = str(inputs.app_id)
        labels[SPEC_LABEL] = spec_hash
        # The value, not the member: the YAML dumper writes plain strings only.
        labels[STATE_LABEL] = (DesiredState.STOPPED if stopped else DesiredState.RUNNING).value
        if stopped and deploy.get("mode") != "global":
            deploy["replicas"] = 0
    text = dump_stack(stack)
    hidden = [str(result.values[name]) for name in secret_params if result.values.get(name)]
    hidden += [
        text for link in inputs.addons.values() for text in secret_spellings(link.credentials)
    ]
    return BuiltStack(
        yaml=text,
        masked_yaml=dump_stack(mask_document(stack, hidden)),
        spec_hash=spec_hash,
        values=result.values,
        secrets=secrets,
        secret_params=secret_params,
        template=template,
        document=stack,
        reserved_labels=refused_labels,
        notes=notes,
    )


def placeable_update_order(stack: dict[str, Any]) -> list[str]:
    """Make updates and rollbacks stop-first where a start-first one cannot be placed.

    Two tasks cannot hold one host port on one node, nor run beside each other where
    ``placement.max_replicas_per_node`` forbids it: a start-first update (the update
    policy's default) then waits forever for a node where the new task fits ("no
    suitable node (host-mode port already in use on 1 node)"). Stop-first frees the
    place first, at the cost of a short gap. Whether a free node exists elsewhere
    would depend on the cluster's size at deploy time, so the stack (and its hash)
    does not: these services are always stop-first. Returns what was changed, in
    words, one line a service.
    """
    host_ports: dict[str, list[str]] = {}
    for request in published_ports(stack):
        if request.mode == "host":
            host_ports.setdefault(request.service, []).append(request.text)
    reasons: dict[str, str] = {}
    for name, service in stack["services"].items():
        placement = (service.get("deploy") or {}).get("placement") or {}
        if name in host_ports:
            reasons[name] = f"publishes host port {', '.join(host_ports[name])}"
        elif placement.get("max_replicas_per_node"):
            reasons[name] = f"runs at most {placement['max_replicas_per_node']} task(s) a node"
    notes = []
    for name, reason in reasons.items():
        deploy = stack["services"][name].get("deploy")
        changed = [
            config
            for config in ("update_config", "rollback_config")
            if isinstance(deploy, dict)
            and isinstance(deploy.get(config), dict)
            and deploy[config].get("order") == "start-first"
        ]
        for config in changed:
            deploy[config]["order"] = "stop-first"
        if changed:
            notes.append(
                f"service {name} {reason}: its updates stop the old task before starting "
                "the new one (stop-first), as a new one could not be placed beside it"
            )
    return notes


def _attach_networks(stack: dict[str, Any], space_network: str, routed: set[str]) -> None:
    """Services talk to each other on the app's own network; only services that serve
    HTTP also join the space's network, where the router (and the space's other apps)
    reach them by their full, unique name ``<stack>_<service>``.

    The docker CLI gives every service its short name as an alias on every network it
    joins, so joining the shared network with every service would make ``db`` of one
    app answer for ``db`` of another.
    """
    for name, service in stack["services"].items():
        networks = service.get("networks") or ["default"]
        if name in routed:
            if isinstance(networks, dict):
                networks.setdefault(space_network, None)
            elif space_network not in networks:
                networks = [*networks, space_network]
        service["networks"] = networks
    if routed & set(stack["services"]):
        stack.setdefault("networks", {})[space_network] = {"external": True, "name": space_network}


def _attach_secrets(
    stack: dict[str, Any],
    stack_name: str,
    params: frozenset[str],
    values: Mapping[str, object],
) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for name in sorted(params):
        value = str(values.get(name) or "")
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        docker_name = f"{stack_name}_{name}_{digest}"
        secrets[docker_name] = value
        key = f"param-{name}"
        stack.setdefault("secrets", {})[key] = {"external": True, "name": docker_name}
        for service in stack["services"].values():
            entries = service.setdefault("secrets", [])
            entries.append({"source": key, "target": name})
    return secrets


def _attach_addons(
    stack: dict[str, Any], stack_name: str, addons: Mapping[str, AddonLink], *, plain: bool
) -> dict[str, str]:
    """Every service gets each addon's credentials and joins the addon server's
    network; a value the template sets itself wins.

    The passwords (and the URLs holding them) are secret files, announced as
    ``<NAME>_FILE``; only with ``plain`` (the template says ``credentials: env``) are
    they environment variables too, which anyone who may inspect the service reads.
    """
    secrets: dict[str, str] = {}
    for kind in sorted(addons):
        link = addons[kind]
        files = credential_files(link.credentials)
        variables = {
            name: value
            for name, value in credentials_env(link.credentials).items()
            if plain or name not in files
        }
        for name in sorted(files):
            digest = hashlib.sha256(files[name].encode()).hexdigest()[:12]
            docker_name = f"{stack_name}_{name.lower()}_{digest}"
            secrets[docker_name] = files[name]
            stack.setdefault("secrets", {})[f"addon-{name.lower()}"] = {
                "external": True,
                "name": docker_name,
            }
        stack.setdefault("networks", {})[link.network] = {"external": True, "name": link.network}
        for service in stack["services"].values():
            environment = service.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(str(item).partition("=")[::2] for item in environment)
            for key, value in variables.items():
                environment.setdefault(key, value)
            for name in sorted(files):
                environment.setdefault(f"{name}_FILE", f"/run/secrets/{name}")
                service.setdefault("secrets", []).append(
                    {"source": f"addon-{name.lower()}", "target": name}
                )
            service["environment"] = environment
            networks = service.get("networks") or ["default"]
            if isinstance(networks, dict):
                networks.setdefault(link.network, None)
            elif link.network not in networks:
                networks = [*networks, link.network]
            service["networks"] = networks
    return secrets


__all__ = [
    "APP_LABEL",
    "MASK",
    "SECRET_TYPES",
    "SPEC_LABEL",
    "STATE_LABEL",
    "AddonLink",
    "BuiltStack",
    "StackInputs",
    "build_stack",
    "parse_template",
    "placeable_update_order",
]
