"""Requests/s and p99 latency through the router, side by side in one run.

    .venv/bin/python bench/bench_router.py [--seconds 10] [--rounds 3] [--connections 32]
    .venv/bin/python bench/bench_router.py --smoke      # one round of 1 s, no warm-up

Needs a Docker engine in swarm mode and ``wrk``. Starts, on its own overlay network,
one ``cloudos/static`` task (``dnsrr``, its port published in host mode) and one
router (``cloudos/router``), then measures with wrk against 127.0.0.1, in rounds so
that drift on the machine hits every case alike:

- ``rendered``: the router running ``render_caddy_config`` for one route (plain
  HTTP, ``dynamic_upstreams`` as in dnsrr mode);
- ``minimal``: the same Caddy with a hand-written config: one server, one
  ``reverse_proxy`` dialing the service by name;
- ``direct``: the upstream's published port, no router.

Prints the median of each case and the rendered/minimal ratio (aim: >= 0.97).
Everything it creates is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
from _smoke import add_smoke_option
from docker.types import EndpointSpec, Mount

from cloudos.engine.images import build_images, image_ref
from cloudos.router import (
    ROUTER_SYSCTLS,
    Route,
    RouterAdmin,
    RouteTable,
    Upstream,
    render_caddy_config,
)

HOST = "bench.localhost"
ADMIN_DIR = "/run/cloudos-router"
LABELS = {"io.cloudos.bench": "router"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wrk(url: str, *, seconds: int, connections: int) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) of one wrk run with Host: bench.localhost."""
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Host: {HOST}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def minimal_config(*, http_port: int, service: str) -> dict[str, Any]:
    """What one would write by hand: one server, one proxy to the service."""
    return {
        "admin": {"listen": f"unix/{ADMIN_DIR}/admin.sock"},
        "apps": {
            "http": {
                "servers": {
                    "bench": {
                        "listen": [f":{http_port}"],
                        "routes": [
                            {
                                "handle": [
                                    {
                                        "handler": "reverse_proxy",
                                        "upstreams": [{"dial": f"{service}:8080"}],
                                    }
                                ]
                            }
                        ],
                    }
                }
            }
        },
    }


def wait_for(condition: Any, what: str, timeout: float = 90) -> None:
    """Poll until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not ready after {timeout} s")
        time.sleep(0.5)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 with Host: bench.localhost."""
    import httpx

    try:
        return httpx.get(url, headers={"Host": HOST}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    """Set up, measure, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.connections = 1, 1, 4
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    client = docker.from_env(timeout=120)
    build_images(client, names=["router", "static"])
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    network = f"{prefix}-net"
    web, router = f"{prefix}-web", f"{prefix}-router"
    http_port, https_port, direct_port = free_port(), free_port(), free_port()
    socket_dir = Path(tempfile.mkdtemp(prefix="bench-router-"))
    socket_dir.chmod(0o755)
    client.networks.create(network, driver="overlay", attachable=True, labels=LABELS)
    try:
        client.services.create(  # type: ignore[no-untyped-call]
            image_ref("static"),
            name=web,
            labels=LABELS,
            networks=[network],
            # docker's stubs key ports by str; the SDK takes published port numbers.
            endpoint_spec=EndpointSpec(mode="dnsrr", ports={direct_port: (8080, "tcp", "host")}),  # type: ignore[dict-item]
        )
        client.services.create(  # type: ignore[no-untyped-call]
            image_ref("router"),
            name=router,
            labels=LABELS,
            networks=[network],
            endpoint_spec=EndpointSpec(
                mode="dnsrr",
                # docker's stubs key ports by str; the SDK takes published port numbers.
                ports={
                    http_port: (http_port, "tcp", "host"),  # type: ignore[dict-item]
                    https_port: (https_port, "tcp", "host"),  # type: ignore[dict-item]
                },
            ),
            mounts=[Mount(ADMIN_DIR, str(socket_dir), type="bind")],
            sysctls=ROUTER_SYSCTLS,
        )
        admin = RouterAdmin(socket_dir / "admin.sock")
        wait_for(admin.answers, "the router's admin socket")
        table = RouteTable(
            routes=[
                Route(
                    domain=HOST,
                    space="bench",
                    upstream=Upstream(service=web, port=8080, network=network),
                    https_redirect=False,
                )
            ]
        )
        configs = {
            "rendered": render_caddy_config(
                table,
                endpoint_mode="dnsrr",
                http_port=http_port,
                https_port=https_port,
                admin_socket=f"{ADMIN_DIR}/admin.sock",
            ),
            "minimal": minimal_config(http_port=http_port, service=web),
        }
        router_url = f"http://127.0.0.1:{http_port}/"
        direct_url = f"http://127.0.0.1:{direct_port}/"
        wait_for(lambda: answers(direct_url), "the upstream")
        results: dict[str, list[tuple[float, float]]] = {
            "rendered": [],
            "minimal": [],
            "direct": [],
        }
        for round_number in range(args.rounds):
            for case in results:
                if case in configs:
                    admin.load(configs[case])
                    wait_for(lambda: answers(router_url), f"the {case} config")
                url = router_url if case in configs else direct_url
                if not args.smoke:
                    wrk(url, seconds=2, connections=args.connections)  # warm up
                results[case].append(wrk(url, seconds=args.seconds, connections=args.connections))
                rate, p99 = results[case][-1]
                print(f"round {round_number + 1} {case:9} {rate:10,.0f} req/s  p99 {p99:.2f} ms")
        admin.close()
        print()
        print("| case | requests/s (median) | p99 latency (median) |")
        print("| --- | --- | --- |")
        medians = {}
        for case, runs in results.items():
            medians[case] = statistics.median(rate for rate, _ in runs)
            p99 = statistics.median(p for _, p in runs)
            print(f"| {case} | {medians[case]:,.0f} | {p99:.2f} ms |")
        print()
        print(f"rendered / minimal: {medians['rendered'] / medians['minimal']:.3f}")
        print(f"rendered / direct:  {medians['rendered'] / medians['direct']:.3f}")
    finally:
        for name in (router, web):
            with contextlib.suppress(docker.errors.NotFound):
                client.services.get(name).remove()  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and client.api.containers(
            all=True, filters={"name": f"{prefix}-"}
        ):
            time.sleep(0.5)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.networks.get(network).remove()
        shutil.rmtree(socket_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
