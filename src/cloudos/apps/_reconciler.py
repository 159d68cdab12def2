"""The reconciler: converge the swarm to the database, one pass at a time.

A pass reads the desired state (apps and their current revisions), observes the
swarm (two API calls), plans with the pure :func:`plan`, executes each action, and
records what it saw as each app's status. Each action commits on its own after its
effect, so the process can be killed at any moment: the next pass sees the world as
it is and finishes the job (see ``_plan``'s docstring for why that is safe).

Each object is reconciled on its own (each app's action, the router, each space
being removed): one that fails is recorded in :class:`FaultLog` and retried with
backoff, reported on itself, and never stops the pass for the others. The router
syncs before emptied spaces lose their networks, since Swarm refuses to remove a
network the router is still attached to.

Each pass ends in one log line and the pass metrics (``_passes``): INFO when it acted
or an object failed, DEBUG when it was idle.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloudos.addons import (
    AddonNames,
    AddonServer,
    deploy_server,
    deprovision,
    provision,
    remove_server,
)
from cloudos.apps._faults import FaultLog
from cloudos.apps._manager import AppManager
from cloudos.apps._passes import PassMetrics, PassReport, pass_line
from cloudos.apps._plan import Action, Deploy, DesiredApp, Remove, RemoveOrphan, derive_status, plan
from cloudos.apps._router_sync import RouterSync
from cloudos.apps._stack import APP_LABEL, SPEC_LABEL, STATE_LABEL
from cloudos.engine import (
    EngineClient,
    NetworkInUse,
    ObservedStack,
    deploy_stack,
    detect_engine,
    ensure_network,
    ensure_secret,
    observe_stacks,
    prune_secrets,
    remove_network,
    remove_stack,
    service_health,
)
from cloudos.errors import CloudOSError
from cloudos.spaces import network_name
from cloudos.statuses import AppStatus, DesiredState
from cloudos.store.models import AddonBinding, App, AppEvent, AppRevision, Space, utcnow

log = logging.getLogger(__name__)

# Statuses on their way to another: while an app shows one, passes come every
# SETTLE_INTERVAL seconds, so "running" (or "failed") is seen within that time
# instead of a whole reconcile interval later. Each ends within a bounded time.
SETTLING = frozenset(
    {
        AppStatus.DEPLOYING,
        AppStatus.STARTING,
        AppStatus.UPDATING,
        AppStatus.STOPPING,
        AppStatus.ROLLING_BACK,
        AppStatus.REMOVING,
        AppStatus.WAITING,
    }
)
# How long an app waits for its addon servers to become healthy before it fails
# (the setting ``addon_timeout``).
ADDON_TIMEOUT = timedelta(seconds=180)


class AddonNotReady(CloudOSError):
    """An addon server the app needs is not healthy yet: the app waits."""


SETTLE_INTERVAL = 0.25
ROUTER_KEY = "router"
ENGINE_KEY = "engine"


class Reconciler:
    """Runs reconcile passes for one cloud."""

    def __init__(
        self,
        *,
        manager: AppManager,
        connect_engine: Callable[[], EngineClient],
        docker_host: str | None = None,
        router: RouterSync | None = None,
        addon_timeout: timedelta = ADDON_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.manager = manager
        # The registry /metrics serves; a private one when nothing serves it.
        self.metrics = PassMetrics(registry if registry is not None else CollectorRegistry())
        self.passes = 0
        self.faults = FaultLog(clock)
        self.addon_timeout = addon_timeout
        self.router = router
        self.database = manager.database
        self.instance = manager.instance
        self._connect = connect_engine
        self._docker_host = docker_host
        self._client: EngineClient | None = None
        self._everything: dict[str, ObservedStack] = {}
        self._node_id: str | None = None

    @property
    def client(self) -> EngineClient:
        """The engine client, connected on first use and kept."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def run_once(self) -> PassReport:
        """One full pass, logged as one line (DEBUG when idle) and counted in the metrics."""
        self.passes += 1
        clock = self.faults.clock
        started = clock()
        report = PassReport()
        try:
            self._pass(report)
        except Exception:  # a bug: the line says so, with the traceback, and the loop goes on
            report.errors.append("the pass failed unexpectedly")
            self._account(report, seconds=clock() - started, crashed=True)
            raise
        self._account(report, seconds=clock() - started)
        return report

    def _account(self, report: PassReport, *, seconds: float, crashed: bool = False) -> None:
        """The pass's log line and metrics."""
        line = pass_line(self.passes, report, seconds=seconds)
        if crashed:
            log.exception("%s", line)
        else:
            log.log(logging.DEBUG if report.result == "idle" else logging.INFO, "%s", line)
        self.metrics.observe(
            result=report.result,
            seconds=seconds,
            counts=report.counts(),
            failing=self.faults.problems(),
        )

    def _pass(self, report: PassReport) -> None:
        """Observe, plan, act, record status; each object on its own."""
        try:
            everything = observe_stacks(self.client, instance=self.instance)
        except CloudOSError as err:
            self._client = None  # reconnect next time (e.g. the engine restarted)
            fault = self.faults.failed(
                ENGINE_KEY, kind="engine", name="Docker engine", space=None, error=str(err)
            )
            report.fault(fault, str(err))
            log.warning("cannot observe the swarm: %s", err)
            return
        self.faults.succeeded(ENGINE_KEY)
        observed = _apps_of(everything)
        with self.database.session() as session:
            desired = self._desired(session)
        planned = plan(list(desired.values()), observed)
        self._everything = everything
        failed: set[int] = set()
        for action in planned:
            key, target = _fault_key(action, desired)
            if not self.faults.due(key, target):
                report.deferred.append(action)
                if not isinstance(action, RemoveOrphan):
                    failed.add(action.app_id)  # its recorded failure stays its status
                continue
            report.actions.append(action)
            try:
                self._execute(action)
            except AddonNotReady as err:
                assert not isinstance(action, RemoveOrphan)
                self._record_waiting(action.app_id, str(err))
                failed.add(action.app_id)  # its status says what it waits for
                report.settling = True
                self.faults.succeeded(key)
            except Exception as err:  # one object's failure never stops the pass
                message = _describe(err, action)
                space, name = None, action.stack
                if not isinstance(action, RemoveOrphan):
                    space, name = self._record_failure(action.app_id, message)
                    failed.add(action.app_id)
                kind = "stack" if isinstance(action, RemoveOrphan) else "app"
                fault = self.faults.failed(
                    key, kind=kind, name=name, space=space, error=message, target=target
                )
                report.fault(fault, message)
                log.warning("%s failed (attempt %d): %s", action, fault.attempts, message)
            else:
                self.faults.succeeded(key)
        if report.actions:
            try:
                everything = observe_stacks(self.client, instance=self.instance)
                observed = _apps_of(everything)
            except CloudOSError as err:  # the statuses below use the first look
                log.warning("cannot observe the swarm again: %s", err)
        settling = self._record_status(desired, observed, failed=failed)
        report.settling = report.settling or settling or bool(report.actions)
        # The router first: it leaves the networks of spaces being removed, which
        # Swarm refuses to remove while it is attached.
        self._sync_router(everything, report)
        removing = self._finish_spaces(report)
        live = {_fault_key(action, desired)[0] for action in planned}
        live |= {f"space:{name}" for name in removing} | {ROUTER_KEY, ENGINE_KEY}
        self.faults.forget(lambda key: key in live)  # converged or gone: nothing to report

    def _sync_router(self, everything: dict[str, ObservedStack], report: PassReport) -> None:
        """The router's step of the pass, retried with backoff when it fails."""
        if self.router is None or not self.faults.due(ROUTER_KEY):
            return
        deploys, loads = self.router.deploys, self.router.loads
        try:
            # A router on its way is looked at again soon, like a settling app.
            report.settling = self.router.sync(self.client, everything) or report.settling
        except Exception as err:  # the router's failure is the router's, not the pass's
            message = _describe(err, "router sync")
            fault = self.faults.failed(
                ROUTER_KEY, kind="router", name="router", space=None, error=message
            )
            report.fault(fault, f"router: {message}")
            log.warning("router (attempt %d): %s", fault.attempts, message)
        else:
            self.faults.succeeded(ROUTER_KEY)
        finally:
            report.other["router_deploy"] += self.router.deploys - deploys
            report.other["router_load"] += self.router.loads - loads

    # -- desired ----------------------------------------------------------------------

    def _desired(self, session: Session) -> dict[int, DesiredApp]:
        rows = session.execute(
            select(
                App.id,
                App.stack,
                App.desired_state,
                App.attempted_spec,
                App.purge,
                AppRevision.spec_hash,
            ).join(
                AppRevision, (AppRevision.app_id == App.id) & (AppRevision.number == App.revision)
            )
        ).all()
        return {
            row.id: DesiredApp(
                app_id=row.id,
                stack=row.stack,
                state=row.desired_state,
                spec_hash=row.spec_hash,
                attempted=row.attempted_spec,
                purge=row.purge,
            )
            for row in rows
        }

    # -- actions ----------------------------------------------------------------------

    def _execute(self, action: Action) -> None:
        if isinstance(action, Deploy):
            self._deploy(action)
        elif isinstance(action, Remove):
            self._remove(action)
        else:
            log.info("removing orphaned stack %s", action.stack)
            remove_stack(self.client, name=action.stack, instance=self.instance)

    def _deploy(self, action: Deploy) -> None:
        with self.database.session() as session:
            app = session.get(App, action.app_id, options=[selectinload(App.space)])
            if app is None:
                return
            revision = self.manager.revision(session, app, app.revision)
            built = self.manager.build(app, revision, stopped=action.stopped)
            network = network_name(self.instance, app.space.name)
            labels = {APP_LABEL: str(app.id)}
            number = app.revision
            adopted = app.adopted
            addons = [
                (
                    binding.kind,
                    self.manager.server_of(session, binding.server),
                    self.manager.vault.decrypt(binding.server.root_password),
                    AddonNames(database=binding.database, user=binding.user),
                    self.manager.vault.decrypt(binding.password),
                )
                for binding in self.manager.bindings(session, app.id)
            ]
        for kind, server, root_password, names, password in addons:
            self._ready_addon(kind, server, root_password, names, password)
        ensure_network(
            self.client, name=network, instance=self.instance, labels={"io.cloudos.space": network}
        )
        for name, value in built.secrets.items():
            ensure_secret(self.client, name=name, data=value, instance=self.instance, labels=labels)
        deploy_stack(
            self.client,
            name=action.stack,
            compose_yaml=built.yaml,
            instance=self.instance,
            docker_host=self._docker_host,
            adopt=adopted,
        )
        prune_secrets(
            self.client,
            label=(APP_LABEL, str(action.app_id)),
            keep=built.secrets,
            instance=self.instance,
        )
        state = DesiredState.STOPPED if action.stopped else DesiredState.RUNNING
        with self.database.session() as session:
            app = session.get(App, action.app_id)
            if app is None:
                return
            app.attempted_spec = f"{built.spec_hash}:{state}"
            app.deployed_at = utcnow()
            verb = "stopped" if action.stopped else "deployed"
            session.add(AppEvent(app=app, kind="deploy", message=f"{verb} revision {number}"))

    def _ready_addon(
        self, kind: str, server: AddonServer, root_password: str, names: AddonNames, password: str
    ) -> None:
        """Start the addon server if needed; once it is healthy, provision the app's database."""
        if server.stack not in self._everything:
            if self._node_id is None:
                self._node_id = detect_engine(self.client).node_id
            deploy_server(
                self.client,
                server,
                root_password=root_password,
                instance=self.instance,
                endpoint_mode="vip" if self.manager.endpoint_mode() == "vip" else "dnsrr",
                node_id=self._node_id,
                docker_host=self._docker_host,
            )
        if service_health(self.client, service=server.service) != "healthy":
            raise AddonNotReady(f"waiting for the {kind} server ({server.stack}) to be ready")
        provision(self.client, server, names, password=password)

    def _record_waiting(self, app_id: int, reason: str) -> None:
        """Show that the app waits for an addon; after a while that is a failure."""
        now = utcnow()
        with self.database.session() as session:
            app = session.get(App, app_id)
            if app is None:
                return
            if app.status == AppStatus.WAITING and now - app.status_since > self.addon_timeout:
                reason = f"{reason}: not ready after {self.addon_timeout.total_seconds():g} s"
                _transition(session, app, AppStatus.FAILED, reason, now)
            elif app.status not in (AppStatus.WAITING, AppStatus.FAILED):
                _transition(session, app, AppStatus.WAITING, reason, now)

    def _remove(self, action: Remove) -> None:
        self._release_addons(action)
        remove_stack(self.client, name=action.stack, instance=self.instance, volumes=action.purge)
        # Secrets are only copies of values kept (encrypted) in the revisions, which go
        # with the app: nothing can use them again, purge or not.
        prune_secrets(
            self.client,
            label=(APP_LABEL, str(action.app_id)),
            keep=(),
            instance=self.instance,
            wait=30.0,
        )
        with self.database.session() as session:
            app = session.get(App, action.app_id)
            if app is not None:
                session.delete(app)
        log.info(
            "removed app stack %s%s", action.stack, " with its volumes" if action.purge else ""
        )

    def _release_addons(self, action: Remove) -> None:
        """With purge, drop the app's databases and users; a dedicated server goes either way
        (its data volume only with purge). Without purge the bindings stay, keeping the
        data and reserving the names."""
        with self.database.session() as session:
            bindings = [
                (binding.id, self.manager.server_of(session, binding.server), binding)
                for binding in self.manager.bindings(session, action.app_id)
            ]
            work = [
                (binding_id, server, AddonNames(database=b.database, user=b.user))
                for binding_id, server, b in bindings
            ]
        for binding_id, server, names in work:
            if action.purge and server.scope == "space":
                deprovision(self.client, server, names)
            if server.scope == "app":
                remove_server(self.client, server, instance=self.instance, purge=action.purge)
            if action.purge:
                with self.database.session() as session:
                    found = session.get(AddonBinding, binding_id)
                    if found is not None:
                        session.delete(found)
                        if server.scope == "app":
                            session.delete(found.server)

    # -- status -------------------------------------------------------------------------

    def _record_failure(self, app_id: int, reason: str) -> tuple[str | None, str]:
        """Show the failure as the app's status; the app's space and name."""
        with self.database.session() as session:
            app = session.get(App, app_id, options=[selectinload(App.space)])
            if app is None:
                return None, f"app {app_id}"
            if (app.status, app.status_reason) != (AppStatus.FAILED, reason):
                app.status, app.status_reason, app.status_since = AppStatus.FAILED, reason, utcnow()
                session.add(AppEvent(app=app, kind="failed", message=reason))
            return app.space.name, f"{app.space.name}/{app.name}"

    def _record_status(
        self,
        desired: dict[int, DesiredApp],
        observed: dict[str, ObservedStack],
        *,
        failed: set[int],
    ) -> bool:
        """Record each app's status; whether any is still settling."""
        now = utcnow()
        settling = False
        with self.database.session() as session:
            apps = session.scalars(select(App).where(App.id.in_(desired))).all()
            for app in apps:
                want = desired[app.id]
                if want.state == DesiredState.REMOVED or app.id in failed:
                    continue  # a failed action's reason is the status until it succeeds
                stack = observed.get(app.stack)
                if (
                    stack is not None
                    and app.attempted_spec != want.target
                    and f"{stack.label(SPEC_LABEL)}:{stack.label(STATE_LABEL)}" == want.target
                ):
                    # Deployed, but the process died before recording it: record it now,
                    # so a later rollback by the swarm is recognised as one.
                    app.attempted_spec, app.deployed_at = want.target, now
                    want = replace(want, attempted=want.target)
                status = derive_status(want, stack, deployed_at=app.deployed_at, now=now)
                if (
                    status.status == AppStatus.DEPLOYING
                    and app.status == AppStatus.FAILED
                    and app.attempted_spec == want.target
                ):
                    continue  # a failed deploy keeps its reason until something changes
                settling = settling or status.status in SETTLING
                if (app.status, app.status_reason) != (status.status, status.reason):
                    _transition(session, app, status.status, status.reason, now)
        return settling

    def _finish_spaces(self, report: PassReport) -> list[str]:
        """Remove the network of each space being removed whose apps are gone, then the
        space; each space on its own. The names of the spaces still being removed."""
        with self.database.session() as session:
            removing = [
                (space.id, space.name)
                for space in session.scalars(select(Space).where(Space.removing))
            ]
            emptied = {
                space_id
                for space_id, _name in removing
                if session.scalar(select(App.id).where(App.space_id == space_id).limit(1)) is None
            }
        left = [name for _id, name in removing]
        for space_id, name in removing:
            key = f"space:{name}"
            if space_id not in emptied or not self.faults.due(key):
                continue
            report.other["remove_space"] += 1
            try:
                remove_network(
                    self.client, name=network_name(self.instance, name), instance=self.instance
                )
                with self.database.session() as session:
                    space = session.get(Space, space_id)
                    if space is not None:
                        session.delete(space)
            except Exception as err:  # this space waits; the others go on
                message = _describe(err, f"removing space {name}")
                fault = self.faults.failed(
                    key,
                    kind="space",
                    name=name,
                    space=name,
                    error=f"removing space {name!r}: {message}",
                    transient=isinstance(err, NetworkInUse),
                )
                if fault.problem(self.faults.clock()):
                    report.fault(fault, fault.error)
                log.info("space %s (attempt %d): %s", name, fault.attempts, message)
            else:
                self.faults.succeeded(key)
                left.remove(name)
                log.info("removed space %s", name)
        return left


def _apps_of(everything: dict[str, ObservedStack]) -> dict[str, ObservedStack]:
    """The observed stacks that are apps' (not the router's or addon servers')."""
    return {name: stack for name, stack in everything.items() if stack.label(APP_LABEL) is not None}


def _fault_key(action: Action, desired: dict[int, DesiredApp]) -> tuple[str, str]:
    """Which object an action is for, and what it should become (a new target retries at once)."""
    if isinstance(action, RemoveOrphan):
        return f"stack:{action.stack}", DesiredState.REMOVED
    want = desired.get(action.app_id)
    return f"app:{action.app_id}", want.target if want is not None else ""


def _describe(err: Exception, what: object) -> str:
    """The message to show for a failure; a bug (not one of ours) is logged in full."""
    if isinstance(err, CloudOSError):
        return str(err)
    log.error("%s failed unexpectedly", what, exc_info=err)
    return f"internal error ({type(err).__name__}: {err}); see the control plane's log"


def _transition(
    session: Session, app: App, status: AppStatus, reason: str | None, now: datetime
) -> None:
    previous = app.status
    app.status, app.status_reason, app.status_since = status, reason, now
    if status != previous:
        message = f"{previous} -> {status}" + (f": {reason}" if reason else "")
        session.add(AppEvent(app=app, kind="status", message=message, at=now))


class ReconcileLoop:
    """Runs passes in a background thread: every ``interval`` seconds, or at once when woken."""

    def __init__(self, reconciler: Reconciler, *, interval: float = 2.0) -> None:
        self.reconciler = reconciler
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def wake(self) -> None:
        """Run a pass as soon as possible."""
        self._wake.set()

    def start(self) -> None:
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            settling = False
            # A pass must never kill the loop: run_once logged why it broke, the next retries.
            with contextlib.suppress(Exception):
                settling = self.reconciler.run_once().settling
            self.passes += 1
            self._wake.wait(min(self.interval, SETTLE_INTERVAL) if settling else self.interval)


__all__ = ["ReconcileLoop", "Reconciler"]
