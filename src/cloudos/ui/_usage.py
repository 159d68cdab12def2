"""CPU and memory of the machine the control plane runs on, read from /proc.

CPU use is a rate: the busy share of /proc/stat's counters (clock ticks since boot)
between two readings. The server keeps no state, so the page carries the last
counters back with its plot history (:mod:`cloudos.ui._shapes`, under
:data:`COUNTERS`, beside the plotted series under :data:`NODE`): a page's first
reading has no CPU figure yet, the next one has. Counters that do not follow the
ones read now (a reboot, a history made up by the browser) give no figure either.
Memory used is MemTotal - MemAvailable, as ``free`` counts it.

Everything here is pure but :func:`read_node`, which takes the /proc to read so a
test can hand it a folder of sample files. In a container /proc/stat and
/proc/meminfo still describe the whole machine; the host name is the one the
control plane sees.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from cloudos.errors import EnvironmentProblem
from cloudos.ui import _shapes as shapes

PROC = Path("/proc")
NODE = "node"
COUNTERS = "counters"
_GIB = 2**30
_MIB = 2**20


@dataclass(frozen=True)
class CpuCounters:
    """Clock ticks since boot: spent busy, and in all (idle and waiting for I/O included)."""

    busy: float
    total: float


@dataclass(frozen=True)
class NodeReading:
    """One reading of the machine: its name, CPU counters and memory in bytes."""

    hostname: str
    cpu: CpuCounters
    memory_used: int
    memory_total: int


@dataclass(frozen=True)
class NodeUsage:
    """What the dashboard shows: the reading, CPU percent (None at first), the plot."""

    reading: NodeReading
    cpu_percent: float | None
    samples: list[shapes.Sample]
    history: str


def parse_stat(text: str) -> CpuCounters:
    """The all-CPUs counters of /proc/stat's ``cpu`` line."""
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["cpu"]:
            # user nice system idle iowait irq softirq steal (guest time is in user).
            counters = fields[1:9]
            if len(counters) < 4 or not all(field.isdigit() for field in counters):
                break
            ticks = [int(field) for field in counters]
            idle = sum(ticks[3:5])
            return CpuCounters(busy=sum(ticks) - idle, total=sum(ticks))
    raise ValueError("no 'cpu' line with counters in stat")


def parse_meminfo(text: str) -> tuple[int, int]:
    """Memory used and total in bytes, from /proc/meminfo."""
    kib: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        number = value.split()[:1]
        if number and number[0].isdigit():
            kib[name.strip()] = int(number[0])
    if "MemTotal" not in kib or "MemAvailable" not in kib:
        raise ValueError("no MemTotal and MemAvailable in meminfo")
    total = kib["MemTotal"] * 1024
    return total - kib["MemAvailable"] * 1024, total


def cpu_percent(before: CpuCounters, after: CpuCounters) -> float | None:
    """Percent of all CPUs busy between two readings, None when they do not follow."""
    total = after.total - before.total
    busy = after.busy - before.busy
    if total <= 0 or not 0 <= busy <= total:
        return None
    return 100.0 * busy / total


def read_node(proc: Path) -> NodeReading:
    """Read the machine's CPU counters and memory from ``proc`` (a /proc)."""
    try:
        cpu = parse_stat((proc / "stat").read_text())
        used, total = parse_meminfo((proc / "meminfo").read_text())
    except OSError as err:
        raise EnvironmentProblem(f"cannot read {err.filename}: {err.strerror}") from err
    except ValueError as err:
        raise EnvironmentProblem(f"{proc} is not a Linux /proc: {err}") from err
    try:
        hostname = (proc / "sys" / "kernel" / "hostname").read_text().strip()
    except OSError:
        hostname = ""
    return NodeReading(
        hostname=hostname or socket.gethostname(),
        cpu=cpu,
        memory_used=used,
        memory_total=total,
    )


def follow(history: str, now: NodeReading) -> NodeUsage:
    """``now`` after the readings a page sent back: the CPU rate, the plot, the next field."""
    previous = shapes.parse_history(history, [NODE, COUNTERS])
    counters = previous.get(COUNTERS)
    percent = cpu_percent(CpuCounters(*counters[-1]), now.cpu) if counters else None
    samples = previous.get(NODE, [])
    if percent is not None:
        samples = shapes.add_sample(previous, NODE, (percent, float(now.memory_used)))
    kept = {NODE: samples, COUNTERS: [(now.cpu.busy, now.cpu.total)]}
    return NodeUsage(
        reading=now, cpu_percent=percent, samples=samples, history=shapes.dump_history(kept)
    )


def size_text(size: float) -> str:
    """Bytes for people: GiB from one GiB up, MiB below."""
    if size >= _GIB:
        return f"{size / _GIB:.1f} GiB"
    return f"{size / _MIB:.1f} MiB"


__all__ = [
    "COUNTERS",
    "NODE",
    "PROC",
    "CpuCounters",
    "NodeReading",
    "NodeUsage",
    "cpu_percent",
    "follow",
    "parse_meminfo",
    "parse_stat",
    "read_node",
    "size_text",
]
