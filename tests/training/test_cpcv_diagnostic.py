"""CPCV as a diagnostic of ``train`` (actors/train.py, backtestester/training/cpcv_check.py), on a real
embedded Ray cluster and small generated data: after the search the best set is evaluated on the
CPCV splits of the search bars (never a holdout bar), the paths' Sharpe distribution is recorded
(as many paths as cpcv_paths gives, each the Sharpe of the recombined daily returns), shown in the
report, stored in the study so a finished study answers it from disk, and ``--cpcv off`` skips it."""
from __future__ import annotations

import argparse
import io
import math
from datetime import timedelta

import numpy as np
import pytest
from rich.console import Console

from actors.pool import SweepPool
from actors.train import run_training
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.strategy.reference import SmaCross
from backtestester.training.cpcv_check import parse_cpcv, path_sharpe, plan_cpcv, summarize
from backtestester.training.evaluate import TrialSpec, cpcv_path_returns, evaluate_trial
from backtestester.training.folds import cpcv, cpcv_paths
from backtestester.training.report import print_summary
from backtestester.training.spec import TrainSpec, add_train_arguments, spec_from_args

N_BARS = 3000           # 5-minute bars on the NYSE calendar: the search's 6 groups hold ~5 sessions each
HOLDOUT_START = 2400    # round(0.2 * 3000) bars held out
PURGE = EMBARGO = 10


class Peeker(SmaCross):
    """The SMA crossover, raising on a bar that starts at or after ``limit`` (UTC ns; 0: never; a float,
    which bars' 5-minute steps leave exact enough, since an integer parameter counts as a warm-up)."""

    limit: float = 0.0

    def on_candle(self, ctx, bar):
        if self.limit and bar.repository.start_ns[bar.index] >= self.limit:
            raise RuntimeError("peeked at a holdout bar")
        super().on_candle(ctx, bar)


def repo(tables) -> Repository:
    """The study's bar axis."""
    return Repository.from_table("SYNTH", timedelta(minutes=5), tables[("SYNTH", "5m")])


@pytest.fixture(scope="module")
def tables():
    return {("SYNTH", "5m"): generate_bars("SYNTH", timeframe="5m", n_bars=N_BARS, seed=3)}


@pytest.fixture(scope="module")
def pool(ray_cluster):
    with SweepPool(2, engines="event") as pool:
        yield pool


def spec(tmp_path, tables, **overrides) -> TrainSpec:
    limit = float(repo(tables).start_ns[HOLDOUT_START])   # the holdout's first bar: the search never reaches it
    base = dict(strategy="tests.training.test_cpcv_diagnostic:Peeker", symbols=("SYNTH",), timeframe="5m",
                space={"fast": "int:2:8", "slow": "int:10:25"}, constraints=("fast < slow",), fixed={"limit": limit},
                trials=4, folds=3, purge=PURGE, embargo=EMBARGO, seed=3, batch_size=4, holdout=0.2,
                out=str(tmp_path / "study"), study="c")
    return TrainSpec(**{**base, **overrides})


def test_the_best_is_diagnosed_on_the_cpcv_paths_of_the_search_bars_only(tables, pool, tmp_path):
    result = run_training(spec(tmp_path, tables), tables=tables, pool=pool, show_progress=False)
    record = result.cpcv
    search_end = HOLDOUT_START - PURGE
    assert record["groups"] == 6 and record["test_groups"] == 2 and record["bars"] == [0, search_end]
    assert "error" not in record                                     # no split reached a holdout bar ...
    assert "peeked at a holdout bar" in result.holdout["error"]      # ... which the strategy would have told
    assert record["n_paths"] == len(cpcv_paths(6, 2)) == len(record["sharpes"]) == 5
    # each path's Sharpe is that of the paths recombined from the best's evaluation on the same splits
    splits = cpcv(search_end, groups=6, test_groups=2, purge=PURGE, embargo=EMBARGO)
    one = TrialSpec(number=0, params=dict(result.best.params), strategy=result.spec.strategy, symbols=("SYNTH",),
                    timeframe="5m", folds=splits, objective=("sharpe",), options=result.spec.options)
    r = repo(tables)
    paths = cpcv_path_returns(evaluate_trial(one, tables), splits, r.start_ns, r.period_ns)
    assert record["sharpes"] == [path_sharpe(x) for _, x in paths] and all(map(math.isfinite, record["sharpes"]))
    assert record["mean"] == pytest.approx(np.mean(record["sharpes"]))
    assert record["min"] == min(record["sharpes"]) and record["p5"] >= record["min"]
    assert record["losing"] == sum(s <= 0 for s in record["sharpes"]) and record["share_losing"] == record["losing"] / 5
    # shown: the verdict, the console summary, the HTML page (a table and a histogram)
    assert f"CPCV: {record['losing']} of 5 paths lose" in result.diagnostics["verdict"]
    console = Console(file=io.StringIO(), width=200)
    print_summary(result, result.reports, console)
    assert f"CPCV 6:2: {record['losing']} of 5 paths lose; Sharpe mean" in console.file.getvalue()
    page = result.reports["html"].read_text()
    assert "CPCV of the best" in page and "5th percentile" in page and "out-of-sample Sharpe of the best" in page
    assert result.reports["cpcv"].exists()


def test_a_finished_study_answers_the_cpcv_from_disk(tables, pool, tmp_path):
    first = run_training(spec(tmp_path, tables, holdout=0.0, fixed={}), tables=tables, pool=pool, show_progress=False)
    # Other prices under the same bars: a recomputation would give other Sharpes; the stored record does not.
    table = tables[("SYNTH", "5m")]
    other = {("SYNTH", "5m"): generate_bars("SYNTH", timeframe="5m", n_bars=N_BARS, seed=4)}
    assert other[("SYNTH", "5m")].column("start").equals(table.column("start"))
    again = run_training(spec(tmp_path, tables, holdout=0.0, fixed={}), tables=other, pool=pool, show_progress=False)
    assert again.cpcv == first.cpcv and first.cpcv["n_paths"] == 5 and first.cpcv["bars"] == [0, N_BARS]


def test_cpcv_off_skips_it(tables, pool, tmp_path):
    result = run_training(spec(tmp_path, tables, cpcv="off"), tables=tables, pool=pool, show_progress=False)
    assert result.cpcv == {"note": "CPCV: off"} and "cpcv" not in result.reports
    assert "CPCV:" not in result.diagnostics["verdict"]


def test_the_cpcv_flag_and_its_checks():
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert spec_from_args(parser.parse_args(["--cpcv", "off"])).cpcv == "off"
    assert spec_from_args(parser.parse_args(["--cpcv", "8:3"])).cpcv == "8:3"
    assert spec_from_args(parser.parse_args([])).cpcv is None
    assert parse_cpcv("8:3") == (8, 3) and parse_cpcv(None) is None and parse_cpcv("OFF") == "off"
    for bad in ("6", "2:2", "6:0", "a:b"):
        with pytest.raises(ValueError, match="cpcv must be GROUPS:TEST_GROUPS"):
            parse_cpcv(bad)
    # the default runs when the search bars allow 6 groups of a test window each; else it is skipped
    splits, note = plan_cpcv(None, 180, purge=0, embargo=0, min_group_bars=30)
    assert len(splits) == 15 and note == "CPCV 6:2: 15 splits, 5 paths"
    splits, note = plan_cpcv(None, 179, purge=0, embargo=0, min_group_bars=30)
    assert splits is None and note.startswith("CPCV: skipped, 6 groups of the 179 search bars hold 29 bars")
    with pytest.raises(ValueError, match="--cpcv 10:2: 10 groups of the 179 search bars hold 17 bars"):
        plan_cpcv("10:2", 179, purge=0, embargo=0, min_group_bars=30)


def test_a_cpcv_too_fine_for_the_data_is_refused_before_ray(tables, tmp_path):
    with pytest.raises(ValueError, match="--cpcv 100:2: 100 groups of the 2390 search bars hold 23 bars"):
        run_training(spec(tmp_path, tables, cpcv="100:2"), tables=tables)


def test_summarize_counts_a_path_without_a_sharpe_as_losing():
    s = summarize([1.0, -0.5, float("nan"), 2.0])
    assert s["n_paths"] == 4 and s["losing"] == 2 and s["share_losing"] == 0.5 and s["min"] == -0.5
