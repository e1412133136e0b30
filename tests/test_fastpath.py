"""The fast path (compiled signal backtests) against the event-driven engine.

Both paths run the same strategy on the same bars, on a 24/7 clock stepping by the bar period
(what ``run_backtest`` does with ``calendar=None``): trades (times, prices, quantities,
commissions, P/L), the equity curve, the final equity and the statistics must be identical,
float for float. The kernel uses the engine's operations in the engine's order, so no tolerance
is needed anywhere below. On bars with gaps (GOOG's weekends) the engine ticks through the gaps;
there the fast path's points are compared with the engine's points at the bars' times.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import numpy as np
import pytest

from backtestester.data.indicators import sma
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Commission, Repository, Slippage
from backtestester.fastpath import (
    Bars,
    crossings,
    crossover,
    run_crossover_batch,
    run_signals,
    run_signals_batch,
    run_strategy,
    run_strategy_batch,
    supports_signals,
)
from backtestester.strategy import GridStrategy, SmaCross, Strategy, run_backtest

MINUTE_NS = 60 * 10**9
DAY_NS = 86_400 * 10**9
COSTS = {"commission": Commission(per_share=0.005, rate=0.0002, per_order=1.0, minimum=1.5),
         "slippage": Slippage(per_share=0.01, rate=0.0001)}
NO_COSTS: dict = {}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class SignalReplay(Strategy):
    """The event-driven twin of ``run_signals``: replays entry/exit arrays bar by bar with the
    rules ``docs/fastpath.md`` states (exits act when positioned, entries when flat; "both" flips
    with a close then an open)."""

    def __init__(self, entries, exits, direction="long", fraction=1.0, size=None):
        super().__init__()
        self.entries, self.exits = np.asarray(entries).tolist(), np.asarray(exits).tolist()
        self.direction, self.fraction, self.size = direction, fraction, size

    def _open(self, ctx, symbol, want):
        verb = ctx.buy if want > 0 else ctx.sell_short
        if self.size is None:
            verb(symbol, fraction=self.fraction)
        else:
            verb(symbol, self.size)

    def on_candle(self, ctx, bar):
        ent, ext = self.entries[bar.index], self.exits[bar.index]
        q = ctx.position(bar.symbol).quantity
        if self.direction == "long":
            if q > 0 and ext:
                ctx.close(bar.symbol)
            elif q == 0 and ent:
                self._open(ctx, bar.symbol, 1)
        elif self.direction == "short":
            if q < 0 and ext:
                ctx.close(bar.symbol)
            elif q == 0 and ent:
                self._open(ctx, bar.symbol, -1)
        elif ent != ext:
            want = 1 if ent else -1
            if q == 0:
                self._open(ctx, bar.symbol, want)
            elif (q > 0) != (want > 0):
                ctx.close(bar.symbol)
                self._open(ctx, bar.symbol, want)


def contiguous_bars(table, period_ns=MINUTE_NS) -> Bars:
    """The table's prices on contiguous bar times (one period apart), as the 24/7 clock needs."""
    bars = Bars.from_table(table)
    bars["start"] = bars["start"][0] + np.arange(len(bars["close"]), dtype=np.int64) * period_ns
    return bars


def repository(bars, period_ns) -> Repository:
    return Repository.from_arrays("X", timedelta(microseconds=period_ns // 1000), bars["start"], bars["open"],
                                  bars["high"], bars["low"], bars["close"], bars.get("volume"))


def engine_run(strategy, bars, period_ns, *, balance, fill_model, **costs):
    return run_backtest(strategy, [repository(bars, period_ns)], balance=balance, fill_model=fill_model, **costs)


def engine_fills(result):
    return [(t.time_ns, t.quantity, t.price, t.commission) for t in result.trades]


def fast_fills(fast, start_ns, period_ns):
    f = fast.fills()
    times = fast.fill_times(f["index"], start_ns, period_ns, at_close=f["at_close"])
    return list(zip(times.tolist(), f["quantity"].tolist(), f["price"].tolist(), f["commission"].tolist()))


def same_number(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def assert_same_statistics(a, b):
    da, db = a.as_dict(), b.as_dict()
    diff = {k: (da[k], db[k]) for k in da if not same_number(da[k], db[k])}
    assert not diff


def assert_agree(fast, eng, bars, period_ns, *, contiguous=True):
    """Trades, fills, equity, final equity and position identical (exact float equality)."""
    start = bars["start"]
    assert fast.round_trips(start, period_ns, symbol="X") == eng.round_trips
    assert fast_fills(fast, start, period_ns) == engine_fills(eng)
    assert fast.final_equity == eng.final_equity
    pos = eng.account.positions.get("X")
    assert fast.position == (0.0 if pos is None else pos.quantity)
    times, equity = fast.equity_curve(start, period_ns)
    if contiguous:
        assert np.array_equal(times, eng.equity_times)
        assert np.array_equal(equity, eng.equity)
        assert_same_statistics(fast.statistics(start, period_ns), eng.statistics)
        s = fast.summary  # the kernel's own summary numbers
        assert s["max_drawdown"] == eng.statistics.max_drawdown
        assert s["exposure"] == eng.statistics.exposure
        assert s["trade_count"] == eng.statistics.trade_count
        assert s["peak_equity"] == eng.statistics.peak_equity
        assert s["total_commission"] == pytest.approx(eng.statistics.total_commission, rel=1e-12)
    else:  # the engine also ticks through the gaps: compare its points at the bars' times
        idx = np.searchsorted(eng.equity_times, times)
        assert np.array_equal(eng.equity_times[idx], times)
        assert np.array_equal(eng.equity[idx], equity)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minute_bars():
    """200k generated one-minute bars on a 24/7 calendar (each open is the previous close)."""
    return contiguous_bars(generate_bars("SYNTH", timeframe="1m", n_bars=200_000, seed=7, calendar=None))


@pytest.fixture(scope="module")
def gapped_minute_bars():
    """100k generated XNYS minute bars (overnight gaps: opens differ from the previous close)
    re-stamped one minute apart, so both fill models see different prices on a 24/7 clock."""
    return contiguous_bars(generate_bars("SYNTH", timeframe="1m", n_bars=100_000, seed=3, calendar="XNYS"))


@pytest.fixture(scope="module")
def goog():
    backtesting_test = pytest.importorskip("backtesting.test")
    df = backtesting_test.GOOG
    start = df.index.tz_localize("UTC").as_unit("ns").asi8
    return Bars(start=start, open=df.Open.to_numpy(float), high=df.High.to_numpy(float), low=df.Low.to_numpy(float),
                close=df.Close.to_numpy(float), volume=df.Volume.to_numpy(float))


def random_walk(n, seed, start=100.0, vol=0.01, drift=0.0):
    """Prices whose opens are not the previous closes; every price > 0."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    open_ = close * np.exp(rng.normal(0, vol / 2, n))
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    return Bars(start=1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * MINUTE_NS, open=open_, high=high,
                low=low, close=close, volume=np.ones(n))


# --------------------------------------------------------------------------------------------
# SmaCross: fast path == event-driven engine
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
@pytest.mark.parametrize("costs", [NO_COSTS, COSTS], ids=["no-costs", "costs"])
def test_sma_cross_on_200k_generated_minutes(minute_bars, fill_model, costs):
    strategy = SmaCross(fast=20, slow=100)
    fast = run_strategy(strategy, minute_bars, balance=100_000, fill_model=fill_model, **costs)
    eng = engine_run(strategy, minute_bars, MINUTE_NS, balance=100_000, fill_model=fill_model, **costs)
    assert len(eng.round_trips) > 1000
    assert_agree(fast, eng, minute_bars, MINUTE_NS)


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
@pytest.mark.parametrize("costs", [NO_COSTS, COSTS], ids=["no-costs", "costs"])
def test_sma_cross_on_gapped_minutes_with_a_fraction(gapped_minute_bars, fill_model, costs):
    strategy = SmaCross(fast=15, slow=60, fraction=0.8)
    fast = run_strategy(strategy, gapped_minute_bars, balance=50_000, fill_model=fill_model, **costs)
    eng = engine_run(strategy, gapped_minute_bars, MINUTE_NS, balance=50_000, fill_model=fill_model, **costs)
    assert len(eng.round_trips) > 500
    assert_agree(fast, eng, gapped_minute_bars, MINUTE_NS)


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
@pytest.mark.parametrize("costs", [NO_COSTS, COSTS], ids=["no-costs", "costs"])
def test_sma_cross_on_real_daily_goog(goog, fill_model, costs):
    """Real daily data with weekend and holiday gaps, ticked daily on a 24/7 clock."""
    strategy = SmaCross(fast=10, slow=30)
    fast = run_strategy(strategy, goog, balance=10_000, fill_model=fill_model, **costs)
    eng = engine_run(strategy, goog, DAY_NS, balance=10_000, fill_model=fill_model, **costs)
    assert len(eng.round_trips) > 20
    assert_agree(fast, eng, goog, DAY_NS, contiguous=False)


def test_goog_next_open_no_costs_is_backtesting_py_too(goog):
    """The peer test's configuration: the fast path also reproduces backtesting.py's final equity."""
    import sys as _sys

    strategy = SmaCross(fast=10, slow=30, fraction=1 - _sys.float_info.epsilon)
    fast = run_strategy(strategy, goog, balance=10_000, fill_model="next_open")
    eng = engine_run(strategy, goog, DAY_NS, balance=10_000, fill_model="next_open")
    assert fast.final_equity == eng.final_equity


def test_signals_method_is_the_on_candle_decision(minute_bars):
    s = SmaCross(fast=5, slow=30)
    entries, exits = s.signals(minute_bars)
    f, w = sma(minute_bars["close"], 5), sma(minute_bars["close"], 30)
    expected = [i for i in range(1, len(f)) if f[i - 1] < w[i - 1] and f[i] > w[i]]
    assert np.flatnonzero(entries).tolist() == expected
    assert not (entries & exits).any()
    # a plain dict of columns works as well as a Bars
    e2, x2 = s.signals({k: v for k, v in minute_bars.items()})
    assert np.array_equal(entries, e2) and np.array_equal(exits, x2)
    assert supports_signals(SmaCross) and supports_signals(s)
    assert not supports_signals(GridStrategy)
    with pytest.raises(ValueError, match="no vectorised form"):
        run_strategy(GridStrategy(), minute_bars, balance=1000)


# --------------------------------------------------------------------------------------------
# Arbitrary signals, every direction, fixed sizes, liquidations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction,fraction", [("long", 1.0), ("short", 0.5), ("both", 0.6)])
@pytest.mark.parametrize("fill_model", ["next_open", "close"])
@pytest.mark.parametrize("costs", [NO_COSTS, COSTS], ids=["no-costs", "costs"])
def test_random_signals_match_the_engine(direction, fraction, fill_model, costs):
    bars = random_walk(3000, seed=len(direction) + (fill_model == "close"))
    rng = np.random.default_rng(42)
    entries = rng.random(3000) < 0.03
    exits = rng.random(3000) < 0.03
    kwargs = dict(balance=25_000, fill_model=fill_model, **costs)
    fast = run_signals(bars["open"], bars["high"], bars["low"], bars["close"], entries, exits, fraction=fraction,
                       direction=direction, **kwargs)
    eng = engine_run(SignalReplay(entries, exits, direction, fraction), bars, MINUTE_NS, **kwargs)
    assert len(eng.round_trips) > 30
    assert (entries & exits).any()  # same-bar signals are exercised
    assert_agree(fast, eng, bars, MINUTE_NS)


def test_all_in_shorts_are_rejected_by_the_margin_rule():
    """Short margin is 1.5 × price per share: an all-in short cannot pass the free-margin check."""
    bars = random_walk(500, seed=1)
    entries = np.zeros(500, dtype=bool)
    entries[[10, 100, 200]] = True
    exits = np.zeros(500, dtype=bool)
    fast = run_signals(bars["open"], bars["high"], bars["low"], bars["close"], entries, exits, balance=10_000,
                       direction="short")
    eng = engine_run(SignalReplay(entries, exits, "short", 1.0), bars, MINUTE_NS, balance=10_000,
                     fill_model="next_open")
    assert fast.rejected == 3 and fast.trade_count == 0 and fast.position == 0
    assert [o.status for o in eng.orders] == ["rejected"] * 3
    assert_agree(fast, eng, bars, MINUTE_NS)


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
def test_fixed_size_orders(fill_model):
    bars = random_walk(2000, seed=9)
    rng = np.random.default_rng(3)
    entries, exits = rng.random(2000) < 0.05, rng.random(2000) < 0.05
    kwargs = dict(balance=5_000, fill_model=fill_model, **COSTS)
    fast = run_signals(bars["open"], bars["high"], bars["low"], bars["close"], entries, exits, size=80,
                       direction="both", **kwargs)
    eng = engine_run(SignalReplay(entries, exits, "both", size=80), bars, MINUTE_NS, **kwargs)
    assert fast.rejected > 0  # 80 shares of a short need more margin than the account has at times
    assert_agree(fast, eng, bars, MINUTE_NS)


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
@pytest.mark.parametrize("direction,drift", [("long", -0.002), ("short", 0.002)])
def test_liquidation(fill_model, direction, drift):
    """A position that loses half its value (long all-in) or a short into a rally is liquidated at
    the close, as the engine does, and the strategy opens again on the next entry."""
    bars = random_walk(1500, seed=11, vol=0.004, drift=drift)
    entries = np.zeros(1500, dtype=bool)
    entries[[5, 800]] = True
    exits = np.zeros(1500, dtype=bool)
    fraction = 1.0 if direction == "long" else 0.6
    kwargs = dict(balance=100_000, fill_model=fill_model, **COSTS)
    fast = run_signals(bars["open"], bars["high"], bars["low"], bars["close"], entries, exits, fraction=fraction,
                       direction=direction, **kwargs)
    eng = engine_run(SignalReplay(entries, exits, direction, fraction), bars, MINUTE_NS, **kwargs)
    assert fast.liquidations >= 1 and fast.trades["liquidation"].any()
    assert any(o.tag.startswith("liquidation") for o in eng.orders)
    assert_agree(fast, eng, bars, MINUTE_NS)


# --------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------


def flat_prices(n, price=100.0):
    p = np.full(n, price)
    return Bars(start=np.arange(n, dtype=np.int64) * MINUTE_NS, open=p, high=p, low=p, close=p, volume=np.ones(n))


def ramp(n):
    c = 100.0 + np.arange(n, dtype=float)
    o = c - 0.5
    return Bars(start=np.arange(n, dtype=np.int64) * MINUTE_NS, open=o, high=c + 1, low=o - 1, close=c,
                volume=np.ones(n))


def both_ways(bars, entries, exits, fill_model, **kw):
    kw.setdefault("balance", 10_000)
    fast = run_signals(bars["open"], bars["high"], bars["low"], bars["close"], np.asarray(entries, bool),
                       np.asarray(exits, bool), fill_model=fill_model, **kw)
    replay = SignalReplay(entries, exits, kw.get("direction", "long"), kw.get("fraction") or 1.0, kw.get("size"))
    eng = engine_run(replay, bars, MINUTE_NS, balance=kw["balance"], fill_model=fill_model,
                     commission=kw.get("commission"), slippage=kw.get("slippage"))
    assert_agree(fast, eng, bars, MINUTE_NS)
    return fast


def test_signal_on_the_last_bar():
    bars = ramp(10)
    entries = [False] * 9 + [True]
    exits = [False] * 10
    # close model: the order fills on the completion tick at the last close
    fast = both_ways(bars, entries, exits, "close", commission=Commission(per_order=2.0))
    assert fast.position == 10_000 // 109 and fast.open_entry_index == 9 and fast.open_entry_price == 109.0
    assert fast.final_equity == 10_000 - 2.0 and fast.equity[-1] == 10_000
    # next_open: there is no next bar, the order never fills
    fast = both_ways(bars, entries, exits, "next_open", commission=Commission(per_order=2.0))
    assert fast.position == 0 and fast.fill_count == 0 and fast.final_equity == 10_000


def test_exit_on_the_last_bar_and_open_position_at_the_end():
    bars = ramp(8)
    entries = [True] + [False] * 7
    exits = [False] * 7 + [True]
    fast = both_ways(bars, entries, exits, "close")
    assert fast.trade_count == 1 and fast.trades["exit_index"][0] == 7 and fast.position == 0
    fast = both_ways(bars, entries, exits, "next_open")
    assert fast.trade_count == 0 and fast.position > 0 and fast.open_entry_index == 1


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
def test_entry_and_exit_on_the_same_bar(fill_model):
    bars = ramp(12)
    e = np.zeros(12, bool)
    x = np.zeros(12, bool)
    e[[2, 5, 8]] = True
    x[[5, 8]] = True
    # long: flat at bar 2 -> enter; long at bar 5 -> the exit acts; flat at bar 8 -> the entry acts
    fast = both_ways(bars, e, x, fill_model)
    assert fast.trade_count == 1 and fast.position > 0
    off = 0 if fill_model == "close" else 1
    assert fast.trades["entry_index"].tolist() == [2 + off] and fast.trades["exit_index"].tolist() == [5 + off]
    assert fast.open_entry_index == 8 + off
    # both: conflicting signals on a bar do nothing
    fast = both_ways(bars, e, x, fill_model, direction="both", fraction=0.5)
    assert fast.trade_count == 0 and fast.position > 0 and fast.open_entry_index == 2 + off


@pytest.mark.parametrize("fill_model", ["next_open", "close"])
def test_sizing_to_zero_shares_is_rejected(fill_model):
    bars = flat_prices(6, price=100.0)
    e = np.array([True, False, True, False, False, False])
    x = np.zeros(6, bool)
    fast = both_ways(bars, e, x, fill_model, balance=99.0)
    assert fast.rejected == 2 and fast.fill_count == 0 and fast.trade_count == 0
    assert np.all(fast.equity == 99.0) and fast.final_equity == 99.0


def test_all_nan_warm_up_gives_no_trades(minute_bars):
    short = Bars({k: v[:150] for k, v in minute_bars.items()})
    strategy = SmaCross(fast=100, slow=200)  # the slow SMA never gets a value in 150 bars
    entries, exits = strategy.signals(short)
    assert not entries.any() and not exits.any()
    for fill_model in ("next_open", "close"):
        fast = run_strategy(strategy, short, balance=1000, fill_model=fill_model)
        eng = engine_run(strategy, short, MINUTE_NS, balance=1000, fill_model=fill_model)
        assert fast.trade_count == 0 and np.all(fast.equity == 1000)
        assert_agree(fast, eng, short, MINUTE_NS)


def test_one_bar():
    bars = flat_prices(1)
    fast = both_ways(bars, [True], [False], "close")
    assert fast.position == 100 and len(fast.equity) == 1


def test_crossover_definition():
    a = np.array([np.nan, 1.0, 3.0, 2.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    b = np.full(9, 2.0)
    # strict on both bars: a move through a touch (2 == 2) is not a cross, NaN never crosses
    assert np.flatnonzero(crossover(a, b)).tolist() == [2]
    assert np.flatnonzero(crossover(b, a)).tolist() == [6]
    assert crossover([], []).tolist() == []
    up, down = crossings(a, b)  # both directions at once: the same arrays
    assert np.array_equal(up, crossover(a, b)) and np.array_equal(down, crossover(b, a))
    assert [x.tolist() for x in crossings([1.0], [2.0])] == [[False], [False]]


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


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_input_raises_value_error_naming_the_problem():
    p = np.array([10.0, 11.0, 12.0, 13.0])
    t = np.array([True, False, False, False])
    f = np.zeros(4, bool)

    def call(**kw):
        args = dict(open=p, high=p, low=p, close=p, entries=t, exits=f, balance=1000.0)
        args.update(kw)
        o, h, l, c, e, x = (args.pop(k) for k in ("open", "high", "low", "close", "entries", "exits"))
        return run_signals(o, h, l, c, e, x, **args)

    with pytest.raises(ValueError, match="length mismatch: the prices have 4 bars but entries has 3"):
        call(entries=t[:3])
    with pytest.raises(ValueError, match="lengths differ: close has length 4 but high has length 5"):
        call(high=np.append(p, 1.0))
    with pytest.raises(ValueError, match="entries must be a boolean array.*int64"):
        call(entries=t.astype(np.int64))
    with pytest.raises(ValueError, match="exits must be a boolean array.*float64"):
        call(exits=f.astype(float))
    with pytest.raises(ValueError, match=r"close is not finite at index 2 \(nan\)"):
        call(close=np.array([10.0, 11.0, np.nan, 13.0]))
    with pytest.raises(ValueError, match="open is not finite at index 0"):
        call(open=np.array([np.inf, 11.0, 12.0, 13.0]))
    with pytest.raises(ValueError, match="low is not finite at index 3"):
        call(low=np.array([10.0, 11.0, 12.0, np.nan]))
    with pytest.raises(ValueError, match="close must be > 0"):
        call(close=np.array([10.0, 0.0, 12.0, 13.0]))
    with pytest.raises(ValueError, match="open must be 1-D"):
        call(open=p.reshape(2, 2))
    with pytest.raises(ValueError, match="entries must be 1-D"):
        call(entries=np.vstack([t, t]))
    with pytest.raises(ValueError, match="empty"):
        e = np.zeros(0)
        run_signals(e, e, e, e, e.astype(bool), e.astype(bool), balance=1)
    with pytest.raises(ValueError, match="fill_model must be one of"):
        call(fill_model="open")
    with pytest.raises(ValueError, match="direction must be one of"):
        call(direction="sideways")
    with pytest.raises(ValueError, match="balance must be > 0"):
        call(balance=0)
    with pytest.raises(ValueError, match="balance must be a finite number"):
        call(balance=float("nan"))
    with pytest.raises(ValueError, match="fraction must be <= 1"):
        call(fraction=1.5)
    with pytest.raises(ValueError, match="fraction must be > 0"):
        call(fraction=0)
    with pytest.raises(ValueError, match="either fraction .* or size"):
        call(fraction=0.5, size=10)
    with pytest.raises(ValueError, match="size must be > 0"):
        call(size=-1)
    with pytest.raises(ValueError, match="commission must be None or a Commission"):
        call(commission=0.001)
    with pytest.raises(ValueError, match="slippage must be None or a Slippage"):
        call(slippage={"rate": 0.1})


def test_bad_batch_input():
    p = np.array([10.0, 11.0, 12.0])
    e = np.zeros((2, 3), bool)
    with pytest.raises(ValueError, match=r"entries must be 2-D \(n_runs, n_bars\)"):
        run_signals_batch(p, p, p, p, e[0], e[0], balance=10)
    with pytest.raises(ValueError, match="entries has 2 runs but exits has 1"):
        run_signals_batch(p, p, p, p, e, e[:1], balance=10)
    with pytest.raises(ValueError, match=r"fraction must be a number or one per run \(shape \(2,\)\)"):
        run_signals_batch(p, p, p, p, e, e, balance=10, fraction=[0.5])
    with pytest.raises(ValueError, match="fraction values must be finite and in"):
        run_signals_batch(p, p, p, p, e, e, balance=10, fraction=[0.5, 2.0])
    lines = np.vstack([p, p])
    with pytest.raises(ValueError, match="pairs index lines out of range"):
        run_crossover_batch(p, p, p, p, lines, [[0, 2]], balance=10)
    with pytest.raises(ValueError, match="pairs must be an integer array"):
        run_crossover_batch(p, p, p, p, lines, [[0.0, 1.0]], balance=10)
    with pytest.raises(ValueError, match=r"lines must have shape \(n_lines, 3\)"):
        run_crossover_batch(p, p, p, p, lines[:, :2], [[0, 1]], balance=10)


# --------------------------------------------------------------------------------------------
# Purity and cold start
# --------------------------------------------------------------------------------------------


def test_import_is_pure_and_numba_is_loaded_on_first_use():
    code = textwrap.dedent("""
        import sys
        import backtestester.fastpath, backtestester.strategy
        assert not [m for m in sys.modules if m.split('.')[0] in ('ray', 'grpc', 'numba')], sorted(sys.modules)
        import numpy as np
        from backtestester.fastpath import run_signals
        p = np.array([1.0, 2.0]); e = np.array([True, False])
        run_signals(p, p, p, p, e, ~e, balance=10.0)
        assert 'numba' in sys.modules and not [m for m in sys.modules if m.split('.')[0] in ('ray', 'grpc')]
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_fresh_process_compiles_into_the_cache_and_the_next_one_reuses_it(tmp_path):
    """A fresh process with an empty numba cache compiles and runs the kernels (single runs and
    serial batches share one; the threaded one is separate) and writes them to the cache; a
    second process runs from it. How long that takes is a benchmark's business
    (benchmarks/bench_fastpath.py prints cold and warm times), not a test's."""
    code = textwrap.dedent("""
        import numpy as np
        from backtestester.fastpath import run_signals, run_crossover_batch
        p = np.array([10.0, 11.0, 12.0, 11.0]); e = np.array([True, False, False, False])
        print(run_signals(p, p, p, p, e, ~e, balance=100.0).final_equity)
        run_crossover_batch(p, p, p, p, np.vstack([p, p[::-1]]), [[0, 1]], balance=100.0, parallel=True)
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    cold = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    cached = sorted(p.name for p in tmp_path.rglob("*.nbi"))
    assert cached, "numba wrote no cache index"
    warm = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert warm.stdout == cold.stdout
    assert sorted(p.name for p in tmp_path.rglob("*.nbi")) == cached  # nothing recompiled into new entries
