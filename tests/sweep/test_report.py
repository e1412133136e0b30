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
from backtestester.sweep.report import fmt, heatmap_figure, ranked, write_sweep_report

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
