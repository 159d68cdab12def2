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
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs

import docker
from _smoke import add_smoke_option
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
from cloudos.spaces import create_space, network_name
from cloudos.store import Database, open_database
from cloudos.store.models import App, AppRevision, Space
from cloudos.vault import Vault

INSTANCE = "bench"
TEMPLATE = "org.cloudos.static-website"
DEFAULT_DIR = Path("/tmp/cloudos-bench-1000")
NODE_ID = "benchnode0"
# --smoke: the smallest database that still has several spaces with several apps each.
SMOKE_SIZE = (2, 2)


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


@dataclass
class Observation:
    """What the fake engine serves: engine API JSON of services, tasks and networks."""

    services: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)

    def add_service(
        self, *, name: str, labels: dict[str, str], index: int, image: str = "cloudos/static:0.1"
    ) -> None:
        """One replicated service with its one running task, as deployed and converged."""
        service_id = f"svc{index:05d}"
        self.services.append(
            {
                "ID": service_id,
                "Version": {"Index": 100 + index},
                "Spec": {
                    "Name": name,
                    "Labels": labels,
                    "TaskTemplate": {
                        "ContainerSpec": {
                            "Image": image,
                            "Labels": {NAMESPACE_LABEL: labels[NAMESPACE_LABEL]},
                        },
                        "ForceUpdate": 0,
                    },
                    "Mode": {"Replicated": {"Replicas": 1}},
                    "EndpointSpec": {"Mode": "dnsrr"},
                },
                "UpdateStatus": {"State": "completed", "Message": "update completed"},
            }
        )
        self.tasks.append(
            {
                "ID": f"task{index:05d}",
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


def recorded_observation(database: Database) -> Observation:
    """Every app's stack as deployed and running, and every space's network."""
    observation = Observation()
    with database.session() as session:
        rows = session.execute(
            select(App.id, App.stack, App.desired_state, AppRevision.spec_hash).join(
                AppRevision, (AppRevision.app_id == App.id) & (AppRevision.number == App.revision)
            )
        ).all()
        spaces = session.scalars(select(Space.name)).all()
    for row in rows:
        labels = {
            NAMESPACE_LABEL: row.stack,
            INSTANCE_LABEL: INSTANCE,
            APP_LABEL: str(row.id),
            SPEC_LABEL: row.spec_hash,
            STATE_LABEL: row.desired_state,
            "cloudos.app": row.stack.rsplit("-", 1)[-1],
            "cloudos.template": TEMPLATE,
        }
        observation.add_service(name=f"{row.stack}_web", labels=labels, index=row.id)
    for number, space in enumerate(sorted(spaces)):
        name = network_name(INSTANCE, space)
        observation.networks.append(
            {
                "Name": name,
                "Id": f"net{number:05d}",
                "Driver": "overlay",
                "Scope": "swarm",
                "Attachable": True,
                "Labels": {INSTANCE_LABEL: INSTANCE, "io.cloudos.space": name},
            }
        )
    return observation


class UnixJsonServer:
    """An HTTP server on a unix socket answering JSON; what it does not know, it counts."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.requests: list[str] = []
        self.unexpected: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "fake"

            def _answer(self) -> None:
                path, _, query = self.path.partition("?")
                if path.startswith("/v1."):
                    path = "/" + path.split("/", 2)[2]
                server.requests.append(f"{self.command} {path}")
                body = server.answer(self.command, path, parse_qs(query))
                status = 200
                if body is None:
                    server.unexpected.append(f"{self.command} {self.path}")
                    body, status = b'{"message": "not in the recorded observation"}', 500
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_HEAD = _answer

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        socket_path.parent.mkdir(parents=True, exist_ok=True)
        if socket_path.exists():
            socket_path.unlink()
        self.server = Server(str(socket_path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> bytes | None:
        """The body of the answer to a request; None: not recorded (a 500, counted)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class FakeEngine(UnixJsonServer):
    """A Docker engine API on a unix socket that serves a recorded observation."""

    def __init__(self, socket_path: Path, observation: Observation) -> None:
        super().__init__(socket_path)
        self.networks = observation.networks
        self.bodies = {
            "/services": json.dumps(observation.services).encode(),
            "/tasks": json.dumps(observation.tasks).encode(),
            "/_ping": b"OK",
            "/version": json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode(),
            "/info": json.dumps(
                {
                    "Swarm": {
                        "NodeID": NODE_ID,
                        "LocalNodeState": "active",
                        "ControlAvailable": True,
                        "Nodes": 1,
                    }
                }
            ).encode(),
        }

    @property
    def url(self) -> str:
        """The DOCKER_HOST of this engine."""
        return f"unix://{self.socket_path}"

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> bytes | None:
        """Reads only: the recorded services and tasks, networks filtered as Docker does."""
        if method not in ("GET", "HEAD"):
            return None
        if path == "/networks":
            filters = json.loads(query.get("filters", ["{}"])[0])
            return json.dumps([n for n in self.networks if _matches(n, filters)]).encode()
        return self.bodies.get(path)


def _matches(network: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Whether ``network`` passes the ``name`` (substring) and ``label`` filters."""
    for kind, wanted in filters.items():
        values = wanted if isinstance(wanted, list) else list(wanted)
        if kind == "name":
            found = any(value in network["Name"] for value in values)
        elif kind == "label":
            labels = network["Labels"]
            found = all(
                labels.get(key) == value if sep else key in labels
                for key, sep, value in (label.partition("=") for label in values)
            )
        else:
            raise SystemExit(f"the fake engine cannot filter networks by {kind!r}")
        if not found:
            return False
    return True


def expect_idle(report: PassReport) -> None:
    """Stop the benchmark when a pass had something to do: then it measures the wrong thing."""
    if report.actions or report.errors or report.settling:
        raise SystemExit(
            f"the pass was not idle: actions {report.actions[:3]}, errors {report.errors[:3]}, "
            f"settling {report.settling}"
        )


def measure(
    data_dir: Path, passes: int, profile: bool, *, spaces: int = 100, apps_per_space: int = 10
) -> list[float]:
    """Seconds of each of ``passes`` reconcile passes after one warm-up pass."""
    database = populate(data_dir, spaces=spaces, apps_per_space=apps_per_space)
    engine = FakeEngine(data_dir / "engine.sock", recorded_observation(database)).start()
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
    """Command line: ``--data-dir``, ``--passes N``, ``--profile``, ``--smoke``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    add_smoke_option(parser)
    args = parser.parse_args()
    spaces, apps_per_space = SMOKE_SIZE if args.smoke else (100, 10)
    with tempfile.TemporaryDirectory(prefix="cloudos-bench-smoke-") as smoke_dir:
        times = measure(
            Path(smoke_dir) if args.smoke else args.data_dir,
            1 if args.smoke else args.passes,
            args.profile,
            spaces=spaces,
            apps_per_space=apps_per_space,
        )
    print(
        f"reconcile pass over {spaces * apps_per_space:,} apps in {spaces} spaces, "
        f"nothing to change: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} passes)"
    )


if __name__ == "__main__":
    main()
