"""Render each main page for a signed-in admin with 1,000 apps; print median and p95 ms.

Run on one core:  taskset -c 0 .venv/bin/python bench/bench_ui_pages.py
Setup (not measured, a few seconds): a fresh SQLite database with 1,000 static
websites in space 'default', seeded as the UI tests seed them (one installed
through ``AppManager.install``, the others copies of its rows: app, revision,
default route). The control plane app runs in process with no engine and the
reconciler off; requests go through Starlette's TestClient. The figure is the
``Server-Timing`` header the page route sets (the handler, its queries and the
template), and the wall time of the whole request for comparison. Each page is
requested a few times first, so caches a running cloud would have are warm; the
first (cold) request is shown too.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _smoke import add_smoke_option
from fastapi.testclient import TestClient

from cloudos.ui import warm_up
from cloudos.web import tune_garbage_collector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' seeding helper

from tests.ui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    Cloud,
    install_sites,
    new_cloud,
    sign_in,
)

TARGET_MS = 100.0
DEFAULT_GC = gc.get_threshold()  # Python's own: (700, 10, 10)
PAGES = (
    ("dashboard", "/"),
    ("space", "/spaces/default"),
    ("space settings", "/spaces/default/settings"),
    ("app", "/spaces/default/apps/{middle}"),  # the app in the middle of the list
    ("catalog", "/catalog"),
    ("routes", "/spaces/default/routes"),
    ("audit", "/audit"),
    ("account", "/account"),
)


def cloud_with_apps(data_dir: Path, count: int) -> Cloud:
    """A control plane app whose database holds ``count`` apps in space 'default'."""
    cloud = new_cloud(data_dir, instance="bench")
    install_sites(cloud, range(count))
    return cloud


def server_ms(client: TestClient, path: str) -> tuple[float, float]:
    """One request: the page's Server-Timing and the request's wall time, in ms."""
    start = time.perf_counter()
    answer = client.get(path)
    wall = (time.perf_counter() - start) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}")
    return float(re.findall(r"dur=([0-9.]+)", answer.headers["server-timing"])[0]), wall


def measure(
    client: TestClient, requests: int, *, apps: int
) -> list[tuple[str, str, float, float, float, float]]:
    """Per page: name, path, cold ms, median, p95 (Server-Timing) and median wall ms."""
    rows = []
    for name, page in PAGES:
        path = page.format(middle=f"site-{apps // 2:04}")
        cold = server_ms(client, path)[0]
        for _ in range(3):
            server_ms(client, path)
        timings = [server_ms(client, path) for _ in range(requests)]
        server = sorted(t[0] for t in timings)
        p95 = server[min(len(server) - 1, round(0.95 * (len(server) - 1)))]
        wall = statistics.median(t[1] for t in timings)
        rows.append((name, path, cold, statistics.median(server), p95, wall))
    return rows


def main() -> None:
    """Command line: ``--apps N``, ``--requests N``, ``--profile PATH``, ``--smoke``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30, help="per page, after warm-up")
    parser.add_argument("--profile", metavar="PATH", help="profile 20 requests of one page")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.apps, args.requests = 2, 1
    with tempfile.TemporaryDirectory(prefix="cloudos-bench-ui-") as tmp:
        start = time.perf_counter()
        cloud = cloud_with_apps(Path(tmp), args.apps)
        print(f"setup: {args.apps} apps in {time.perf_counter() - start:.1f} s")
        warm_up()  # as `cloudos serve` does at start
        with TestClient(cloud.app, follow_redirects=False) as client:
            sign_in(client, ADMIN, ADMIN_PASSWORD)
            if args.profile:
                server_ms(client, args.profile)
                profiler = cProfile.Profile()
                profiler.runcall(lambda: [server_ms(client, args.profile) for _ in range(20)])
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
                return
            # Side by side in one run: first as `cloudos serve` runs (warmed up, the
            # collector tuned; "cold" is each page's first request), then with Python's
            # default collector again.
            tune_garbage_collector()
            rows = measure(client, args.requests, apps=args.apps)
            gc.unfreeze()
            gc.set_threshold(*DEFAULT_GC)
            default_gc = measure(client, args.requests, apps=args.apps)
        cloud.database.close()
    print(
        f"{'page':<15} {'cold':>7} {'median':>7} {'p95':>7} {'wall':>7} {'/ target':>8}"
        f" {'p95 default gc':>15}"
    )
    for (name, _path, cold, median, p95, wall), before in zip(rows, default_gc, strict=True):
        print(
            f"{name:<15} {cold:>7.1f} {median:>7.1f} {p95:>7.1f} {wall:>7.1f}"
            f" {median / TARGET_MS:>8.2f} {before[4]:>15.1f}"
        )
    print(f"ms, Server-Timing over {args.requests} requests (wall: whole request, median)")


if __name__ == "__main__":
    main()
