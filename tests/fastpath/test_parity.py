"""The fast path (compiled signal backtests) against the event-driven engine.

Both paths run the same strategy on the same bars, on a 24/7 clock stepping by the bar period
(what ``run_backtest`` does with ``calendar=None``): trades (times, prices, quantities,
commissions, P/L), the equity curve, the final equity and the statistics must be identical,
float for float. The kernel uses the engine's operations in the engine's order, so no tolerance
is needed anywhere below. On bars with gaps (GOOG's weekends) the engine ticks through the gaps;
there the fast path's points are compared with the engine's points at the bars' times.
"""
from __future__ import annotations

import numpy as np
import pytest

from backtestester.data.indicators import sma
from backtestester.fastpath import (
    run_signals,
    run_strategy,
    supports_signals,
)
from backtestester.strategy import GridStrategy, SmaCross

from .conftest import (
    COSTS,
    DAY_NS,
    MINUTE_NS,
    NO_COSTS,
    SignalReplay,
    assert_agree,
    engine_run,
    random_walk,
)

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
