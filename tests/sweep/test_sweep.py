"""Sweeps on a real embedded Ray cluster (the session's ``ray_cluster`` fixture)."""
from __future__ import annotations

import fcntl
import math
import os
import re

import pyarrow.parquet as pq
import pytest

from actors.pool import SweepPool
from actors.sweep import run_sweep
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.strategy import Strategy
from backtestester.sweep import RunConfig, SweepSpec, execute_batch, execute_run
from backtestester.sweep.execute import METRICS
from backtestester.sweep.prepare import prepare_sweep

SMA = "backtestester.strategy.reference:SmaCross"


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


class CountedStrategy(Strategy):
    """Notes its process id in the file ``log`` as each run starts; the ``die_on``-th start noted
    (counted under a lock: two actors may start at once) kills its process."""

    n: int = 0
    log: str = ""
    die_on: int = 0

    def on_start(self, ctx):
        with open(self.log, "a+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(f"{os.getpid()}\n")
            log.flush()
            log.seek(0)
            starts = len(log.read().split())
        if starts == self.die_on:
            os._exit(1)


def same(a, b) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_sweep_results_equal_sequential_in_process_runs(ray_cluster, tables, tmp_path, engine):
    outcome = run_sweep(spec(engine=engine), tmp_path, tables=tables, show_progress=False, workers=2)
    assert outcome.ran == 6 and outcome.failed == 0 and not outcome.interrupted
    by_id = {r["config_id"]: r for r in outcome.records}
    for config in prepare_sweep(spec(engine=engine), tables=tables).configs:  # ids include the fingerprints
        local = execute_run(config, tables)
        remote = by_id[config.config_id]
        for metric in METRICS:
            assert same(remote[metric], local[metric]), metric
    saved = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert {r["config_id"] for r in saved} == set(by_id)
    assert {"p_fast", "p_slow"} <= set(saved[0])
    assert (tmp_path / "report.html").exists() and (tmp_path / "equity.png").exists()
    assert (tmp_path / "heatmap.png").exists()


def test_a_batch_of_configs_gives_the_records_of_one_run_at_a_time(tables):
    """execute_batch runs fast configs that differ only in parameters as one compiled batch: the
    records are execute_run's, metric for metric; a parameter set the strategy refuses fails
    alone (the batch falls back to single runs); event configs in the batch keep their place."""
    fast = SweepSpec(strategy=SMA, grid={"fast": [5, 10, 40], "slow": [30, 60]}, engine="fast",
                     commission_rate=0.0005, slippage_rate=0.0002).configs()  # fast=40, slow=30 is refused
    good = [c for c in fast if c.param_dict != {"fast": 40, "slow": 30}]
    mixed = good[:2] + spec().configs()[:1] + good[2:]
    for configs in (fast, good, mixed):
        cache: dict = {}
        batch = execute_batch(configs, tables, cache=cache)
        assert [r["config_id"] for r in batch] == [c.config_id for c in configs]
        for config, record in zip(configs, batch):
            alone = execute_run(config, tables)
            assert record["status"] == alone["status"]
            if alone["status"] == "failed":
                assert "fast" in record["error"] and "Traceback" in record["error"]
                continue
            assert set(record) == set(alone)
            for metric in METRICS:
                assert same(record[metric], alone[metric]), (config.param_dict, metric)


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


def test_a_catalog_sweep_runs_on_the_tables_it_was_prepared_and_fingerprinted_with(ray_cluster, tmp_path):
    """The driver reads the catalog once (prepare_sweep) and puts those tables: a catalog that
    changes before the runs (another writer) changes neither the results nor their fingerprint."""
    data_dir = tmp_path / "catalog"
    Catalog(data_dir).write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=5_000, seed=3))
    sweep = spec(grid={"fast": [5, 10], "slow": [30]}, symbols=("SYNTH",))
    prepared = prepare_sweep(sweep, data_dir=data_dir)
    Catalog(data_dir).write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=5_000, seed=4))
    outcome = run_sweep(sweep, tmp_path / "out", data_dir=data_dir, prepared=prepared, show_progress=False,
                        report_top=0)
    expected = [r["final_equity"] for r in execute_batch(prepared.configs, prepared.tables)]
    changed = prepare_sweep(sweep, data_dir=data_dir)
    assert [r["final_equity"] for r in execute_batch(changed.configs, changed.tables)] != expected
    by_id = {r["config_id"]: r["final_equity"] for r in outcome.records}
    assert [by_id[c.config_id] for c in prepared.configs] == expected
    assert {r["data_fingerprint"] for r in outcome.records} == {prepared.fingerprints[1]}


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


def test_a_pool_runs_sweep_after_sweep_on_the_same_actors(ray_cluster, tables, tmp_path):
    """A SweepPool's actors outlive a sweep: both sweeps run in the pool's worker processes, and
    the second, over other data under the same (symbol, timeframe), gets that data's results,
    not results built on the first sweep's table."""
    other = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=6)}
    with SweepPool(2, engines="fast") as pool:
        pids = {str(pid) for pid in ray_cluster.get([host.pid.remote() for host in pool.hosts])}
        first = run_sweep(spec(engine="fast"), tmp_path / "a", tables=tables, pool=pool, show_progress=False)
        second = run_sweep(spec(engine="fast"), tmp_path / "b", tables=other, pool=pool, show_progress=False)
        assert pool.workers == 2 and {str(pid) for pid in ray_cluster.get([h.pid.remote() for h in pool.hosts])} == pids
    assert pool.hosts == []
    assert {r["worker"].rsplit(":", 1)[1] for r in first.records + second.records} <= pids
    for outcome, data in ((first, tables), (second, other)):
        assert outcome.ran == 6 and outcome.failed == 0
        by_id = {r["config_id"]: r for r in outcome.records}
        for config in prepare_sweep(spec(engine="fast"), tables=data).configs:
            local = execute_run(config, data)
            assert all(same(by_id[config.config_id][m], local[m]) for m in METRICS), config.params
    assert first.records[0]["final_equity"] != second.records[0]["final_equity"]


def test_a_pool_replaces_an_actor_that_dies_in_a_sweep(ray_cluster, tables, tmp_path):
    marker = str(tmp_path / "died-once")
    sweep = SweepSpec(strategy=f"{__name__}:DiesOnceStrategy", grid={"die": [False, True], "marker": [marker]})
    with SweepPool(2, engines="event") as pool:
        outcome = run_sweep(sweep, tmp_path / "out", tables=tables, show_progress=False, batch_size=1, pool=pool)
        assert os.path.exists(marker) and outcome.failed == 0
        assert len(set(ray_cluster.get([host.pid.remote() for host in pool.hosts]))) == 2  # both answer


def test_ctrl_c_on_a_pool_keeps_the_finished_runs_and_a_working_pool(ray_cluster, tables, tmp_path, monkeypatch):
    """Ctrl-C arrives in the driver right after the first batch's records (where it would land
    while the driver waits): the finished run is kept, the actor still running a batch of the
    stopped sweep is replaced, and the next sweep on the same pool resumes after the kept run."""
    import actors.sweep as sweep_module

    real_ranked = sweep_module.ranked

    def ctrl_c(records, metric):
        raise KeyboardInterrupt

    with SweepPool(2, engines="event") as pool:
        monkeypatch.setattr(sweep_module, "ranked", ctrl_c)
        first = run_sweep(spec(), tmp_path, tables=tables, pool=pool, show_progress=False, batch_size=1)
        monkeypatch.setattr(sweep_module, "ranked", real_ranked)
        assert first.interrupted and len(first.records) == 1 and first.reports == {}
        second = run_sweep(spec(), tmp_path, tables=tables, pool=pool, show_progress=False)
        assert (second.skipped, second.ran, second.failed) == (1, 5, 0) and not second.interrupted
        assert pool.workers == 2 and len(set(ray_cluster.get([h.pid.remote() for h in pool.hosts]))) == 2


def test_a_pool_refuses_an_unknown_engine_or_no_workers():
    with pytest.raises(ValueError, match="unknown engine 'gpu'; accepted: event, fast"):
        SweepPool(engines="gpu")
    with pytest.raises(ValueError, match="at least one worker, got 0"):
        SweepPool(0)


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


@pytest.mark.parametrize("die_on", [0, 4])
def test_the_best_runs_are_charted_on_the_sweeps_actors(ray_cluster, tables, tmp_path, die_on):
    """The report's charts run the best runs again: on the sweep's actors (each chart as soon as
    one is free), not one after the other in the driver. With ``die_on=4`` the actor drawing the
    first chart dies: it is replaced and the driver draws that chart; the report still links both."""
    log = tmp_path / "starts"
    sweep = SweepSpec(strategy=f"{__name__}:CountedStrategy", grid={"n": [1, 2, 3], "log": [str(log)],
                                                                     "die_on": [die_on]})
    with SweepPool(2, engines="event") as pool:
        actors = {int(pid) for pid in ray_cluster.get([host.pid.remote() for host in pool.hosts])}
        outcome = run_sweep(sweep, tmp_path / "out", tables=tables, pool=pool, show_progress=False, report_top=2)
        assert pool.workers == 2 and len(set(ray_cluster.get([h.pid.remote() for h in pool.hosts]))) == 2
    starts = [int(pid) for pid in log.read_text().split()]
    assert outcome.ran == 3 and outcome.failed == 0
    if die_on:
        assert len(starts) == 3 + 2 + 1 and starts.count(os.getpid()) == 1  # the dead actor's chart, redrawn
    else:
        assert len(starts) == 3 + 2 and set(starts) <= actors
    page = outcome.reports["html"].read_text()
    links = re.findall(r"<a href='(runs/[^']+)'", page)
    assert len(links) == 2 and all("Bokeh" in (outcome.out_dir / link).read_text() for link in links)
