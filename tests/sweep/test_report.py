"""The sweep's HTML report: each of the best runs' leaderboard rows links to that run's chart, and
the heatmap writes the value of each cell and outlines the best one. Runs in process (no Ray): the
report is drawn in the driver from records."""
from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from backtestester.sweep.config import SweepSpec
from backtestester.sweep.execute import execute_run
from backtestester.sweep.report import (
    ChartedRun,
    envelope,
    fmt,
    heatmap_figure,
    nodes_line,
    ranked,
    write_sweep_report,
)

STRATEGY = "backtestester.strategy.reference:SmaCross"


def sweep_spec(engine: str = "event") -> SweepSpec:
    return SweepSpec(strategy=STRATEGY, grid={"fast": [5, 10, 20], "slow": [40, 80]}, symbols=("SYNTH",),
                     timeframe="1m", engine=engine, metric="sharpe")


@pytest.fixture(scope="module")
def records(tables):
    return [execute_run(c, tables) for c in sweep_spec().configs()]


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_the_best_runs_rows_link_to_their_charts(tables, records, tmp_path, engine):
    spec = sweep_spec(engine)
    if engine != "event":
        records = [execute_run(c, tables) for c in spec.configs()]
    paths = write_sweep_report(tmp_path, records, spec.configs(), spec, None, tables, top=3)
    page = paths["html"].read_text()
    links = re.findall(r"<a href='([^']+)'", page)
    best = [r["config_id"] for r in ranked(records, "sharpe")[:3]]
    assert links == [f"runs/{config_id}.html" for config_id in best]
    for link in links:
        chart = (paths["html"].parent / link).resolve()
        assert chart.is_file() and "Bokeh" in chart.read_text()
    assert len(list(Path(tmp_path, "runs").iterdir())) == 3


def test_the_heatmap_writes_each_value_and_outlines_the_best_cell(records):
    fig = heatmap_figure(records, "fast", "slow", "sharpe")
    try:
        ax = fig.axes[0]
        texts = sorted(t.get_text() for t in ax.texts)
        values = [r["sharpe"] for r in records if r["status"] == "ok" and not math.isnan(r["sharpe"])]
        assert len(texts) == len(values) == 6
        assert texts == sorted(fmt("sharpe", float(v)) for v in values)
        (outline,) = ax.patches
        best = ranked(records, "sharpe")[0]
        xs, ys = sorted({r["p_fast"] for r in records}), sorted({r["p_slow"] for r in records})
        assert np.allclose(outline.get_xy(), (xs.index(best["p_fast"]) - 0.5, ys.index(best["p_slow"]) - 0.5))
        assert "best" in ax.get_title()
    finally:
        plt.close(fig)


def test_the_nodes_line_counts_the_runs_of_each_node_most_first():
    a, b = "3f2a1b0c" + "1" * 48, "9c0d4e5f" + "2" * 48
    records = [{"node": b}] * 80 + [{"node": a}] * 120 + [{"status": "failed"}]  # a failed run names no node
    assert nodes_line(records) == "ran on 2 nodes: 3f2a1b0c... 120, 9c0d4e5f... 80"
    assert nodes_line([{"node": a}]) == "ran on 1 node: 3f2a1b0c... 1"
    assert nodes_line([{"status": "failed"}]) is None


def test_a_report_writes_the_charts_it_is_handed_instead_of_drawing_them(tables, records, tmp_path):
    """The sweep's actors draw the best runs; the driver only writes what they handed it."""
    spec = sweep_spec()
    best = ranked(records, "sharpe")[0]
    times = np.arange(3).astype("datetime64[m]")
    charted = [ChartedRun(best["config_id"], "fast=5 slow=40", times, np.array([1.0, 1.1, 1.05]), "<html>drawn</html>")]
    paths = write_sweep_report(tmp_path, records, spec.configs(), spec, None, tables, top=3, charted=charted)
    assert re.findall(r"<a href='([^']+)'", paths["html"].read_text()) == [f"runs/{best['config_id']}.html"]
    assert (tmp_path / "runs" / f"{best['config_id']}.html").read_text() == "<html>drawn</html>"
    assert paths["equity"].stat().st_size > 0


def test_a_long_curve_is_drawn_from_its_envelope_every_peak_and_trough_kept():
    values = np.cumsum(np.random.default_rng(3).normal(size=1_000_003))
    shown = envelope(values, 2_000)
    assert len(shown) <= 2 * 2_000 + 2 and shown[0] == 0 and shown[-1] == len(values) - 1
    assert np.all(np.diff(shown) > 0)  # in time order, each point once
    width = -(-len(values) // 2_000)
    for lo in range(0, len(values), width):  # each slice's lowest and highest point is drawn
        piece = values[lo:lo + width]
        assert lo + int(piece.argmin()) in shown and lo + int(piece.argmax()) in shown
    assert list(envelope(values[:4_000], 2_000)) == list(range(4_000))  # short curves: every point
