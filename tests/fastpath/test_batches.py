"""Fast-path batches: equal to single runs, their summaries and statistics equal to the engine's."""
from __future__ import annotations

import numpy as np
import pytest

from backtestester.data.indicators import sma
from backtestester.fastpath import (
    Bars,
    run_crossover_batch,
    run_signals,
    run_signals_batch,
    run_strategy,
    run_strategy_batch,
)
from backtestester.strategy import SmaCross

from .conftest import COSTS, MINUTE_NS, engine_run, random_walk, same_number

# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_case(gapped_minute_bars):
    bars = Bars({k: v[:30_000] for k, v in gapped_minute_bars.items()})
    params = [dict(fast=f, slow=s) for f in (5, 10, 20) for s in (30, 60, 120)]
    return bars, params


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
def test_batch_equals_single_runs(batch_case, fill_model):
    bars, params = batch_case
    strategies = [SmaCross(**p) for p in params]
    signals = [s.signals(bars) for s in strategies]
    entries = np.vstack([e for e, _ in signals])
    exits = np.vstack([x for _, x in signals])
    o, h, l, c = bars["open"], bars["high"], bars["low"], bars["close"]
    fractions = np.linspace(0.5, 1.0, len(params))
    singles = [run_signals(o, h, l, c, e, x, balance=20_000, fill_model=fill_model, fraction=f, **COSTS)
               for (e, x), f in zip(signals, fractions)]
    for parallel in (False, True):
        batch = run_signals_batch(o, h, l, c, entries, exits, balance=20_000, fill_model=fill_model,
                                  fraction=fractions, parallel=parallel, return_trades=True, return_equity=True,
                                  **COSTS)
        assert len(batch) == len(params)
        for i, single in enumerate(singles):
            assert batch.records()[i] == single.summary
            assert np.array_equal(batch.trades[i], single.trades)
            assert np.array_equal(batch.equity[i], single.equity)


def test_crossover_batch_and_strategy_batch_equal_single_runs(batch_case):
    bars, params = batch_case
    windows = sorted({w for p in params for w in p.values()})
    lines = np.vstack([sma(bars["close"], w) for w in windows])
    pairs = [[windows.index(p["fast"]), windows.index(p["slow"])] for p in params]
    o, h, l, c = bars["open"], bars["high"], bars["low"], bars["close"]
    cross = run_crossover_batch(o, h, l, c, lines, pairs, balance=20_000, fill_model="close", return_trades=True)
    strat = run_strategy_batch(SmaCross, params, bars, balance=20_000, fill_model="close", return_trades=True,
                               max_signal_bytes=100_000)  # several chunks
    for i, p in enumerate(params):
        single = run_strategy(SmaCross(**p), bars, balance=20_000, fill_model="close")
        assert cross.records()[i] == single.summary == strat.records()[i]
        assert np.array_equal(cross.trades[i], single.trades)
        assert np.array_equal(strat.trades[i], single.trades)
    assert strat.summary["trade_count"].dtype == np.int64


def test_batch_summary_matches_engine_statistics(batch_case):
    bars, params = batch_case
    batch = run_strategy_batch(SmaCross, params[:3], bars, balance=20_000, fill_model="next_open", **COSTS)
    for i, p in enumerate(params[:3]):
        eng = engine_run(SmaCross(**p), bars, MINUTE_NS, balance=20_000, fill_model="next_open", **COSTS)
        st = eng.statistics
        row = batch.records()[i]
        assert row["final_equity"] == eng.final_equity == st.final_equity
        assert row["max_drawdown"] == st.max_drawdown
        assert row["peak_equity"] == st.peak_equity
        assert row["exposure"] == st.exposure
        assert row["trade_count"] == st.trade_count
        assert row["total_return"] == st.total_return
        # sums and ratios of round trips: numpy's pairwise sums vs the kernel's running sums
        assert row["win_rate"] == st.win_rate
        assert row["total_commission"] == pytest.approx(st.total_commission, rel=1e-9)
        assert row["profit_factor"] == pytest.approx(st.profit_factor, rel=1e-9)
        assert row["expectancy"] == pytest.approx(st.expectancy, rel=1e-9)


@pytest.mark.parametrize("direction,fraction", [("long", 1.0), ("short", 0.5), ("both", 0.6)])
@pytest.mark.parametrize("fill_model", ["next_open", "close"])
def test_batch_statistics_equal_single_run_statistics(direction, fraction, fill_model):
    """A batch's statistics (from the kernel's day-end equity points and its round trips, no
    curves) are FastResult.statistics' exactly, field by field, for every run, including one
    without trades; the one-pass and two-pass ways of collecting round trips agree."""
    from backtestester.fastpath import STAT_FIELDS, runs

    bars = random_walk(20_000, seed=11)  # two weeks of minutes: 14 daily returns
    n = len(bars["close"])
    rng = np.random.default_rng(5)
    entries, exits = rng.random((5, n)) < 0.01, rng.random((5, n)) < 0.01
    entries[0] = exits[0] = False
    o, h, l, c = bars["open"], bars["high"], bars["low"], bars["close"]
    options = dict(balance=50_000, fill_model=fill_model, fraction=fraction, direction=direction, **COSTS)
    batch = run_signals_batch(o, h, l, c, entries, exits, start_ns=bars["start"], period_ns=MINUTE_NS,
                              return_trades=True, **options)
    saved = runs.ONE_PASS_TRADE_BYTES
    runs.ONE_PASS_TRADE_BYTES = 0  # force the second pass
    try:
        two_pass = run_signals_batch(o, h, l, c, entries, exits, start_ns=bars["start"], period_ns=MINUTE_NS,
                                     return_trades=True, **options)
    finally:
        runs.ONE_PASS_TRADE_BYTES = saved
    assert batch.statistics[0]["trade_count"] == 0
    for r in range(len(entries)):
        single = run_signals(o, h, l, c, entries[r], exits[r], **options)
        expected = single.statistics(bars["start"], MINUTE_NS).as_dict()
        for got in (batch, two_pass):
            diff = {k: (got.statistics[r][k], expected[k]) for k in STAT_FIELDS
                    if not same_number(got.statistics[r][k], expected[k])}
            assert not diff, (r, diff)
            assert np.array_equal(got.trades[r], single.trades)


def test_statistics_of_strategy_and_crossover_batches(batch_case):
    bars, params = batch_case
    windows = sorted({w for p in params for w in p.values()})
    lines = np.vstack([sma(bars["close"], w) for w in windows])
    pairs = [[windows.index(p["fast"]), windows.index(p["slow"])] for p in params]
    o, h, l, c = bars["open"], bars["high"], bars["low"], bars["close"]
    strat = run_strategy_batch(SmaCross, params, bars, balance=20_000, period_ns=MINUTE_NS, **COSTS)
    cross = run_crossover_batch(o, h, l, c, lines, pairs, balance=20_000, start_ns=bars["start"],
                                period_ns=MINUTE_NS, **COSTS)
    assert strat.trades is None and cross.trades is None  # used for the statistics, not returned
    for i, p in enumerate(params):
        single = run_strategy(SmaCross(**p), bars, balance=20_000, **COSTS)
        expected = single.statistics(bars["start"], MINUTE_NS).as_dict()
        for got in (strat.statistics[i], cross.statistics[i]):
            assert all(same_number(got[k], expected[k]) for k in got), p


def test_equity_at_gives_the_equity_points_of_those_bars(batch_case):
    bars, params = batch_case
    strategies = [SmaCross(**p) for p in params[:3]]
    entries, exits = (np.vstack(x) for x in zip(*(s.signals(bars) for s in strategies)))
    o, h, l, c = bars["open"], bars["high"], bars["low"], bars["close"]
    at = np.array([0, 17, 4_000, len(c) - 1])
    batch = run_signals_batch(o, h, l, c, entries, exits, balance=20_000, equity_at=at, return_equity=True)
    assert np.array_equal(batch.equity_at, batch.equity[:, at])
    for bad in ([3, 3], [5, 2], [-1], [len(c)]):
        with pytest.raises(ValueError, match="equity_at"):
            run_signals_batch(o, h, l, c, entries, exits, balance=20_000, equity_at=bad)
    with pytest.raises(ValueError, match="period_ns"):
        run_signals_batch(o, h, l, c, entries, exits, balance=20_000, start_ns=bars["start"])


def test_empty_batch():
    p = np.array([1.0, 2.0])
    res = run_signals_batch(p, p, p, p, np.zeros((0, 2), bool), np.zeros((0, 2), bool), balance=10)
    assert len(res) == 0 and res.records() == []
