"""Sweeps on a real embedded Ray cluster (the session's ``ray_cluster`` fixture)."""
from __future__ import annotations

import math
import os

import pyarrow.parquet as pq
import pytest

from actors.sweep import SweepSpec, run_sweep
from backtestester.data.synthetic import generate_bars
from backtestester.strategy import Strategy
from backtestester.sweep import RunConfig, execute_run

SMA = "backtestester.strategy.reference:SmaCross"


@pytest.fixture(scope="module")
def tables():
    return {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=5)}


def spec(**overrides):
    base = dict(strategy=SMA, grid={"fast": [5, 10, 20], "slow": [30, 60]}, constraints=("fast < slow",))
    base.update(overrides)
    return SweepSpec(**base)


class ExplodingStrategy(Strategy):
    """Raises on its third candle when ``explode`` is set."""

    explode: bool = False

    def on_candle(self, ctx, bar):
        self.seen = getattr(self, "seen", 0) + 1
        if self.explode and self.seen == 3:
            raise RuntimeError("strategy exploded on purpose")


class DiesOnceStrategy(Strategy):
    """Kills its worker process the first time it runs with ``die`` set (a marker file remembers)."""

    die: bool = False
    marker: str = ""

    def on_start(self, ctx):
        if self.die and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)


def test_sweep_results_equal_sequential_in_process_runs(ray_cluster, tables, tmp_path):
    outcome = run_sweep(spec(), tmp_path, tables=tables, show_progress=False)
    assert outcome.ran == 6 and outcome.failed == 0 and not outcome.interrupted
    by_id = {r["config_id"]: r for r in outcome.records}
    for config in spec().configs():
        local = execute_run(config, tables)
        remote = by_id[config.config_id]
        for metric in ("final_equity", "sharpe", "max_drawdown", "trade_count", "win_rate"):
            assert remote[metric] == local[metric] or (math.isnan(remote[metric]) and math.isnan(local[metric]))
    saved = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert {r["config_id"] for r in saved} == set(by_id)
    assert {"p_fast", "p_slow"} <= set(saved[0])
    assert (tmp_path / "report.html").exists() and (tmp_path / "equity.png").exists()
    assert (tmp_path / "heatmap.png").exists()


def test_constraints_filter_the_grid():
    configs = spec(grid={"fast": [10, 20, 30], "slow": [20, 30]}).configs()
    assert [c.param_dict for c in configs] == [dict(fast=10, slow=20), dict(fast=10, slow=30), dict(fast=20, slow=30)]


def test_config_ids_are_stable_and_distinct():
    a = RunConfig(strategy=SMA, params=(("slow", 30), ("fast", 5)))
    b = RunConfig(strategy=SMA, params=(("fast", 5), ("slow", 30)))
    assert a.config_id == b.config_id and len(a.config_id) == 16
    assert RunConfig(strategy=SMA, params=(("fast", 6), ("slow", 30))).config_id != a.config_id


def test_resume_skips_finished_runs(ray_cluster, tables, tmp_path):
    first = run_sweep(spec(grid={"fast": [5, 10], "slow": [30]}), tmp_path, tables=tables, show_progress=False)
    assert first.ran == 2
    second = run_sweep(spec(grid={"fast": [5, 10, 20], "slow": [30]}), tmp_path, tables=tables, show_progress=False)
    assert (second.skipped, second.ran) == (2, 1)
    assert len(pq.read_table(tmp_path / "results.parquet")) == 3


def test_a_strategy_that_raises_is_recorded_as_failed_and_the_sweep_goes_on(ray_cluster, tables, tmp_path):
    sweep = SweepSpec(strategy=f"{__name__}:ExplodingStrategy", grid={"explode": [False, True]})
    outcome = run_sweep(sweep, tmp_path, tables=tables, show_progress=False)
    status = {r["p_explode"]: r for r in outcome.records}
    assert status[False]["status"] == "ok"
    assert status[True]["status"] == "failed"
    assert "strategy exploded on purpose" in status[True]["error"] and "Traceback" in status[True]["error"]
    assert outcome.failed == 1


def test_a_killed_worker_batch_is_retried_on_a_new_actor(ray_cluster, tables, tmp_path):
    marker = str(tmp_path / "died-once")
    sweep = SweepSpec(strategy=f"{__name__}:DiesOnceStrategy", grid={"die": [False, True], "marker": [marker]})
    outcome = run_sweep(sweep, tmp_path / "out", tables=tables, show_progress=False, batch_size=1)
    assert os.path.exists(marker)  # a worker really died
    assert outcome.failed == 0 and sorted(r["status"] for r in outcome.records) == ["ok", "ok"]


def test_an_empty_sweep_is_a_clear_error(ray_cluster, tables, tmp_path):
    with pytest.raises(ValueError, match="no parameter sets"):
        run_sweep(spec(grid={"fast": [50], "slow": [30]}), tmp_path, tables=tables, show_progress=False)


def test_fast_path_sweep_agrees_with_the_event_driven_sweep(ray_cluster, tables, tmp_path):
    """engine='fast' runs the strategy's signals() through the compiled kernel: same numbers."""
    event = run_sweep(spec(), tmp_path / "event", tables=tables, show_progress=False)
    fast = run_sweep(spec(engine="fast"), tmp_path / "fast", tables=tables, show_progress=False)
    assert fast.failed == 0
    by_params = {r["params"]: r for r in event.records}
    for record in fast.records:
        twin = by_params[record["params"]]
        for metric in ("final_equity", "trade_count", "sharpe", "max_drawdown", "total_return"):
            assert record[metric] == twin[metric], (metric, record["params"])
