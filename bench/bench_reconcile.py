"""One reconcile pass over 1,000 apps in 100 spaces with nothing to change; print seconds.

Run:  .venv/bin/python bench/bench_reconcile.py            # add --profile for a profile

Setup (not measured): 100 spaces x 10 apps installed through ``AppManager.install``
(real revisions, from the catalog's static website) into a SQLite database, kept in
``--data-dir`` so later runs and ``bench_idle_memory.py`` reuse it. The swarm is a
*recorded observation* served by a fake Docker engine on a unix socket: 1,000 services
labelled exactly as ``build_stack`` labels them, each with one running task. The
target is the control plane's own pass cost, so the pass is measured whole, with the
real docker client fetching and parsing that JSON over HTTP: observe, read the
desired state, plan, record status. The fake engine answers only ``/_ping``,
``/version``, ``/services`` and ``/tasks``; any other request (a deploy would need
more) is counted and fails the benchmark, so "nothing to change" is checked.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import socketserver
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import docker
from sqlalchemy import select

from cloudos.apps import (
    APP_LABEL,
    SPEC_LABEL,
    STATE_LABEL,
    AppManager,
    PassReport,
    Reconciler,
    TemplateRef,
)
from cloudos.engine import INSTANCE_LABEL, NAMESPACE_LABEL
from cloudos.spaces import create_space
from cloudos.store import Database, open_database
from cloudos.store.models import App, AppRevision
from cloudos.vault import Vault

INSTANCE = "bench"
TEMPLATE = "org.cloudos.static-website"
DEFAULT_DIR = Path("/tmp/cloudos-bench-1000")


def populate(data_dir: Path, *, spaces: int = 100, apps_per_space: int = 10) -> Database:
    """The database of ``data_dir`` holding ``spaces`` x ``apps_per_space`` apps."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = open_database(f"sqlite:///{data_dir / 'cloudos.db'}")
    with database.session() as session:
        have = len(session.scalars(select(App.id)).all())
    if have == spaces * apps_per_space:
        return database
    if have:
        raise SystemExit(f"{data_dir} holds {have} apps, not {spaces * apps_per_space}: remove it")
    manager = AppManager(
        database=database,
        vault=Vault.open(data_dir),
        instance=INSTANCE,
        endpoint_mode=lambda: "dnsrr",
    )
    start = time.perf_counter()
    for s in range(spaces):
        space = f"space{s:02d}"
        with database.session() as session:
            create_space(session, name=space)
        for a in range(apps_per_space):
            manager.install(
                space=space, name=f"site{a}", template=TemplateRef(catalog_id=TEMPLATE), values={}
            )
    print(f"setup: installed {spaces * apps_per_space} apps in {time.perf_counter() - start:.0f} s")
    return database


def recorded_observation(database: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Services and tasks (engine API JSON) of every app's stack, as deployed and running."""
    services: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    with database.session() as session:
        rows = session.execute(
            select(App.id, App.stack, App.desired_state, AppRevision.spec_hash).join(
                AppRevision, (AppRevision.app_id == App.id) & (AppRevision.number == App.revision)
            )
        ).all()
    for row in rows:
        service_id = f"svc{row.id:05d}"
        labels = {
            NAMESPACE_LABEL: row.stack,
            INSTANCE_LABEL: INSTANCE,
            APP_LABEL: str(row.id),
            SPEC_LABEL: row.spec_hash,
            STATE_LABEL: row.desired_state,
            "cloudos.app": row.stack.rsplit("-", 1)[-1],
            "cloudos.template": TEMPLATE,
        }
        services.append(
            {
                "ID": service_id,
                "Version": {"Index": 100 + row.id},
                "Spec": {
                    "Name": f"{row.stack}_web",
                    "Labels": labels,
                    "TaskTemplate": {
                        "ContainerSpec": {
                            "Image": "cloudos/static:0.1",
                            "Labels": {NAMESPACE_LABEL: row.stack},
                        },
                        "ForceUpdate": 0,
                    },
                    "Mode": {"Replicated": {"Replicas": 1}},
                    "EndpointSpec": {"Mode": "dnsrr"},
                },
                "UpdateStatus": {"State": "completed", "Message": "update completed"},
            }
        )
        tasks.append(
            {
                "ID": f"task{row.id:05d}",
                "ServiceID": service_id,
                "Slot": 1,
                "DesiredState": "running",
                "Status": {
                    "Timestamp": "2026-11-22T12:00:00.000000000Z",
                    "State": "running",
                    "Message": "started",
                },
            }
        )
    return services, tasks


class FakeEngine:
    """A Docker engine API on a unix socket that serves a recorded observation."""

    def __init__(
        self, socket_path: Path, services: list[dict[str, Any]], tasks: list[dict[str, Any]]
    ):
        self.socket_path = socket_path
        self.bodies = {
            "/services": json.dumps(services).encode(),
            "/tasks": json.dumps(tasks).encode(),
        }
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "fake-engine"

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                if path.startswith("/v1."):
                    path = "/" + path.split("/", 2)[2]
                engine.requests.append(f"{self.command} {path}")
                if path == "/_ping":
                    body, status = b"OK", 200
                elif path == "/version":
                    body = json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode()
                    status = 200
                elif self.command == "GET" and path in engine.bodies:
                    body, status = engine.bodies[path], 200
                else:
                    engine.unexpected.append(f"{self.command} {self.path}")
                    body, status = b'{"message": "not in the recorded observation"}', 500
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_HEAD = _answer

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        if socket_path.exists():
            socket_path.unlink()
        self.server = Server(str(socket_path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The DOCKER_HOST of this engine."""
        return f"unix://{self.socket_path}"

    def start(self) -> FakeEngine:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def expect_idle(report: PassReport) -> None:
    """Stop the benchmark when a pass had something to do: then it measures the wrong thing."""
    if report.actions or report.errors or report.settling:
        raise SystemExit(f"the pass was not idle: {report.actions[:3]} {report.errors[:3]}")


def measure(data_dir: Path, passes: int, profile: bool) -> list[float]:
    """Seconds of each of ``passes`` reconcile passes after one warm-up pass."""
    database = populate(data_dir)
    services, tasks = recorded_observation(database)
    engine = FakeEngine(data_dir / "engine.sock", services, tasks).start()
    manager = AppManager(
        database=database,
        vault=Vault.open(data_dir),
        instance=INSTANCE,
        endpoint_mode=lambda: "dnsrr",
    )
    reconciler = Reconciler(
        manager=manager,
        connect_engine=lambda: docker.DockerClient(base_url=engine.url, version="1.41"),
    )
    try:
        warm = reconciler.run_once()  # the first pass records every app's status once
        expect_idle(warm)
        times = []
        profiler = cProfile.Profile() if profile else None
        for _ in range(passes):
            start = time.perf_counter()
            if profiler is not None:
                report = profiler.runcall(reconciler.run_once)
            else:
                report = reconciler.run_once()
            times.append(time.perf_counter() - start)
            expect_idle(report)
        if engine.unexpected:
            raise SystemExit(
                f"the pass asked for more than an observation: {engine.unexpected[:3]}"
            )
        with database.session() as session:
            statuses = set(session.scalars(select(App.status)).all())
        if statuses != {"running"}:
            raise SystemExit(f"statuses recorded: {statuses}")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    finally:
        engine.stop()
        database.close()
    return times


def main() -> None:
    """Command line: ``--data-dir``, ``--passes N``, ``--profile``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    times = measure(args.data_dir, args.passes, args.profile)
    print(
        f"reconcile pass over 1,000 apps in 100 spaces, nothing to change: "
        f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, "
        f"{len(times)} passes)"
    )


if __name__ == "__main__":
    main()
