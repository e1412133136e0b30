"""Shared helpers of the fast-path tests: the event-driven twin (:class:`SignalReplay`), the
comparisons of both paths, and the bar data."""
from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from backtestester.data.synthetic import generate_bars
from backtestester.engine import Commission, Repository, Slippage
from backtestester.fastpath import (
    Bars,
)
from backtestester.strategy import Strategy, run_backtest

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
        assert_same_statistics(fast.statistics(start, period_ns, close=bars["close"]), eng.statistics)
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
