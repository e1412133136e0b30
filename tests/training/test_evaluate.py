"""evaluate_trial: one backtest per fold, in-sample and out-of-sample scores on their windows,
the fit hook fed in-sample bars only, failures as data, pruning between folds."""
from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.stats import compute_statistics
from backtestester.strategy import Strategy, run_backtest
from backtestester.strategy.reference import SmaCross
from backtestester.training.evaluate import TrialSpec, cpcv_path_returns, evaluate_trial, objective_direction
from backtestester.training.folds import cpcv, walk_forward

N_BARS = 3000
SMA = "backtestester.strategy.reference:SmaCross"
OBJECTIVES = ("sharpe", "total_return", "max_drawdown")


@pytest.fixture(scope="module")
def tables():
    """Five-minute bars of two symbols on the NYSE calendar (~38 sessions)."""
    return {(s, "5m"): generate_bars(s, timeframe="5m", n_bars=N_BARS, seed=3) for s in ("SYNTH", "OTHER")}


def spec(**changes):
    base = dict(number=0, params={"fast": 5, "slow": 20}, strategy=SMA, symbols=("SYNTH",), timeframe="5m",
                folds=walk_forward(N_BARS, folds=3, purge=40), objective=OBJECTIVES, options={})
    return TrialSpec(**{**base, **changes})


def repo(tables, symbol="SYNTH"):
    from datetime import timedelta
    return Repository.from_table(symbol, timedelta(minutes=5), tables[(symbol, "5m")])


def days_last(times_ns, equity):
    day = times_ns // (86_400 * 10**9)
    keep = [i for i in range(len(day)) if i == len(day) - 1 or day[i + 1] != day[i]]
    return times_ns[keep], equity[keep]


@pytest.mark.parametrize("scheme", ["anchored", "rolling"])
def test_scores_and_returns_are_the_backtests_own_on_each_window(tables, scheme):
    """Each fold's scores equal a separate run_backtest of the fold's bars [train start, test end)
    alone (warm-up from the training bars, nothing before them), cut to the windows by hand; the
    purged bars between them count to neither."""
    folds = walk_forward(N_BARS, folds=3, scheme=scheme, purge=40)
    outcome = evaluate_trial(spec(folds=folds), tables)
    assert outcome.error is None and outcome.state == "complete"
    r = repo(tables)
    for k, fold in enumerate(folds):
        lo, hi = fold.train[0], fold.test[1]
        bars = Repository.from_table("SYNTH", r.period, tables[("SYNTH", "5m")].slice(lo, hi - lo))
        result = run_backtest(SmaCross(fast=5, slow=20), [bars], balance=100_000.0, calendar="XNYS",
                              fill_model="next_open")
        t = result.equity_times.astype(np.int64)
        for (a, b), scores in ((fold.train, outcome.is_scores[k]), (fold.test, outcome.oos_scores[k])):
            opens = r.start_ns[a - 1] + r.period_ns if a else r.start_ns[a]   # the close of the bar before
            first = np.flatnonzero(t <= opens)[-1]                    # the equity when the window opens
            last = np.flatnonzero(t <= r.start_ns[b - 1] + r.period_ns)[-1]   # when its last bar closes
            tw, ew = t[first:last + 1], result.equity[first:last + 1]
            assert scores["total_return"] == pytest.approx(ew[-1] / ew[0] - 1, abs=1e-12)
            stats = compute_statistics(tw.astype("datetime64[ns]"), ew, None)
            assert scores["sharpe"] == pytest.approx(stats.sharpe, nan_ok=True)
            assert scores["max_drawdown"] == pytest.approx(stats.max_drawdown)
        day_t, day_e = days_last(tw, ew)
        np.testing.assert_allclose(outcome.oos_returns[k], day_e[1:] / day_e[:-1] - 1, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(outcome.oos_times[k], day_t[1:])
        assert outcome.oos_times[k][0] > r.start_ns[fold.test[0]]
    assert outcome.score == tuple(np.mean([s[n] for s in outcome.oos_scores]) for n in OBJECTIVES)
    assert all(np.isfinite(outcome.score))


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_an_evaluation_is_deterministic(tables, engine):
    """The same trial gives the same outcome, alone or on a worker's cache warmed by earlier trials."""
    cache: dict = {}
    runs = [evaluate_trial(spec(options={"engine": engine}), tables, cache=cache if i else None) for i in range(3)]
    for other in runs[1:]:
        assert other.is_scores == runs[0].is_scores and other.oos_scores == runs[0].oos_scores
        for a, b in zip(runs[0].oos_returns + runs[0].oos_times, other.oos_returns + other.oos_times):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scheme", ["anchored", "rolling"])
def test_the_fast_path_scores_as_the_event_engine(tables, scheme):
    folds = walk_forward(N_BARS, folds=3, scheme=scheme, purge=40)
    outcome = evaluate_trial(spec(folds=folds, options={"engine": "fast"}), tables)
    assert outcome.error is None
    event = evaluate_trial(spec(folds=folds), tables)
    # the same decisions and fill rules: the windows' scores and daily returns agree with the event engine's
    for fast, slow in zip(outcome.is_scores + outcome.oos_scores, event.is_scores + event.oos_scores):
        assert fast == pytest.approx(slow, abs=1e-9)
    for fast, slow in zip(outcome.oos_returns + outcome.oos_times, event.oos_returns + event.oos_times):
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


class Boom(SmaCross):
    def on_candle(self, ctx, bar):
        if bar.candle.start.day > 10:
            raise RuntimeError("boom in on_candle")
        super().on_candle(ctx, bar)


def test_a_raising_strategy_is_a_failed_outcome_with_its_traceback(tables):
    outcome = evaluate_trial(spec(strategy="tests.training.test_evaluate:Boom"), tables)
    assert outcome.state == "failed"
    assert "RuntimeError: boom in on_candle" in outcome.error and "Traceback" in outcome.error


def test_a_parameter_set_the_strategy_refuses_is_a_failed_outcome(tables):
    outcome = evaluate_trial(spec(params={"fast": 30, "slow": 20}), tables)
    assert outcome.state == "failed" and "fast < slow" in outcome.error


def test_report_true_prunes_the_remaining_folds(tables):
    calls = []
    outcome = evaluate_trial(spec(), tables, report=lambda k, v: calls.append((k, v)) or True)
    assert outcome.pruned and outcome.state == "pruned"
    assert len(outcome.oos_scores) == len(outcome.is_scores) == len(outcome.oos_returns) == 1
    assert calls == [(0, outcome.oos_scores[0]["sharpe"])]
    calls.clear()
    full = evaluate_trial(spec(), tables, report=lambda k, v: calls.append((k, v)) and False)
    assert not full.pruned and [k for k, _ in calls] == [0, 1, 2]


SEEN: list = []


class Learner(Strategy):
    """Records the range of bars fit saw (every table) and checks the fitted state is the one that trades."""

    threshold: float = 0.0

    def fit(self, data):
        starts = np.concatenate([t.column("start").cast("int64").to_numpy() for t in data.values()])
        self.model = {"min": int(starts.min()), "max": int(starts.max()), "keys": sorted(data), "rows": len(starts)}
        SEEN.append(dict(self.model))
        return self.model

    def on_start(self, ctx):
        self.frozen = self.model            # set by fit, before the run

    def on_candle(self, ctx, bar):
        assert self.model is self.frozen    # nothing refits during the run

    def on_stop(self, ctx):
        SEEN.append(("stopped", id(self.model) == id(self.frozen)))


class FastLearner(Learner):
    """The same on the fast path: ``signals`` runs after fit, with the fitted state."""

    def signals(self, bars):
        SEEN.append(("stopped", self.model is not None))
        flat = np.zeros(len(bars["close"]), dtype=bool)
        return flat, flat


@pytest.mark.parametrize("engine, learner, symbols", [("event", "Learner", ("SYNTH", "OTHER")),
                                                      ("fast", "FastLearner", ("SYNTH",))])
def test_fit_sees_only_in_sample_bars_and_its_artefact_is_saved_per_fold(tables, tmp_path, engine, learner, symbols):
    SEEN.clear()
    folds = walk_forward(N_BARS, folds=3, scheme="rolling", purge=40)
    outcome = evaluate_trial(spec(strategy=f"tests.training.test_evaluate:{learner}", params={}, folds=folds,
                                  symbols=symbols, options={"engine": engine}), tables, artefacts_dir=tmp_path)
    assert outcome.error is None, outcome.error
    axis = repo(tables).start_ns
    fits = [s for s in SEEN if isinstance(s, dict)]
    assert len(fits) == len(folds) and SEEN.count(("stopped", True)) == len(folds)   # once per fold, then frozen
    for fold, seen, artefact in zip(folds, fits, outcome.artefacts):
        assert seen["max"] < axis[fold.test[0]]              # no out-of-sample bar reaches fit
        assert seen["max"] == axis[fold.train[1] - 1]        # the last training bar does (purge: no later one)
        assert seen["min"] == axis[fold.train[0]]            # and nothing before the training window
        assert seen["keys"] == sorted((s, "5m") for s in symbols)
        assert artefact["fold"] == fold.index
        assert artefact["train"] == [list(fold.train)] and artefact["test"] == [list(fold.test)]
        with open(artefact["path"], "rb") as f:
            blob = f.read()
        assert pickle.loads(blob) == seen and hashlib.sha256(blob).hexdigest() == artefact["sha256"]


def test_strategies_without_fit_are_not_fitted_and_save_nothing(tables, tmp_path):
    outcome = evaluate_trial(spec(), tables, artefacts_dir=tmp_path)
    assert outcome.artefacts == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("changes, error, words", [
    ({"options": {"balanse": 1.0}}, ValueError, "balanse"),
    ({"objective": ("sharp",)}, ValueError, "unknown objective 'sharp'"),
    ({"folds": walk_forward(N_BARS + 100, folds=2)}, ValueError, "has 3000 bars"),
    ({"symbols": ("NOPE",)}, LookupError, "NOPE"),
    ({"folds": []}, ValueError, "no folds"),
])
def test_bad_specs_raise_naming_the_problem(tables, changes, error, words):
    with pytest.raises(error, match=words):
        evaluate_trial(spec(**changes), tables)


def test_objective_directions():
    assert objective_direction("sharpe") == "maximize"
    assert objective_direction("max_drawdown") == "maximize"     # a fraction <= 0: closer to 0 is better
    assert objective_direction("volatility") == "minimize"
    with pytest.raises(ValueError, match="unknown objective"):
        objective_direction("start")


class SetLearner(Learner):
    """Records every bar start fit saw."""

    def fit(self, data):
        self.model = sorted(int(v) for t in data.values() for v in t.column("start").cast("int64").to_numpy())
        SEEN.append(self.model)
        return len(self.model)


def test_cpcv_splits_fit_on_their_purged_training_bars_only(tables):
    """CPCV trains after test windows too: fit sees exactly the split's training bars, none of its
    test bars, none within the purge before or the embargo after a test window."""
    SEEN.clear()
    splits = cpcv(N_BARS, groups=6, test_groups=2, purge=20, embargo=30)
    outcome = evaluate_trial(spec(strategy="tests.training.test_evaluate:SetLearner", params={}, folds=splits),
                             tables)
    assert outcome.error is None, outcome.error
    axis = repo(tables).start_ns
    fits = [s for s in SEEN if isinstance(s, list)]
    assert len(fits) == len(splits) == len(outcome.oos_scores) == 15
    for split, seen in zip(splits, fits):
        assert seen == sorted(int(axis[i]) for a, b in split.train for i in range(a, b))


def test_cpcv_scores_stitch_the_test_windows_of_one_run(tables):
    """A split's out-of-sample return compounds its test windows' returns, each cut from one
    backtest over the split's bars; the bars between them count to neither."""
    splits = cpcv(N_BARS, groups=5, test_groups=2, purge=10)
    outcome = evaluate_trial(spec(folds=splits, objective=("total_return",)), tables)
    r = repo(tables)
    result = run_backtest(SmaCross(fast=5, slow=20), [repo(tables)], balance=100_000.0, calendar="XNYS",
                          fill_model="next_open")
    t = result.equity_times.astype(np.int64)

    def equity_at(ns):
        return result.equity[np.flatnonzero(t <= ns)[-1]]

    for split, scores in zip(splits, outcome.oos_scores):
        growth = 1.0
        for a, b in split.test:
            opens = r.start_ns[a - 1] + r.period_ns if a else r.start_ns[0]
            growth *= equity_at(r.start_ns[b - 1] + r.period_ns) / equity_at(opens)
        assert scores["total_return"] == pytest.approx(growth - 1, abs=1e-12)


def test_cpcv_paths_recombine_each_group_once_from_the_splits_that_test_it(tables):
    """The 5 paths of CPCV(6, 2): each covers every group once, in time order, with the daily
    returns that group's split recorded; away from the group boundaries they are the daily
    returns of one backtest over all the bars (SmaCross learns nothing: every split runs the same)."""
    splits = cpcv(N_BARS, groups=6, test_groups=2, purge=10)
    outcome = evaluate_trial(spec(folds=splits, objective=("sharpe",)), tables)
    r = repo(tables)
    paths = cpcv_path_returns(outcome, splits, r.start_ns, r.period_ns)
    assert len(paths) == 5
    result = run_backtest(SmaCross(fast=5, slow=20), [r], balance=100_000.0, calendar="XNYS", fill_model="next_open")
    day_t, day_e = days_last(result.equity_times.astype(np.int64), result.equity)
    full = dict(zip(day_t[1:].tolist(), (day_e[1:] / day_e[:-1] - 1).tolist()))
    edges = [int(r.start_ns[b - 1]) for b in range(500, N_BARS + 1, 500)]   # the groups' last bars
    day = 86_400 * 10**9
    for times, returns in paths:
        assert (np.diff(times) > 0).all() and len(times) == len(returns)
        assert len(full) - len(edges) <= len(times) <= len(full) + len(edges)   # every day once, boundaries aside
        for t, x in zip(times.tolist(), returns.tolist()):
            if all(abs(t - e) > 2 * day for e in edges):
                assert x == pytest.approx(full[t], abs=1e-12)
