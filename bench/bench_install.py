"""Install-to-ready time: Cloud OS vs plain ``docker stack deploy`` of the same YAML.

Run:  .venv/bin/python bench/bench_install.py              # --rounds N (default 5)

Needs the real engine in swarm mode and the platform images (``cloudos images build``).
A real ``cloudos serve`` (its own data directory and instance, default settings) runs
for the whole benchmark. Each round does, one after the other (the order alternates):

- Cloud OS: POST the hello test app (tests/e2e/apps/hello.yaml, its password
  parameter left out so both sides deploy byte-identical YAML without Docker secrets)
  to the API, then GET the app every 0.1 s until its status is ``running``;
- plain: the same template and values rendered by ``AppManager.build`` (what the
  reconciler deploys, minus the instance label ``deploy_stack`` adds), deployed with
  ``docker stack deploy --resolve-image never`` as the reconciler does, then the
  engine is asked every 0.1 s until the service's task is ``running`` (its health
  check passed: swarm keeps a task ``starting`` until then).

Both use the space's overlay network, created before the first round. Between rounds
both apps are removed with their volumes (not measured). Prints each round, the
medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx

from cloudos.apps import AppManager, TemplateRef
from cloudos.store import open_database
from cloudos.vault import Vault

HELLO = (Path(__file__).resolve().parent.parent / "tests/e2e/apps/hello.yaml").read_text()
TEMPLATE = HELLO.replace("  password:\n    type: password\n", "")
POLL = 0.1


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait(condition: object, *, timeout: float, what: str) -> None:
    """Poll ``condition`` every POLL seconds; stop the benchmark after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout} s")
        time.sleep(POLL)


class ControlPlane:
    """A ``cloudos serve`` of its own, with an API client."""

    def __init__(self, root: Path) -> None:
        self.instance = f"bench{uuid.uuid4().hex[:6]}"
        self.data_dir = root / "cloudos"
        port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOS_")} | {
            "CLOUDOS_INSTANCE": self.instance,
            "CLOUDOS_LOG_LEVEL": "WARNING",
        }
        argv = [sys.executable, "-m", "cloudos"]
        self.log = (root / "serve.log").open("w")
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

    def install_until_running(self, name: str, port: int) -> float:
        """Seconds from the install request until the app's status is ``running``."""
        start = time.perf_counter()
        response = self.api.post(
            "/spaces/default/apps",
            json={
                "name": name,
                "template_text": TEMPLATE,
                "template_source": "hello.yaml",
                "values": {"http_port": port},
            },
        )
        if response.status_code != 201:
            raise SystemExit(f"install failed: {response.text}")

        def running() -> bool:
            status = self.api.get(f"/spaces/default/apps/{name}").json()["status"]
            if status == "failed":
                raise SystemExit(f"{name} failed")
            return bool(status == "running")

        wait(running, timeout=120, what=f"{name} running")
        return time.perf_counter() - start

    def remove(self, name: str) -> None:
        """Remove the app with its volumes and wait until it is gone."""
        self.api.delete(f"/spaces/default/apps/{name}", params={"purge": "true"})
        wait(
            lambda: self.api.get(f"/spaces/default/apps/{name}").status_code == 404,
            timeout=120,
            what=f"{name} removed",
        )

    def stop(self, client: docker.DockerClient) -> None:
        """Stop serving and remove what this cloud left behind."""
        self.api.close()
        self.process.terminate()
        self.process.wait(30)
        self.log.close()
        label = f"io.cloudos.instance={self.instance}"
        for service in client.services.list(filters={"label": label}):
            service.remove()
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
    """``docker stack deploy`` of the YAML Cloud OS would deploy, and nothing else."""

    def __init__(self, root: Path, instance: str, client: docker.DockerClient) -> None:
        self.client = client
        self.deployed: set[str] = set()
        database = open_database(f"sqlite:///{root / 'render.db'}")
        self.manager = AppManager(
            database=database,
            vault=Vault.open(root / "render"),
            instance=instance,
            endpoint_mode=lambda: _endpoint_mode(),
        )

    def render(self, name: str, port: int) -> str:
        """The stack YAML of ``name`` (rendered as the reconciler renders it)."""
        self.manager.install(
            space="default",
            name=name,
            template=TemplateRef(text=TEMPLATE, source="hello.yaml"),
            values={"http_port": port},
        )
        with self.manager.database.session() as session:
            app = self.manager.get(session, "default", name)
            built = self.manager.build(app, self.manager.revision(session, app, 1))
            self.stack = app.stack
        if built.secrets:
            raise SystemExit("the benchmark template must not need Docker secrets")
        return built.yaml

    def deploy_until_running(self, stack: str, yaml: str) -> float:
        """Seconds from ``docker stack deploy`` until the service's task is running."""
        start = time.perf_counter()
        self.deployed.add(stack)
        subprocess.run(
            ["docker", "stack", "deploy", "--compose-file", "-", "--resolve-image", "never",
             "--prune", stack],
            input=yaml, text=True, check=True, capture_output=True,
        )  # fmt: skip

        def running() -> bool:
            tasks = self.client.api.tasks(
                filters={"service": f"{stack}_web", "desired-state": "running"}
            )
            return any(task["Status"]["State"] == "running" for task in tasks)

        wait(running, timeout=120, what=f"{stack} running")
        return time.perf_counter() - start

    def remove(self, stack: str) -> None:
        """``docker stack rm`` and drop its volume."""
        self.deployed.discard(stack)
        subprocess.run(["docker", "stack", "rm", stack], check=True, capture_output=True)
        selector = {"label": f"com.docker.stack.namespace={stack}"}
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


def main() -> None:
    """Command line: ``--rounds N``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    root = Path(tempfile.mkdtemp(prefix="cloudos-bench-install-"))
    plane = ControlPlane(root)
    plain = PlainSwarm(root, plane.instance, client)
    cloudos_times: list[float] = []
    plain_times: list[float] = []
    try:
        # Warm-up (not counted): creates the space network, loads the images' layers.
        plane.install_until_running("warm", free_port())
        plane.remove("warm")
        for i in range(args.rounds):
            yaml = plain.render(f"plain{i}", free_port())
            order = ("cloudos", "plain") if i % 2 == 0 else ("plain", "cloudos")
            for side in order:
                if side == "cloudos":
                    cloudos_times.append(plane.install_until_running(f"app{i}", free_port()))
                    plane.remove(f"app{i}")
                else:
                    plain_times.append(plain.deploy_until_running(plain.stack, yaml))
                    plain.remove(plain.stack)
            print(
                f"round {i + 1}: cloudos {cloudos_times[-1]:.2f} s, "
                f"docker stack deploy {plain_times[-1]:.2f} s"
            )
    finally:
        for stack in list(plain.deployed):
            plain.remove(stack)
        plane.stop(client)
        shutil.rmtree(root, ignore_errors=True)
    ours, theirs = statistics.median(cloudos_times), statistics.median(plain_times)
    print(
        f"install-to-ready, median of {args.rounds}: cloudos {ours:.2f} s, "
        f"docker stack deploy {theirs:.2f} s, ratio {ours / theirs:.2f}"
    )


if __name__ == "__main__":
    main()
