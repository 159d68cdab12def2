"""Every benchmark in bench/ still runs: each one's ``--smoke`` (one round, the smallest
size, not timed) in a subprocess, as a user would run it, must exit 0 and print its
summary. The figures are not checked: on a shared CI machine they mean nothing, and
the benchmarks' own checks (an idle pass that acts, a page that does not answer 200,
wrk seeing errors) already make them exit non-zero with a message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

BENCH = Path(__file__).resolve().parent.parent / "bench"
PAGES = ("dashboard", "space", "space settings", "app", "catalog", "routes", "audit", "account")


def run_smoke(script: str, *, timeout: float) -> str:
    """Run ``bench/<script> --smoke``; its stdout, after checking it exited 0."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLOUDOS_")}
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        capture_output=True,
        text=True,
        env=env,
        cwd=BENCH.parent,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"bench/{script} --smoke exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_render_bench_smoke() -> None:
    out = run_smoke("bench_render.py", timeout=120)
    assert re.search(r"^10 renders of php-website with 5 modifiers: [\d,]+ renders/s$", out, re.M)


def test_reconcile_bench_smoke() -> None:
    out = run_smoke("bench_reconcile.py", timeout=120)
    assert re.search(
        r"^reconcile pass over 4 apps in 2 spaces, nothing to change: median [\d.]+ s", out, re.M
    )


@pytest.mark.slow
def test_idle_memory_bench_smoke() -> None:
    out = run_smoke("bench_idle_memory.py", timeout=180)
    for label in ("no apps", "4 apps in 2 spaces"):
        assert re.search(
            rf"^cloudos serve at idle with {label}: RSS \d+ MB \(peak \d+ MB\) after \d+ s, "
            r"[1-9]\d* reconcile passes$",
            out,
            re.M,
        ), out


@pytest.mark.slow
def test_ui_pages_bench_smoke() -> None:
    out = run_smoke("bench_ui_pages.py", timeout=180)
    for page in PAGES:
        assert re.search(rf"^{page} +[\d.]+ +[\d.]+ ", out, re.M), f"no row for {page}:\n{out}"
    assert "ms, Server-Timing over 1 requests" in out


@pytest.mark.docker
@pytest.mark.slow
def test_router_bench_smoke(docker_client: object) -> None:
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed (apt-get install -y wrk)")
    out = run_smoke("bench_router.py", timeout=300)
    for case in ("rendered", "minimal", "direct"):
        assert re.search(rf"^\| {case} \| [\d,]+ \| [\d.]+ ms \|$", out, re.M), out
    assert re.search(r"^rendered / minimal: [\d.]+$", out, re.M)


@pytest.mark.docker
@pytest.mark.slow
def test_install_bench_smoke(docker_client: object) -> None:
    out = run_smoke("bench_install.py", timeout=400)
    assert re.search(r"^round 1: cloudos [\d.]+ s, plain [\d.]+ s, ratio [\d.]+$", out, re.M), out
    assert re.search(r"^install to first 200 through the router, 1 rounds, median", out, re.M)


def test_every_bench_has_its_smoke_test() -> None:
    # A new benchmark without a smoke run here would rot unnoticed, as the idle one did.
    smoked = {
        "bench_render.py",
        "bench_reconcile.py",
        "bench_idle_memory.py",
        "bench_ui_pages.py",
        "bench_router.py",
        "bench_install.py",
    }
    assert {path.name for path in BENCH.glob("bench_*.py")} == smoked
    source = Path(__file__).read_text()
    assert all(f'run_smoke("{name}"' in source for name in smoked)
