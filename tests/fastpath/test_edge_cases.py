"""Fast-path edge cases against the engine: signals on the last bar, same-bar entry and exit,
sizing to zero, warm-up NaNs, one bar, and the crossover definition."""
from __future__ import annotations

import numpy as np
import pytest

from backtestester.engine import Commission
from backtestester.fastpath import (
    Bars,
    crossings,
    crossover,
    run_signals,
    run_strategy,
)
from backtestester.strategy import SmaCross

from .conftest import MINUTE_NS, SignalReplay, assert_agree, engine_run

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
