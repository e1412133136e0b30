"""``ctx.indicator`` called in ``on_candle`` (as the docs suggest) computes its series once per run
per (symbol, period, function, arguments, source), and the values are those of one computation."""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from backtestester.data.indicators import rsi, sma
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.strategy import SmaCross, Strategy, run_backtest


class Counted:
    """A causal indicator function that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0
        self.__name__ = fn.__name__

    def __call__(self, values, *args):
        self.calls += 1
        return self.fn(values, *args)


class RsiInCandle(Strategy):
    """An RSI strategy written as the docs suggest: the indicator asked for in ``on_candle``."""

    period: int = 14
    low: float = 30.0
    high: float = 70.0

    def on_start(self, ctx):
        self.seen = []

    def on_candle(self, ctx, bar):
        line = ctx.indicator(bar.symbol, bar.period, self.fn, self.period)
        also = ctx.indicator(bar.symbol, bar.period, self.fn, self.period, source="open")
        ctx.indicator(bar.symbol, bar.period, self.fn, self.period + 1)
        self.seen.append((line[-1], also[-1]))
        held = ctx.position(bar.symbol).quantity
        if line[-1] < self.low and not held:
            ctx.buy(bar.symbol, fraction=1.0)
        elif line[-1] > self.high and held:
            ctx.close(bar.symbol)


def _repos(n=3000, symbols=("AAA",)):
    return [Repository.from_table(s, timedelta(minutes=1),
                                  generate_bars(s, timeframe="1m", n_bars=n, seed=5 + i, calendar=None))
            for i, s in enumerate(symbols)]


def test_each_series_is_computed_once_per_run_and_key():
    counted = Counted(rsi)
    strategy = RsiInCandle()
    strategy.fn = counted
    result = run_backtest(strategy, _repos(), balance=100_000, calendar=None)
    assert len(strategy.seen) == 3000 and len(result.trades) > 4  # it reads every bar and trades
    assert counted.calls == 3  # (close, 14), (open, 14), (close, 15): once each for the whole run
    counted.calls = 0
    again = RsiInCandle()
    again.fn = counted
    run_backtest(again, _repos(), balance=100_000, calendar=None)
    assert counted.calls == 3  # a new run computes its own series (once each again)


def test_one_series_per_symbol():
    counted = Counted(rsi)
    strategy = RsiInCandle()
    strategy.fn = counted
    run_backtest(strategy, _repos(500, ("AAA", "BBB")), balance=100_000, calendar=None)
    assert counted.calls == 6


def test_cached_series_read_the_values_of_one_computation():
    repos = _repos()
    strategy = RsiInCandle()
    strategy.fn = rsi
    result = run_backtest(strategy, repos, balance=100_000, calendar=None)
    close, opens = np.asarray(repos[0].close), np.asarray(repos[0].open)
    expected = list(zip(rsi(close, 14).tolist(), rsi(opens, 14).tolist()))
    np.testing.assert_array_equal(np.array(strategy.seen), np.array(expected))
    # the same run with the series computed by hand in on_start gives the same trades
    by_hand = HandCachedRsi()
    reference = run_backtest(by_hand, _repos(), balance=100_000, calendar=None)
    assert [(t.time_ns, t.quantity, t.price) for t in result.trades] == \
        [(t.time_ns, t.quantity, t.price) for t in reference.trades]
    assert result.final_equity == reference.final_equity


class HandCachedRsi(Strategy):
    def on_candle(self, ctx, bar):
        if not hasattr(self, "line"):
            self.line = ctx.indicator(bar.symbol, bar.period, rsi, 14)
        held = ctx.position(bar.symbol).quantity
        if self.line[-1] < 30 and not held:
            ctx.buy(bar.symbol, fraction=1.0)
        elif self.line[-1] > 70 and held:
            ctx.close(bar.symbol)


def test_unhashable_arguments_still_work():
    class ListArg(Strategy):
        def on_candle(self, ctx, bar):
            self.last = ctx.indicator(bar.symbol, bar.period, lambda v, w: sma(v, w[0]), [3])[-1]

    strategy = ListArg()
    run_backtest(strategy, _repos(50), balance=1000, calendar=None)
    assert strategy.last == float(sma(np.asarray(_repos(50)[0].close), 3)[-1])


def test_sma_cross_results_are_unchanged():
    """The reference strategy (which keeps its own series) gives the same numbers as before."""
    repos = _repos(5000)
    result = run_backtest(SmaCross(fast=10, slow=30), repos, balance=100_000, calendar=None)
    again = run_backtest(SmaCross(fast=10, slow=30), _repos(5000), balance=100_000, calendar=None)
    assert result.final_equity == again.final_equity and len(result.trades) > 10


def test_cross_at_is_cross_at_every_candle():
    """Series.cross_at (crossings computed once, read by index) gives Series.cross at each candle,
    NaN warm-up, equal values and touching lines included; other repositories fall back to cross."""
    from backtestester.strategy.series import Series

    rng = np.random.default_rng(7)
    n = 3000
    closes = np.round(100 + np.cumsum(rng.normal(0, 1, n)), 0)  # rounded: the lines touch and tie
    repo = Repository.from_arrays("X", timedelta(minutes=1), np.arange(n) * 60_000_000_000, closes, closes + 1,
                                  closes - 1, closes)
    fast, slow = Series(sma(closes, 3), repo, "fast"), Series(sma(closes, 8), repo, "slow")
    other = Repository.from_arrays("Y", timedelta(minutes=1), np.arange(n) * 60_000_000_000, closes, closes + 1,
                                   closes - 1, closes)
    elsewhere = Series(sma(closes, 8), other, "slow")
    cross_at, fallback = fast.cross_at(slow), fast.cross_at(elsewhere)
    seen = []
    for i in range(n):
        repo.position = other.position = i
        seen.append(fast.cross(slow))
        assert cross_at(i) == seen[-1] and fallback(i) == fast.cross(elsewhere), i
    assert {1, -1, 0} <= set(seen) and np.isnan(sma(closes, 8)[:7]).all()
