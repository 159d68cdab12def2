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

import httpx
from bench_reconcile import DEFAULT_DIR, INSTANCE, FakeEngine, populate, recorded_observation

from cloudos.store import open_database


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


def idle_rss(data_dir: Path, *, seconds: float) -> tuple[dict[str, float], int]:
    """Memory of a ``cloudos serve`` on ``data_dir`` after idling; and the passes it ran."""
    database = open_database(f"sqlite:///{data_dir / 'cloudos.db'}")
    services, tasks = recorded_observation(database)
    database.close()
    socket_dir = Path(tempfile.mkdtemp(prefix="cloudos-engine-"))
    engine = FakeEngine(socket_dir / "engine.sock", services, tasks).start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOS_")} | {
        "CLOUDOS_INSTANCE": INSTANCE,
        "CLOUDOS_DOCKER_HOST": engine.url,
        "CLOUDOS_ENDPOINT_MODE": "dnsrr",
        "CLOUDOS_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "cloudos", "serve", "--data-dir", str(data_dir)]
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
    finally:
        process.terminate()
        process.wait(30)
        engine.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
    if engine.unexpected:
        raise SystemExit(f"the control plane did more than observe: {engine.unexpected[:3]}")
    return found, engine.requests.count("GET /services")


def main() -> None:
    """Command line: ``--data-dir``, ``--seconds``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    populate(args.data_dir).close()
    with tempfile.TemporaryDirectory(prefix="cloudos-empty-") as empty:
        for label, data_dir in (
            ("no apps", Path(empty)),
            ("1,000 apps in 100 spaces", args.data_dir),
        ):
            if label == "no apps":
                open_database(f"sqlite:///{data_dir / 'cloudos.db'}").close()
            found, passes = idle_rss(data_dir, seconds=args.seconds)
            print(
                f"cloudos serve at idle with {label}: RSS {found['VmRSS']:.0f} MB "
                f"(peak {found['VmHWM']:.0f} MB) after {args.seconds:.0f} s, "
                f"{passes} reconcile passes"
            )


if __name__ == "__main__":
    main()
