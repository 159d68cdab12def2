"""``--smoke``, the same in every benchmark: one round at the smallest size, not timed.

It checks that a benchmark's machinery still works (it exits non-zero with a message
when it does not) and prints the benchmark's summary as usual; its figures mean
nothing. tests/test_bench_smoke.py runs every benchmark that way in CI, so none rots.
"""

from __future__ import annotations

import argparse


def add_smoke_option(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` the ``--smoke`` flag."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one round at the smallest size, not timed: checks that the benchmark works "
        "(tests/test_bench_smoke.py runs it in CI)",
    )
