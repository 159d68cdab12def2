"""Keeping the router in step: its stack (networks, ports) and its whole configuration.

Part of every reconcile pass, level-triggered like the rest: the router stack is
redeployed only when its rendered spec changes (it joins the networks of the
spaces that have routes), and the configuration is compared with what the router
runs now, so a restarted or replaced router gets its configuration back by
itself, while an unchanged one is never reloaded (a reload closes idle keep-alive
connections).

A router on its way (its stack just deployed, its task being replaced, its admin socket
not answering yet) makes the reconciler look again at the settle interval instead of a
whole reconcile interval later, so a replaced router serves its routes as soon as it
answers. That lasts at most ``ROUTER_SETTLE_LIMIT`` seconds: a router that never
comes up does not keep an idle cloud busy.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select

from cloudos.apps._routes import route_table
from cloudos.engine import (
    EngineClient,
    ObservedStack,
    deploy_stack,
    detect_engine,
    ensure_network,
    network_names,
)
from cloudos.engine.images import image_ref
from cloudos.errors import CloudOSError
from cloudos.router import (
    ADMIN_DIR,
    CONTROL_SOCKET,
    PLATFORM_SPACE,
    HstsPolicy,
    Platform,
    RouterAdmin,
    RouterStackSpec,
    RouteTable,
    Upstream,
    dump_caddy_config,
    render_caddy_config,
    render_router_stack,
)
from cloudos.spaces import network_name
from cloudos.store import Database
from cloudos.store.models import Space
from cloudos.vault import Vault

log = logging.getLogger(__name__)

SPEC_LABEL = "io.cloudos.spec"
TRUST_IN_ROUTER = "/etc/cloudos-router/trust"
# Seconds a router may stay on its way before passes fall back to the reconcile interval.
ROUTER_SETTLE_LIMIT = 120.0


@dataclass(frozen=True)
class RouterSettings:
    """What the router depends on besides the routes."""

    instance: str
    data_dir: Path  # as the control plane sees it
    host_data_dir: Path  # as the engine's host sees it
    http_port: int
    https_port: int
    acme_directory: str
    acme_email: str | None
    acme_ca_root: Path | None
    docker_host: str | None
    platform: Platform  # the control plane's one host, and the names no space may take
    hsts: HstsPolicy = "all"  # which HTTPS answers carry HSTS when a route does not say

    @property
    def stack(self) -> str:
        """The router's stack name."""
        return f"{self.instance}-router"

    @property
    def admin_socket(self) -> Path:
        """The admin socket, as the control plane reaches it."""
        return self.data_dir / "router" / "admin.sock"

    @property
    def control_socket(self) -> Path:
        """Where the control plane listens for the router (its ``CONTROL_SOCKET``)."""
        return self.data_dir / "router" / CONTROL_SOCKET.rsplit("/", 1)[1]


@dataclass(frozen=True)
class RouterInStep:
    """What a router in step with the database runs: its networks, stack and config."""

    networks: tuple[str, ...]
    stack_digest: str  # the router service's SPEC_LABEL
    config: bytes  # as ``GET /config/`` answers it, in ``dump_caddy_config`` form


class RouterSync:
    """Brings the router's stack and configuration to what the database says."""

    def __init__(
        self,
        *,
        database: Database,
        vault: Vault,
        settings: RouterSettings,
        endpoint_mode: Callable[[], str],
    ) -> None:
        self.database = database
        self.vault = vault
        self.settings = settings
        self._endpoint_mode = endpoint_mode
        self._node_id: str | None = None
        self._unsettled_since: float | None = None
        self.loads = 0  # configurations loaded into Caddy
        self.deploys = 0  # router stacks deployed

    def sync(self, client: EngineClient, observed: Mapping[str, ObservedStack]) -> bool:
        """One step: deploy the router stack if its spec changed, then its configuration.

        Returns whether the router is still on its way (look again soon)."""
        settled = self._sync(client, observed)
        if settled:
            self._unsettled_since = None
            return False
        now = time.monotonic()
        if self._unsettled_since is None:
            self._unsettled_since = now
        return now - self._unsettled_since < ROUTER_SETTLE_LIMIT

    def in_step(self, *, networks: set[str], node_id: str | None) -> RouterInStep | None:
        """What a router in step runs when ``networks`` of this cloud exist on the engine
        and the router's node is ``node_id`` (None: no router is needed).

        What each pass compares the running router with, so a recording of a router
        that needs nothing (bench/bench_idle_memory.py) is made from the same code."""
        table, spaces = self._wanted()
        if not _serves(table):
            return None
        joined = _networks(table, spaces, networks)
        text = self._stack_text(joined, node_id)
        return RouterInStep(
            networks=tuple(joined), stack_digest=_digest(text), config=self._config(table)
        )

    def _sync(self, client: EngineClient, observed: Mapping[str, ObservedStack]) -> bool:
        """Whether the router runs its wanted stack and configuration after this step."""
        table, spaces = self._wanted()
        stack = observed.get(self.settings.stack)
        if not _serves(table) and stack is None:
            return True  # nothing to serve yet (not even a space's portal): no router needed
        for network in sorted(_needed(table)):
            ensure_network(
                client,
                name=network,
                instance=self.settings.instance,
                labels={"io.cloudos.space": network},
            )
        existing = set(network_names(client, instance=self.settings.instance))
        deployed = self._deploy_stack(client, stack, _networks(table, spaces, existing))
        wanted = self._config(table)
        socket = self.settings.admin_socket
        if not socket.exists():
            return False  # the router is starting: the next pass loads it
        with RouterAdmin(socket, timeout=10) as admin:
            try:
                running = dump_caddy_config(admin.config())
            except CloudOSError as err:
                log.info("router not answering yet: %s", err)
                return False
            if running != wanted:
                admin.load(wanted)
                self.loads += 1
        # A task being replaced (stop-first) still answers until it stops: the one that
        # follows starts without this configuration.
        return not deployed and stack is not None and _steady(stack)

    def _wanted(self) -> tuple[RouteTable, list[str]]:
        """The route table and the networks of the live spaces, from the database."""
        with self.database.session() as session:
            table = route_table(
                session,
                instance=self.settings.instance,
                vault=self.vault,
                portals=True,
                platform=self.settings.platform,
            )
            spaces = [
                network_name(self.settings.instance, space.name)
                for space in session.scalars(select(Space).where(Space.removing.is_(False)))
            ]
        return table, spaces

    def _config(self, table: RouteTable) -> bytes:
        """The router's whole configuration for ``table``, as it is loaded."""
        config = render_caddy_config(
            table,
            endpoint_mode="vip" if self._endpoint_mode() == "vip" else "dnsrr",
            http_port=self.settings.http_port,
            https_port=self.settings.https_port,
            admin_socket=f"{ADMIN_DIR}/admin.sock",
            acme_directory=self.settings.acme_directory,
            acme_email=self.settings.acme_email,
            acme_ca_root=f"{TRUST_IN_ROUTER}/ca.pem" if self.settings.acme_ca_root else None,
            hsts=self.settings.hsts,
        )
        return dump_caddy_config(config)

    def _stack_text(self, networks: list[str], node_id: str | None) -> str:
        """The router stack's Compose YAML (without its spec label)."""
        trust_dir = None
        if self.settings.acme_ca_root:
            trust_dir = str(self.settings.host_data_dir / "router-trust")
        spec = RouterStackSpec(
            image=image_ref("router"),
            admin_dir=str(self.settings.host_data_dir / "router"),
            http_port=self.settings.http_port,
            https_port=self.settings.https_port,
            networks=networks,
            endpoint_mode=self._endpoint_mode(),
            node_id=node_id,
            trust_dir=trust_dir,
        )
        return render_router_stack(spec)

    def _deploy_stack(
        self, client: EngineClient, observed: ObservedStack | None, networks: list[str]
    ) -> bool:
        """Deploy the router stack unless it runs this spec already; whether it deployed."""
        if self._node_id is None:
            self._node_id = detect_engine(client).node_id
        admin_dir = self.settings.data_dir / "router"
        admin_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.acme_ca_root:
            local_trust = self.settings.data_dir / "router-trust"
            local_trust.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.settings.acme_ca_root, local_trust / "ca.pem")
        text = self._stack_text(networks, self._node_id)
        digest = _digest(text)
        if observed is not None and observed.label(SPEC_LABEL) == digest:
            return False
        document = yaml.safe_load(text)
        document["services"]["caddy"]["deploy"]["labels"][SPEC_LABEL] = digest
        deploy_stack(
            client,
            name=self.settings.stack,
            compose_yaml=yaml.safe_dump(document, sort_keys=False),
            instance=self.settings.instance,
            docker_host=self.settings.docker_host,
        )
        self.deploys += 1
        log.info("router stack deployed (networks: %s)", ", ".join(networks) or "none")
        return True


def _serves(table: RouteTable) -> bool:
    """Whether ``table`` has something for a router to serve (a space's portal counts)."""
    return bool([r for r in table.routes if r.space != PLATFORM_SPACE] or table.redirects)


def _needed(table: RouteTable) -> set[str]:
    """The networks the routes' upstreams are on."""
    return {
        route.upstream.network for route in table.routes if isinstance(route.upstream, Upstream)
    }


def _networks(table: RouteTable, spaces: list[str], existing: set[str]) -> list[str]:
    """The networks the router joins.

    Every live space's network that exists, not only those with routes now: a new
    network means replacing the router task (host ports: stop-first, a short
    outage), so the set grows with new spaces and shrinks only when one is removed."""
    return sorted(_needed(table) | (set(spaces) & existing))


def _digest(stack_text: str) -> str:
    """The router stack's spec label: a digest of its rendered YAML."""
    return hashlib.sha256(stack_text.encode()).hexdigest()[:16]


def _steady(stack: ObservedStack) -> bool:
    """Every router task running, no update (task replacement) under way."""
    return all(
        service.running == (service.replicas or 1) and service.update_state != "updating"
        for service in stack.services
    )


__all__ = ["RouterInStep", "RouterSettings", "RouterSync"]
