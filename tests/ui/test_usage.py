"""The dashboard's CPU and memory of the control plane's node: /proc read from sample
files, the rate carried by the page from one poll to the next, the fragment."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudos.errors import EnvironmentProblem
from cloudos.ui import _usage as usage
from cloudos.ui._usage import (
    CpuCounters,
    cpu_percent,
    follow,
    parse_meminfo,
    parse_stat,
    read_node,
    size_text,
)
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, sign_in

MEMINFO = """\
MemTotal:        8388608 kB
MemFree:          524288 kB
MemAvailable:    5242880 kB
Buffers:           61444 kB
HugePages_Total:       0
"""


def _stat(user: int, idle: int) -> str:
    """A /proc/stat of two CPUs: ``user`` and ``idle`` ticks on the all-CPUs line."""
    return (
        f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\n"
        f"cpu0 {user // 2} 0 0 {idle // 2} 0 0 0 0 0 0\n"
        f"cpu1 {user // 2} 0 0 {idle // 2} 0 0 0 0 0 0\n"
        "intr 12345 0 0\nctxt 999\nbtime 1700000000\n"
    )


def _proc(root: Path, *, user: int, idle: int) -> Path:
    root.mkdir(exist_ok=True)
    (root / "stat").write_text(_stat(user, idle))
    (root / "meminfo").write_text(MEMINFO)
    (root / "sys" / "kernel").mkdir(parents=True, exist_ok=True)
    (root / "sys" / "kernel" / "hostname").write_text("node-1\n")
    return root


def test_stat_counts_idle_and_io_wait_as_not_busy() -> None:
    text = "cpu  100 10 50 800 40 5 5 0 30 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    # user+nice+system+irq+softirq+steal busy; idle+iowait not; guest is inside user.
    assert parse_stat(text) == CpuCounters(busy=170, total=1010)
    # Old kernels have four counters only.
    assert parse_stat("cpu 1 2 3 4\n") == CpuCounters(busy=6, total=10)
    for broken in ("", "cpu0 1 2 3 4\n", "cpu 1 2\n", "cpu a b c d\n"):
        with pytest.raises(ValueError, match="no 'cpu' line"):
            parse_stat(broken)


def test_memory_used_is_total_less_available() -> None:
    assert parse_meminfo(MEMINFO) == (3 * 2**30, 8 * 2**30)
    with pytest.raises(ValueError, match="MemAvailable"):
        parse_meminfo("MemTotal: 1024 kB\nMemFree: 10 kB\n")


def test_cpu_percent_is_the_busy_share_between_two_readings() -> None:
    assert cpu_percent(CpuCounters(100, 1000), CpuCounters(150, 1200)) == 25.0
    assert cpu_percent(CpuCounters(100, 1000), CpuCounters(100, 1000)) is None  # no time
    assert cpu_percent(CpuCounters(500, 5000), CpuCounters(10, 100)) is None  # a reboot
    assert cpu_percent(CpuCounters(0, 1000), CpuCounters(900, 1100)) is None  # made up


def test_read_node_reads_the_proc_it_is_given(tmp_path: Path) -> None:
    node = read_node(_proc(tmp_path / "proc", user=300, idle=700))
    assert node.hostname == "node-1"
    assert node.cpu == CpuCounters(busy=300, total=1000)
    assert (node.memory_used, node.memory_total) == (3 * 2**30, 8 * 2**30)
    with pytest.raises(EnvironmentProblem, match=r"cannot read .*stat"):
        read_node(tmp_path / "missing")
    (tmp_path / "proc" / "meminfo").write_text("nothing here\n")
    with pytest.raises(EnvironmentProblem, match="not a Linux /proc"):
        read_node(tmp_path / "proc")


def test_this_machines_proc_reads() -> None:
    node = read_node(Path("/proc"))
    assert node.hostname
    assert 0 < node.memory_used < node.memory_total
    assert 0 < node.cpu.busy < node.cpu.total


def test_the_rate_needs_the_counters_the_page_sent_back(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    first = follow("", read_node(_proc(proc, user=100, idle=900)))
    assert first.cpu_percent is None
    assert first.samples == []
    second = follow(first.history, read_node(_proc(proc, user=150, idle=1050)))
    assert second.cpu_percent == 25.0
    assert second.samples == [(25.0, 3.0 * 2**30)]
    third = follow(second.history, read_node(_proc(proc, user=250, idle=1150)))
    assert third.samples == [(25.0, 3.0 * 2**30), (50.0, 3.0 * 2**30)]
    assert json.loads(third.history)["counters"] == [[250.0, 1400.0]]


def test_sizes_read_in_mib_below_a_gib() -> None:
    assert size_text(512 * 2**20) == "512.0 MiB"
    assert size_text(3.25 * 2**30) == "3.2 GiB"


# -- the fragment -------------------------------------------------------------------------


def _history(fragment: str) -> str:
    found = re.search(r'id="usage-history" name="history" value="([^"]*)"', fragment)
    assert found is not None, fragment
    return html.unescape(found.group(1))


def test_an_admin_sees_percent_memory_and_a_plot_after_two_polls(
    browser_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = _proc(tmp_path / "proc", user=100, idle=900)
    monkeypatch.setattr(usage, "PROC", proc)
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    dashboard = browser_client.get("/").text
    assert 'hx-get="/ui/usage"' in dashboard
    assert 'hx-include="#usage-history"' in dashboard

    first = browser_client.get("/ui/usage")
    assert first.status_code == 200
    assert "node-1</strong>, the node the control plane runs on" in first.text
    assert "3.0 GiB of 8.0 GiB" in first.text
    assert "measured from the next reading" in first.text
    assert "<svg" not in first.text

    _proc(proc, user=150, idle=1050)
    second = browser_client.get("/ui/usage", params={"history": _history(first.text)})
    assert "25.0 %" in second.text
    assert "Last 1 reading<" in second.text
    _proc(proc, user=250, idle=1150)
    third = browser_client.get("/ui/usage", params={"history": _history(second.text)}).text
    assert "50.0 %" in third
    assert "Last 2 readings<" in third
    assert (
        'role="img" aria-label="CPU (solid) and memory (dashed) of node-1, last 2 readings' in third
    )
    found = re.search(r'class="cpu"[^>]* points="([^"]+)"', third)
    assert found is not None, third
    assert len(found.group(1).split()) == 2


@pytest.mark.parametrize(
    "history",
    [
        "not json",
        "[1, 2]",
        '{"counters": "x", "node": [[1]]}',
        '{"counters": [["x", 1]], "node": [[-1, 2], [1e999, 1]]}',
        '{"counters": [[1e15, 1e15]]}',  # ahead of the machine: no rate from it
        '{"counters": [[' + "9" * 30_000 + ", 1]]}",
    ],
)
def test_a_history_the_page_made_up_is_ignored(
    browser_client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    history: str,
) -> None:
    monkeypatch.setattr(usage, "PROC", _proc(tmp_path / "proc", user=100, idle=900))
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    answer = browser_client.get("/ui/usage", params={"history": history})
    assert answer.status_code == 200
    assert "measured from the next reading" in answer.text
    assert json.loads(_history(answer.text)) == {"counters": [[100.0, 1000.0]], "node": []}


def test_without_a_readable_proc_the_fragment_says_so(
    browser_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "PROC", tmp_path / "missing")
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    answer = browser_client.get("/ui/usage")
    assert answer.status_code == 200
    assert "No readings: cannot read" in answer.text
    assert "stat: No such file or directory" in answer.text
