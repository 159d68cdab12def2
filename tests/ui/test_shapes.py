"""What the pages draw (pure): the sample history they send back, the plot, the diff."""

from __future__ import annotations

import json

from cloudos.ui._shapes import (
    SAMPLES,
    add_sample,
    diff_lines,
    dump_history,
    parse_history,
    plot,
    polyline,
)


def test_the_history_keeps_only_numbers_of_known_services_and_the_last_samples() -> None:
    sent = {
        "web": [[1, 2]] * (SAMPLES + 5) + [[3.5, 4]],
        "db": [[1, 2], ["x", 1], [1], [-1, 2], [True, 3], [float("1e308") * 10, 1], [5, 6]],
        "gone": [[1, 1]],
    }
    raw = json.dumps(sent).replace("Infinity", "1e999")
    history = parse_history(raw, ["web", "db", "new"])
    assert set(history) == {"web", "db"}
    assert len(history["web"]) == SAMPLES
    assert history["web"][-1] == (3.5, 4.0)
    assert history["db"] == [(1.0, 2.0), (5.0, 6.0)]
    for garbage in ("", "not json", "[1, 2]", '{"web": "x"}'):
        assert parse_history(garbage, ["web"]) == {}


def test_a_new_sample_pushes_out_the_oldest_and_round_trips() -> None:
    history = {"web": [(float(n), 1.0) for n in range(SAMPLES)]}
    samples = add_sample(history, "web", (99.0, 2.0))
    assert len(samples) == SAMPLES
    assert samples[0] == (1.0, 1.0)
    assert samples[-1] == (99.0, 2.0)
    assert add_sample({}, "db", (1.0, 2.0)) == [(1.0, 2.0)]
    assert parse_history(dump_history({"web": samples}), ["web"]) == {"web": samples}


def test_the_plot_ends_at_the_right_edge_and_stays_inside() -> None:
    assert polyline([], top=100) == ""
    points = [tuple(map(float, p.split(","))) for p in polyline([0, 50, 100, 400], top=100).split()]
    assert [y for _x, y in points] == [32.0, 16.0, 0.0, 0.0]  # above the top: clipped
    assert points[-1][0] == 120.0
    assert all(0 <= x <= 120 for x, _y in points)
    assert polyline([5], top=0) == "120.0,0.0"


def test_a_plot_scales_each_line_to_a_little_above_its_highest() -> None:
    drawn = plot([(0.0, 100.0), (4.0, 200.0), (80.0, 400.0)])
    assert drawn.samples == 3
    cpu = [float(p.split(",")[1]) for p in drawn.cpu_points.split()]
    memory = [float(p.split(",")[1]) for p in drawn.memory_points.split()]
    assert cpu[0] == 32.0  # idle: the bottom edge
    assert 0 < cpu[-1] < 32  # the highest stays below the top
    assert memory == [25.6, 19.2, 6.4]  # top: 1.25 × 400
    # Below 5 % the scale stays at 5 %: an idle service's noise does not fill the plot.
    assert plot([(1.0, 1.0)]).cpu_points == "120.0,26.9"  # top: 1.25 × 5
    assert plot([]) == plot([])  # nothing to draw, nothing fails
    assert plot([]).cpu_points == ""


def test_the_diff_marks_added_removed_and_context_lines() -> None:
    old = "a: 1\nb: 2\nc: 3\n"
    new = "a: 1\nb: 20\nc: 3\n"
    lines = diff_lines(old, new, old_name="revision 1", new_name="revision 2")
    assert [(line.kind, line.text) for line in lines] == [
        ("file", "--- revision 1"),
        ("file", "+++ revision 2"),
        ("hunk", "@@ -1,3 +1,3 @@"),
        ("same", " a: 1"),
        ("removed", "-b: 2"),
        ("added", "+b: 20"),
        ("same", " c: 3"),
    ]
    assert diff_lines(old, old, old_name="x", new_name="y") == []
