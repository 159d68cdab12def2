"""Install-to-ready as a user sees it: Cloud OS vs ``docker stack deploy`` + a route.

Run:  .venv/bin/python bench/bench_install.py --rounds 9      # --timeline: where time goes
      .venv/bin/python bench/bench_install.py --rounds 3 --new-space
      .venv/bin/python bench/bench_install.py --smoke       # the warm-up and one round

Needs the real engine in swarm mode and the platform images (``cloudos images build``).
"Ready" is what a user notices: the app answering at its address through a router.
Every probe is ``GET http://127.0.0.1:<router http port>/`` with ``Host: <app domain>``;
the default route redirects plain HTTP to HTTPS (308), which is followed to the
router's HTTPS port on 127.0.0.1 with the domain as SNI. The first 200 ends the clock.
Probes come every 0.05 s on both sides.

Two sides, measured in interleaved rounds in one run (the order alternates, so drift
on a shared machine hits both alike):

- Cloud OS: a real ``cloudos serve`` (its own data directory and instance, default
  settings, its router on free ports) gets ``POST /spaces/default/apps`` with the hello
  test app (tests/e2e/apps/hello.yaml, its password parameter left out so both sides
  deploy byte-identical YAML without Docker secrets); the clock starts before the
  request.
- plain: the same template and values rendered by ``AppManager.build`` (what the
  reconciler deploys, minus the instance label), deployed with ``docker stack deploy
  --resolve-image never --prune`` as the reconciler does, then the same route loaded
  into a second, already running router (the same image, on the same space network)
  through its admin socket: the config ``render_caddy_config`` makes for that one
  route, in one ``POST /load``. That is what someone running Swarm and Caddy by hand
  would do, with nothing polling in between.

A warm-up install (not counted) creates the space network and starts Cloud OS's
router. Between rounds both apps are removed with their volumes, and each router is
seen to answer 404 for the old name (not measured). Prints each round, then the
median and spread of both sides and of the per-round ratio Cloud OS / plain.

With ``--new-space`` each round installs into a space of its own, created before the
clock starts (Cloud OS: ``POST /spaces``; plain: nothing yet). The space's network
then comes with the app, and each router must join it, which replaces its task
(host ports: stop-first). The plain side creates the network, deploys, runs
``docker service update --detach --network-add`` on its router and loads the route as
soon as the new router task answers.

With ``--timeline`` each Cloud OS round also shows when the install request was
answered and, from the control plane's log (at INFO), when the stack was deployed and
the router configuration loaded, in seconds after the install request.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import docker
import httpx
from _smoke import add_smoke_option

from cloudos.apps import AppManager, TemplateRef
from cloudos.engine.images import image_ref
from cloudos.router import (
    Route,
    RouterAdmin,
    RouterStackSpec,
    RouteTable,
    Upstream,
    render_caddy_config,
    render_router_stack,
)
from cloudos.spaces import create_space, network_name, set_ports
from cloudos.store import open_database
from cloudos.vault import Vault

HELLO = (Path(__file__).resolve().parent.parent / "tests/e2e/apps/hello.yaml").read_text()
TEMPLATE = HELLO.replace("  password:\n    type: password\n", "")
PROBE_INTERVAL = 0.05
UNREACHABLE_ACME = "https://127.0.0.1:1/directory"
# The hello app publishes a free host port; a space allows none unless told (policy).
APP_PORTS = "1-65535"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``condition``; stop the benchmark after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(every)


class Probe:
    """What a browser does at the app's address: HTTP, following a redirect to HTTPS."""

    def __init__(self, *, http_port: int, https_port: int) -> None:
        self.http_port, self.https_port = http_port, https_port
        self.http = httpx.Client(timeout=5)
        # Each router signs with its own internal CA; what is timed is the answer.
        self.https = httpx.Client(timeout=5, verify=False)  # noqa: S501

    def status(self, host: str) -> int | None:
        """Status of ``GET /`` at ``host`` through the router (None: no answer)."""
        try:
            response = self.http.get(f"http://127.0.0.1:{self.http_port}/", headers={"Host": host})
            if response.status_code != 308:
                return response.status_code
            response = self.https.get(
                f"https://127.0.0.1:{self.https_port}/",
                headers={"Host": host},
                extensions={"sni_hostname": host},
            )
            return response.status_code
        except httpx.HTTPError:
            return None

    def until_ok(self, host: str, start: float) -> float:
        """Seconds from ``start`` until ``host`` answers 200."""
        wait(lambda: self.status(host) == 200, timeout=120, what=host, every=PROBE_INTERVAL)
        return time.perf_counter() - start

    def until_unrouted(self, host: str) -> None:
        """Wait until the router no longer routes ``host`` (404)."""
        wait(lambda: self.status(host) == 404, timeout=60, what=f"{host} unrouted")


class ControlPlane:
    """A ``cloudos serve`` of its own with its router, and an API client."""

    def __init__(self, root: Path) -> None:
        self.instance = f"bench{uuid.uuid4().hex[:6]}"
        self.data_dir = root / "cloudos"
        port = free_port()
        self.probe = Probe(http_port=free_port(), https_port=free_port())
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOS_")} | {
            "CLOUDOS_INSTANCE": self.instance,
            "CLOUDOS_LOG_LEVEL": "INFO",
            "CLOUDOS_HTTP_PORT": str(self.probe.http_port),
            "CLOUDOS_HTTPS_PORT": str(self.probe.https_port),
            "CLOUDOS_ACME_DIRECTORY": UNREACHABLE_ACME,
        }
        argv = [sys.executable, "-m", "cloudos"]
        self.log_path = root / "serve.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*argv, "serve", "--data-dir", str(self.data_dir), "--port", str(port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        wait(lambda: _answers(f"{url}/healthz"), timeout=60, what="cloudos serve up")
        token = subprocess.run(
            [*argv, "admin", "create-token", "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.api = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.allow_ports("default")

    def allow_ports(self, space: str) -> None:
        """Let the apps of ``space`` publish host ports (not timed)."""
        response = self.api.put(f"/spaces/{space}/policy", json={"allow": [], "ports": APP_PORTS})
        if response.status_code != 200:
            raise SystemExit(f"space {space}'s policy: {response.text}")

    def install_until_ok(self, name: str, port: int, space: str = "default") -> tuple[float, float]:
        """Seconds from the install request to the first 200, and the wall clock it began."""
        began = time.time()
        start = time.perf_counter()
        response = self.api.post(
            f"/spaces/{space}/apps",
            json={
                "name": name,
                "template_text": TEMPLATE,
                "template_source": "hello.yaml",
                "values": {"http_port": port},
            },
        )
        if response.status_code != 201:
            raise SystemExit(f"install failed: {response.text}")
        self.answered = time.perf_counter() - start
        return self.probe.until_ok(f"{name}.{space}.localhost", start), began

    def create_space(self, space: str) -> None:
        """A new space (not timed)."""
        response = self.api.post("/spaces", json={"name": space})
        if response.status_code != 201:
            raise SystemExit(f"space {space}: {response.text}")
        self.allow_ports(space)

    def remove(self, name: str, space: str = "default") -> None:
        """Remove the app with its volumes; wait until it is gone and no longer routed."""
        self.api.delete(f"/spaces/{space}/apps/{name}", params={"purge": "true"})
        wait(
            lambda: self.api.get(f"/spaces/{space}/apps/{name}").status_code == 404,
            timeout=120,
            what=f"{name} removed",
        )
        self.probe.until_unrouted(f"{name}.{space}.localhost")

    def timeline(self, stack: str, began: float) -> str:
        """When the log says the stack was deployed and the router config loaded."""
        marks = []
        for line in self.log_path.read_text().splitlines():
            found = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (.*)", line)
            if found is None:
                continue
            at = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp() - began
            if at < 0:
                continue
            if found[2] == f"deployed stack {stack}":
                marks.append(f"stack deployed +{at:.2f}")
            elif found[2].startswith("router configuration loaded"):
                marks.append(f"route loaded +{at:.2f}")
        return ", ".join(marks)

    def stop(self, client: docker.DockerClient) -> None:
        """Stop serving and remove what this cloud left behind."""
        self.api.close()
        self.process.terminate()
        self.process.wait(30)
        self.log.close()
        label = f"io.cloudos.instance={self.instance}"
        for service in client.services.list(filters={"label": label}):
            service.remove()  # type: ignore[no-untyped-call]
        wait(
            lambda: not client.containers.list(all=True, sparse=True, filters={"label": label}),
            timeout=60,
            what="containers gone",
        )
        for kind in (client.secrets, client.networks, client.volumes):
            for item in kind.list(filters={"label": label}):
                item.remove()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class PlainSwarm:
    """``docker stack deploy`` of the YAML Cloud OS would deploy, and a router of its own."""

    def __init__(self, root: Path, instance: str, client: docker.DockerClient) -> None:
        self.client = client
        self.instance = instance
        self.deployed: set[str] = set()
        self.network = network_name(instance, "default")
        database = open_database(f"sqlite:///{root / 'render.db'}")
        self.manager = AppManager(
            database=database,
            vault=Vault.open(root / "render"),
            instance=instance,
            endpoint_mode=lambda: _endpoint_mode(),
        )
        self.probe = Probe(http_port=free_port(), https_port=free_port())
        self.router = f"{instance}-plainrouter"
        admin_dir = root / "plain-router"
        admin_dir.mkdir()
        self.endpoint_mode = _endpoint_mode()
        self._deploy(
            self.router,
            render_router_stack(
                RouterStackSpec(
                    image=image_ref("router"),
                    admin_dir=str(admin_dir),
                    http_port=self.probe.http_port,
                    https_port=self.probe.https_port,
                    networks=[self.network],
                    endpoint_mode=self.endpoint_mode,
                )
            ),
        )
        self.admin = RouterAdmin(admin_dir / "admin.sock", timeout=10)
        wait(self.admin.answers, timeout=60, what="the plain router's admin socket")
        self.admin.load(self._config(RouteTable()))

    def render(self, name: str, port: int, space: str = "default") -> str:
        """The stack YAML of ``name`` (rendered as the reconciler renders it)."""
        with self.manager.database.session() as session:
            if space != "default":
                create_space(session, name=space)
            set_ports(session, name=space, ports=APP_PORTS)
        self.manager.install(
            space=space,
            name=name,
            template=TemplateRef(text=TEMPLATE, source="hello.yaml"),
            values={"http_port": port},
        )
        with self.manager.database.session() as session:
            app = self.manager.get(session, space, name)
            built = self.manager.build(app, self.manager.revision(session, app, 1))
            self.stack = app.stack
        if built.secrets:
            raise SystemExit("the benchmark template must not need Docker secrets")
        return built.yaml

    def deploy_until_ok(self, name: str, yaml: str, space: str = "default") -> float:
        """Seconds from ``docker stack deploy`` to the first 200 through the plain router;
        in a new space, its network is created and the router joins it on the way."""
        start = time.perf_counter()
        network = network_name(self.instance, space)
        if space != "default":
            self.client.networks.create(
                network,
                driver="overlay",
                attachable=True,
                labels={"io.cloudos.instance": self.instance},
            )
        self._deploy(self.stack, yaml)
        if space != "default":
            self._join(network)
        route = Route(
            domain=self.host(name, space),
            space=space,
            upstream=Upstream(service=f"{self.stack}_web", port=8080, network=network),
            app=name,
        )
        self.admin.load(self._config(RouteTable(routes=[route])))
        return self.probe.until_ok(self.host(name, space), start)

    def _join(self, network: str) -> None:
        """Attach the router to ``network``; return once its new task answers."""
        service = self.client.services.get(f"{self.router}_caddy")  # type: ignore[no-untyped-call]
        before = {task["ID"] for task in service.tasks()}
        subprocess.run(
            ["docker", "service", "update", "--detach", "--network-add", network, service.name],
            check=True, capture_output=True,
        )  # fmt: skip

        def replaced() -> bool:
            tasks = service.tasks(filters={"desired-state": "running"})
            return any(
                task["ID"] not in before and task["Status"]["State"] == "running" for task in tasks
            )

        wait(replaced, timeout=60, what="plain router replaced", every=PROBE_INTERVAL)
        wait(self.admin.answers, timeout=60, what="plain router answers", every=PROBE_INTERVAL)

    def host(self, name: str, space: str = "default") -> str:
        """The app's domain, as Cloud OS would give it."""
        return f"{name}.{space}.localhost"

    def remove(self, name: str, stack: str, space: str = "default") -> None:
        """Drop the route, ``docker stack rm`` and drop the stack's volume."""
        self.admin.load(self._config(RouteTable()))
        self.probe.until_unrouted(self.host(name, space))
        self._remove(stack)

    def close(self) -> None:
        """Remove what is left, the plain router included."""
        self.admin.close()
        for stack in [*self.deployed]:
            self._remove(stack)

    def _config(self, table: RouteTable) -> dict[str, object]:
        return render_caddy_config(
            table,
            endpoint_mode="vip" if self.endpoint_mode == "vip" else "dnsrr",
            http_port=self.probe.http_port,
            https_port=self.probe.https_port,
            acme_directory=UNREACHABLE_ACME,
        )

    def _deploy(self, stack: str, yaml: str) -> None:
        self.deployed.add(stack)
        subprocess.run(
            ["docker", "stack", "deploy", "--compose-file", "-", "--resolve-image", "never",
             "--prune", stack],
            input=yaml, text=True, check=True, capture_output=True,
        )  # fmt: skip

    def _remove(self, stack: str) -> None:
        self.deployed.discard(stack)
        subprocess.run(["docker", "stack", "rm", stack], check=True, capture_output=True)
        selector: dict[str, str | list[str] | bool] = {
            "label": f"com.docker.stack.namespace={stack}"
        }
        wait(
            lambda: not self.client.containers.list(all=True, sparse=True, filters=selector),
            timeout=60,
            what=f"{stack} containers gone",
        )
        for volume in self.client.volumes.list(filters=selector):
            volume.remove(force=True)


def _endpoint_mode() -> str:
    from cloudos.engine import detect_ipvs

    return "vip" if detect_ipvs().available else "dnsrr"


def spread(values: list[float]) -> str:
    """Median with the range, e.g. ``1.23 (1.10-1.40)``."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    """Command line: ``--rounds N``, ``--timeline``, ``--new-space``, ``--smoke``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--new-space", action="store_true")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 1  # after the warm-up, which makes the space network both sides use
    client = docker.from_env(timeout=120)
    root = Path(tempfile.mkdtemp(prefix="cloudos-bench-install-"))
    plane = ControlPlane(root)
    plain: PlainSwarm | None = None
    ours: list[float] = []
    theirs: list[float] = []
    try:
        # Warm-up (not counted): the space network, Cloud OS's router, the image's layers.
        plane.install_until_ok("warm", free_port())
        if not args.smoke:  # the smoke's one round removes an app, as every round does
            plane.remove("warm")
        plain = PlainSwarm(root, plane.instance, client)
        for i in range(args.rounds):
            space = f"new{i}" if args.new_space else "default"
            yaml = plain.render(f"plain{i}", free_port(), f"p{space}" if args.new_space else space)
            began = 0.0
            for side in ("cloudos", "plain") if i % 2 == 0 else ("plain", "cloudos"):
                if side == "cloudos":
                    if args.new_space:
                        plane.create_space(space)
                    seconds, began = plane.install_until_ok(f"app{i}", free_port(), space)
                    ours.append(seconds)
                    plane.remove(f"app{i}", space)
                else:
                    pspace = f"p{space}" if args.new_space else space
                    theirs.append(plain.deploy_until_ok(f"plain{i}", yaml, pspace))
                    plain.remove(f"plain{i}", plain.stack, pspace)
            line = (
                f"round {i + 1}: cloudos {ours[-1]:.2f} s, plain {theirs[-1]:.2f} s, "
                f"ratio {ours[-1] / theirs[-1]:.2f}"
            )
            if args.timeline:
                stack = f"{plane.instance}-{space}-app{i}"
                marks = plane.timeline(stack, began)
                line += f"  [answered +{plane.answered:.2f}, {marks}, 200 +{ours[-1]:.2f}]"
            print(line, flush=True)
    finally:
        if plain is not None:
            plain.close()
        plane.stop(client)
        shutil.rmtree(root, ignore_errors=True)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(
        f"install to first 200 through the router, {args.rounds} rounds, median (range): "
        f"cloudos {spread(ours)} s, plain {spread(theirs)} s; "
        f"ratio of medians {statistics.median(ours) / statistics.median(theirs):.2f}, "
        f"per-round ratio {spread(ratios)}"
    )


if __name__ == "__main__":
    main()
