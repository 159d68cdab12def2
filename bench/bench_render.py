"""Render 1,000 installations of a catalog template with 5 modifiers; print renders/s.

Run on one core:  taskset -c 0 .venv/bin/python bench/bench_render.py
Each installation has its own app name, space and parameter values, so nothing is
served from a cache that a real render would miss (the template and modifiers are
loaded once, as the platform does). Every render includes the Compose schema check.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from _smoke import add_smoke_option

from cloudos.templates import (
    AttachedModifier,
    RenderContext,
    builtin_modifiers,
    load_template,
    render,
)

TEMPLATE = Path(__file__).resolve().parent.parent / "catalog/templates/php-website/template.yaml"


def installations(count: int) -> list[tuple[RenderContext, dict[str, str], list[AttachedModifier]]]:
    """Inputs of ``count`` different installations."""
    library = builtin_modifiers()
    out = []
    for i in range(count):
        context = RenderContext(
            app_name=f"site-{i}", space_name=f"space-{i % 17}", space_domain="example.com"
        )
        values = {"memory_limit": f"{128 + i % 64}M"}
        attached = [  # plus the template's 2 default modifiers (logging, update policy)
            AttachedModifier(library["org.cloudos.space-network"], {"network": f"net-{i % 17}"}),
            AttachedModifier(library["org.cloudos.ownership"]),
            AttachedModifier(library["org.cloudos.resources"], {"cpus": "0.5", "memory": "256M"}),
        ]
        out.append((context, values, attached))
    return out


def run(count: int) -> float:
    """Render ``count`` installations; the rate in renders per second."""
    template = load_template(TEMPLATE)
    library = builtin_modifiers()
    inputs = installations(count)
    render(template, context=inputs[0][0], values=inputs[0][1], modifiers=inputs[0][2],
           library=library)  # fmt: skip
    start = time.perf_counter()
    for context, values, attached in inputs:
        render(template, context=context, values=values, modifiers=attached, library=library)
    return count / (time.perf_counter() - start)


def main() -> None:
    """Command line: ``--count N``, ``--profile``, ``--smoke``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        args.count = 10
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, args.count)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return
    rate = run(args.count)
    print(f"{args.count} renders of php-website with 5 modifiers: {rate:,.0f} renders/s")


if __name__ == "__main__":
    main()
