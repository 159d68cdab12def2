"""Control plane memory at idle with 1,000 apps in 100 spaces; print RSS in MB.

Run:  .venv/bin/python bench/bench_idle_memory.py

Starts a real ``cloudos serve`` (its own process, default settings, reconcile pass
every 2 s) on the database ``bench_reconcile.py`` populates (1,000 apps installed
through ``AppManager.install``), with the engine address pointing at that benchmark's
fake engine, which serves the recorded observation of the 1,000 stacks as deployed
and running. So the control plane is idle the honest way: every pass really fetches
and parses 1,000 services and tasks, plans over 1,000 apps and finds nothing to
change (any request beyond an observation fails the benchmark). A real engine would
need 1,000 real services on this 2-core machine; the control plane's memory does not
depend on where the JSON comes from. For comparison the same is done with an empty
database. RSS is VmRSS from /proc/<pid>/status after ``--seconds`` of idling;
VmHWM (the peak) is printed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _smoke import add_smoke_option
from bench_reconcile import (
    DEFAULT_DIR,
    INSTANCE,
    NODE_ID,
    SMOKE_SIZE,
    FakeEngine,
    Observation,
    UnixJsonServer,
    populate,
    recorded_observation,
)

from cloudos.apps._router_sync import SPEC_LABEL
from cloudos.engine import INSTANCE_LABEL, NAMESPACE_LABEL
from cloudos.engine.images import image_ref
from cloudos.settings import Settings
from cloudos.store import open_database
from cloudos.vault import Vault
from cloudos.web import router_sync


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


class FakeRouterAdmin(UnixJsonServer):
    """Caddy's admin socket of a router that runs the configuration it should."""

    def __init__(self, socket_path: Path, config: bytes) -> None:
        super().__init__(socket_path)
        self.config = config

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> bytes | None:
        """Only ``GET /config/``: a load would mean the router was not in step."""
        return self.config if (method, path) == ("GET", "/config/") else None


def record_router(settings: Settings, observation: Observation) -> FakeRouterAdmin | None:
    """Add the router, in step with the database, to ``observation``; its admin socket.

    Made by the code each pass compares the running router with
    (``RouterSync.in_step``), so the control plane finds nothing to change."""
    database = open_database(settings.effective_database_url)
    try:
        router = router_sync(settings, database=database, vault=Vault.open(settings.data_dir))
        in_step = router.in_step(
            networks={network["Name"] for network in observation.networks}, node_id=NODE_ID
        )
    finally:
        database.close()
    if in_step is None:
        return None
    stack = router.settings.stack
    observation.add_service(
        name=f"{stack}_caddy",
        labels={NAMESPACE_LABEL: stack, INSTANCE_LABEL: INSTANCE, SPEC_LABEL: in_step.stack_digest},
        index=0,  # app ids start at 1
        image=image_ref("router"),
    )
    return FakeRouterAdmin(router.settings.admin_socket, in_step.config)


def idle_rss(data_dir: Path, *, seconds: float) -> tuple[dict[str, float], int]:
    """Memory of a ``cloudos serve`` on ``data_dir`` after idling; and the passes it ran."""
    socket_dir = Path(tempfile.mkdtemp(prefix="cloudos-engine-"))
    engine_socket = socket_dir / "engine.sock"
    # What `cloudos serve` gets as CLOUDOS_* variables, and the recording as settings.
    chosen: dict[str, Any] = {
        "instance": INSTANCE,
        "docker_host": f"unix://{engine_socket}",
        "endpoint_mode": "dnsrr",
        "log_level": "WARNING",
    }
    settings = Settings(data_dir=data_dir, **chosen)
    database = open_database(settings.effective_database_url)
    observation = recorded_observation(database)
    database.close()
    admin = record_router(settings, observation)
    engine = FakeEngine(engine_socket, observation).start()
    if admin is not None:
        admin.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOS_")} | {
        f"CLOUDOS_{key.upper()}": value for key, value in chosen.items()
    }
    argv = [sys.executable, "-m", "cloudos", "serve", "--data-dir", str(data_dir)]
    started = time.monotonic()
    process = subprocess.Popen([*argv, "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("cloudos serve did not come up")
            time.sleep(0.2)
        time.sleep(seconds)
        found = memory(process.pid)
        lived = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(30)
        engine.stop()
        if admin is not None:
            admin.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
    unexpected = engine.unexpected + (admin.unexpected if admin is not None else [])
    if unexpected:
        raise SystemExit(f"the control plane did more than observe: {unexpected[:3]}")
    if admin is not None and "GET /config/" not in admin.requests:
        raise SystemExit("the control plane never compared the router's configuration")
    passes = engine.requests.count("GET /services")
    # Idle passes come every reconcile_interval; something settling makes them come
    # every 0.25 s, and then this measures a busy control plane.
    most = lived / settings.reconcile_interval + 2
    if not 1 <= passes <= most:
        raise SystemExit(
            f"the control plane was not idle: {passes} reconcile passes in {lived:.1f} s "
            f"(idle: one every {settings.reconcile_interval:g} s)"
        )
    return found, passes


def main() -> None:
    """Command line: ``--data-dir``, ``--seconds``, ``--smoke``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--seconds", type=float, default=60)
    add_smoke_option(parser)
    args = parser.parse_args()
    for key in [key for key in os.environ if key.startswith("CLOUDOS_")]:
        del os.environ[key]  # the recording must see the settings `cloudos serve` gets
    spaces, apps_per_space = SMOKE_SIZE if args.smoke else (100, 10)
    seconds = 2.5 if args.smoke else args.seconds  # the smoke: one idle pass after the first
    with (
        tempfile.TemporaryDirectory(prefix="cloudos-empty-") as empty,
        tempfile.TemporaryDirectory(prefix="cloudos-bench-smoke-") as smoke_dir,
    ):
        data_dir = Path(smoke_dir) if args.smoke else args.data_dir
        populate(data_dir, spaces=spaces, apps_per_space=apps_per_space).close()
        open_database(f"sqlite:///{Path(empty) / 'cloudos.db'}").close()
        for label, where in (
            ("no apps", Path(empty)),
            (f"{spaces * apps_per_space:,} apps in {spaces} spaces", data_dir),
        ):
            found, passes = idle_rss(where, seconds=seconds)
            print(
                f"cloudos serve at idle with {label}: RSS {found['VmRSS']:.0f} MB "
                f"(peak {found['VmHWM']:.0f} MB) after {seconds:.0f} s, "
                f"{passes} reconcile passes"
            )


if __name__ == "__main__":
    main()
