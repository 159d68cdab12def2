"""What the app page draws, computed from plain data (pure).

The CPU/memory plot keeps no state on the server: each stats fragment carries the
samples it drew in a hidden field, and the next poll sends them back, so a page
plots its own last :data:`SAMPLES` readings and the server stays stateless. What
comes back from the browser is untrusted: :func:`parse_history` keeps only numbers,
only for the app's services, at most :data:`SAMPLES` each.

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

Sample = tuple[float, float]  # CPU percent, memory bytes


def parse_history(raw: str, services: Iterable[str]) -> dict[str, list[Sample]]:
    """The samples a page sent back, for ``services`` only; anything malformed is dropped."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, list[Sample]] = {}
    for service in services:
        samples = data.get(service)
        if not isinstance(samples, list):
            continue
        kept = [
            (float(pair[0]), float(pair[1]))
            for pair in samples[-SAMPLES:]
            if isinstance(pair, list) and len(pair) == 2 and all(_finite(number) for number in pair)
        ]
        if kept:
            out[service] = kept
    return out


def _finite(number: object) -> bool:
    return (
        isinstance(number, int | float)
        and not isinstance(number, bool)
        and math.isfinite(number)
        and number >= 0
    )


def add_sample(history: Mapping[str, list[Sample]], service: str, sample: Sample) -> list[Sample]:
    """The service's samples with ``sample`` appended, the oldest dropped past the limit."""
    return [*history.get(service, []), sample][-SAMPLES:]


def dump_history(history: Mapping[str, Sequence[Sample]]) -> str:
    """The hidden field's value (stable order, so equal histories read the same)."""
    return json.dumps(
        {service: [list(sample) for sample in samples] for service, samples in history.items()},
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
    "SAMPLES",
    "DiffLine",
    "Sample",
    "add_sample",
    "diff_lines",
    "dump_history",
    "parse_history",
    "polyline",
]
