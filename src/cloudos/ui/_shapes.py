"""What the pages draw, computed from plain data (pure).

The CPU/memory plots (an app's services on the app page, the control plane's node on
the dashboard) keep no state on the server: each fragment carries the samples it drew
in a hidden field, and the next poll sends them back, so a page plots its own last
:data:`SAMPLES` readings and the server stays stateless. The history is a JSON object
of series by key (a service's name, or the node's). What comes back from the browser
is untrusted: :func:`parse_history` reads at most :data:`HISTORY_MAX_CHARS`, keeps only
non-negative numbers, only for the keys asked for, at most :data:`SAMPLES` each.

:func:`diff_lines` turns two revisions' stack YAML into a unified diff whose lines
say whether they were added, removed or kept, for the template to mark.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SAMPLES = 30
PLOT_WIDTH = 120
PLOT_HEIGHT = 32
HISTORY_MAX_CHARS = 20_000

Sample = tuple[float, float]  # CPU percent, memory bytes


def parse_history(raw: str, keys: Iterable[str]) -> dict[str, list[Sample]]:
    """The samples a page sent back, for ``keys`` only; anything malformed is dropped."""
    try:
        data = json.loads(raw[:HISTORY_MAX_CHARS]) if raw else {}
    except (ValueError, RecursionError):  # a form field, not a JSON body: nested at will
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, list[Sample]] = {}
    for key in keys:
        samples = data.get(key)
        if not isinstance(samples, list):
            continue
        kept = [
            (float(pair[0]), float(pair[1]))
            for pair in samples[-SAMPLES:]
            if isinstance(pair, list) and len(pair) == 2 and all(_finite(number) for number in pair)
        ]
        if kept:
            out[key] = kept
    return out


def _finite(number: object) -> bool:
    return (
        isinstance(number, int | float)
        and not isinstance(number, bool)
        and math.isfinite(number)
        and number >= 0
    )


def add_sample(history: Mapping[str, list[Sample]], key: str, sample: Sample) -> list[Sample]:
    """The series' samples with ``sample`` appended, the oldest dropped past the limit."""
    return [*history.get(key, []), sample][-SAMPLES:]


def dump_history(history: Mapping[str, Sequence[Sample]]) -> str:
    """The hidden field's value (stable order, so equal histories read the same)."""
    return json.dumps(
        {key: [list(sample) for sample in samples] for key, samples in history.items()},
        sort_keys=True,
        separators=(",", ":"),
    )


def polyline(values: Sequence[float], *, top: float) -> str:
    """SVG ``points`` of ``values`` scaled to ``top``, the newest at the right edge."""
    if not values:
        return ""
    scale = top if top > 0 else 1.0
    step = PLOT_WIDTH / (SAMPLES - 1)
    start = PLOT_WIDTH - step * (len(values) - 1)
    points = []
    for index, value in enumerate(values):
        x = start + step * index
        y = PLOT_HEIGHT - min(value / scale, 1.0) * PLOT_HEIGHT
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


@dataclass(frozen=True)
class Plot:
    """A CPU/memory plot's two lines (SVG ``points``) and how many readings it shows."""

    cpu_points: str
    memory_points: str
    samples: int


def plot(samples: Sequence[Sample]) -> Plot:
    """CPU and memory of ``samples``, each line scaled to a little above its highest.

    Scaled to what was seen, not to a limit (often the whole host): the plot shows
    change; the numbers beside it say how much.
    """
    cpus = [cpu for cpu, _memory in samples]
    memories = [memory for _cpu, memory in samples]
    return Plot(
        cpu_points=polyline(cpus, top=max([5.0, *cpus]) * 1.25),
        memory_points=polyline(memories, top=max([0.0, *memories]) * 1.25),
        samples=len(samples),
    )


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff: ``kind`` is added, removed, hunk, file or same."""

    kind: str
    text: str


def diff_lines(old: str, new: str, *, old_name: str, new_name: str) -> list[DiffLine]:
    """A unified diff of ``old`` and ``new``, each line marked by what it is."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
    ):
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "same"
        out.append(DiffLine(kind=kind, text=line))
    return out


__all__ = [
    "HISTORY_MAX_CHARS",
    "SAMPLES",
    "DiffLine",
    "Plot",
    "Sample",
    "add_sample",
    "diff_lines",
    "dump_history",
    "parse_history",
    "plot",
    "polyline",
]
