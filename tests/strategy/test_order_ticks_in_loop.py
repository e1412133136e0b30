"""Ticks with pending orders run inside the quiet loop (one repository, ``next_open``, cost margin):
every hook call, fill, rejection, expiry and equity point is what :meth:`Playground.step` and the
runner give when those ticks are handed over to ``step``, as they were before."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from backtestester.data.synthetic import generate_bars
from backtestester.engine import Playground, Repository
from backtestester.strategy import Strategy
from backtestester.strategy.broker import LocalBroker
from backtestester.strategy.runner import run_on_broker


class Busy(Strategy):
    """Trades often and in every way a tick with pending orders can end: market buys sized at the
    fill, closes, fills the margin check rejects, day limit orders that expire, and a cancel."""

    def on_start(self, ctx):
        self.calls, self.n = [], 0

    def on_candle(self, ctx, bar):
        self.n += 1
        self.calls.append(("candle", bar.index, ctx.time, ctx.account().equity))
        held = ctx.quantity(bar.symbol)
        if self.n % 7 == 0 and not held:
            ctx.buy(bar.symbol, fraction=0.5)
        elif self.n % 7 == 3 and held:
            ctx.close(bar.symbol)
        elif self.n % 53 == 0:
            ctx.buy(bar.symbol, 1e9)  # refused by the margin check at the fill: on_reject
        elif self.n % 61 == 0:
            ctx.buy(bar.symbol, 1, order_type="limit", price=bar.close * 0.5)  # never fills: expires
        elif self.n % 97 == 0:
            order = ctx.buy(bar.symbol, 1, order_type="limit", price=bar.close * 0.5, duration="gtc")
            ctx.cancel(order.id)

    def on_fill(self, ctx, trade, order):
        self.calls.append(("fill", ctx.time, order.id, trade.quantity, trade.price, ctx.account().balance))

    def on_reject(self, ctx, order):
        self.calls.append(("reject", ctx.time, order.id, order.reject_reason))

    def on_event(self, ctx, event):
        self.calls.append(("event", ctx.time, event.type, [o.id for o in event.orders]))


class Counting(LocalBroker):
    """A local broker counting the ticks the runner hands to ``step``."""

    def __init__(self, playground):
        super().__init__(playground)
        self.steps, step = 0, self.step

        def counted(step_ns):
            self.steps += 1
            return step(step_ns)
        self.step = counted


class HandOver(Counting):
    """The runner's hand-over of every tick with pending orders to ``step`` (no ``deliver``)."""

    def __init__(self, playground):
        super().__init__(playground)
        self.quiet_ticks = lambda step, on_candle, ctx, max_ticks, deliver=None: playground.quiet_ticks(
            step, on_candle, ctx, max_ticks)


def run(broker_cls, calendar):
    bars = generate_bars("X", timeframe="1m", n_bars=4000, seed=5, calendar="XNYS")
    repo = Repository.from_table("X", timedelta(minutes=1), bars)
    start = bars.column("start")[0].as_py()
    pg = Playground(balance=100_000, start=start, end=bars.column("start")[-1].as_py() + timedelta(minutes=2),
                    repositories=[repo], calendar=calendar, fill_model="next_open", enforce_stop_loss=True)
    strategy, broker = Busy(), broker_cls(pg)
    result = run_on_broker(strategy, broker, timedelta(minutes=1))
    return strategy.calls, result, broker.steps


@pytest.mark.parametrize("calendar", ["XNYS", None])
def test_ticks_with_pending_orders_in_the_loop_are_the_handed_over_ticks(calendar):
    calls, result, steps = run(Counting, calendar)
    expected_calls, expected, handed_over = run(HandOver, calendar)
    assert steps < handed_over / 10  # the ticks with pending orders did stay in the loop
    assert calls == expected_calls
    kinds = {c[0] for c in calls} | {c[2] for c in calls if c[0] == "event"}
    assert {"fill", "reject", "expired"} <= kinds  # the case covers fills, rejections and expiry
    assert [(o.id, o.status, o.reject_reason, o.quantity, o.filled_quantity) for o in result.orders] == \
        [(o.id, o.status, o.reject_reason, o.quantity, o.filled_quantity) for o in expected.orders]
    assert result.trades == expected.trades and result.round_trips == expected.round_trips
    assert result.ticks == expected.ticks and result.final_equity == expected.final_equity
    assert np.array_equal(result.equity_times, expected.equity_times)
    assert np.array_equal(result.equity, expected.equity)
    assert len(result.round_trips) > 50


class StepOnly(Counting):
    """Every tick through ``step`` (no quiet loop at all): the reference semantics."""

    def __init__(self, playground):
        super().__init__(playground)
        self.quiet_ticks = lambda step, on_candle, ctx, max_ticks, deliver=None: 0


class Leveraged(Strategy):
    """Opens ``side`` with about 1.9x (long) or 0.6x (short) the equity at bar 5, then holds."""

    side: str = "buy"

    def on_start(self, ctx):
        self.calls, self.n = [], 0

    def on_candle(self, ctx, bar):
        self.n += 1
        if self.n == 5:
            lever = 1.9 if self.side == "buy" else 0.6
            self.calls.append(("open", ctx.place(bar.symbol, self.side, float(int(lever * ctx.account().equity / bar.close))).id))

    def on_event(self, ctx, event):
        self.calls.append(("event", ctx.time, event.type, [(o.id, o.side, o.quantity) for o in event.orders]))


@pytest.mark.parametrize("side, path", [("buy", (100.0, 40.0)), ("sell_short", (100.0, 260.0))])
def test_quiet_loop_liquidates_on_the_tick_step_does(side, path):
    """A position the market moves against: the quiet loop hands over the tick whose equity is
    below the maintenance margin, so the liquidation is step's, on the same tick."""
    n = 600
    closes = np.linspace(*path, n)
    start_ns = np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_704_067_200_000_000_000  # 2024-01-01 UTC
    runs = []
    for broker_cls in (Counting, StepOnly):
        repo = Repository.from_arrays("X", timedelta(minutes=1), start_ns, closes, closes + 0.5, closes - 0.5, closes)
        pg = Playground(balance=100_000, start=repo.candle(0).start, end=repo.candle(n - 1).start + timedelta(minutes=2),
                        repositories=[repo], fill_model="next_open", enforce_stop_loss=True)
        strategy = Leveraged(side=side)
        result = run_on_broker(strategy, broker_cls(pg), timedelta(minutes=1))
        runs.append((strategy.calls, result))
    (calls, result), (expected_calls, expected) = runs
    assert calls == expected_calls and any(c[0] == "event" and c[2] == "liquidation" for c in calls)
    assert result.trades == expected.trades and np.array_equal(result.equity, expected.equity)
    assert np.array_equal(result.equity_times, expected.equity_times) and result.ticks == expected.ticks



@pytest.mark.parametrize("timeframe, step, calendar", [
    ("5m", timedelta(minutes=2), "XNYS"),   # a candle every few ticks, sessions not a multiple of the step
    ("1m", timedelta(seconds=45), "XNYS"),  # ticks between candles, some revealing none
    ("1m", timedelta(minutes=3), "XNYS"),   # several candles revealed by one tick
    ("5m", timedelta(minutes=7), None),     # no calendar: overnight gaps ticked through
])
def test_chunked_quiet_loop_ticks_as_step_does(timeframe, step, calendar):
    """The quiet loop runs a session's ticks from times and cursors computed at once: every hook
    call (with the candle index, clock and equity it sees), fill and equity point is what ticking
    every tick through ``step`` gives, whatever the step against the candles' period."""
    bars = generate_bars("X", timeframe=timeframe, n_bars=1500, seed=7, calendar="XNYS")
    period = timedelta(minutes=int(timeframe[:-1]))
    outcomes = []
    for broker_cls in (Counting, StepOnly):
        repo = Repository.from_table("X", period, bars)
        start = bars.column("start")[0].as_py() - timedelta(minutes=10)  # before the first candle
        pg = Playground(balance=100_000, start=start, end=bars.column("start")[-1].as_py() + 2 * period,
                        repositories=[repo], calendar=calendar, fill_model="next_open")
        strategy, broker = Busy(), broker_cls(pg)
        result = run_on_broker(strategy, broker, step)
        outcomes.append((strategy.calls, result, broker))
    (calls, result, loop), (expected_calls, expected, _) = outcomes
    assert loop.steps < result.ticks / 10  # the loop did run the ticks
    assert calls == expected_calls and len(calls) > 300
    assert result.trades == expected.trades and len(result.round_trips) > 20
    assert result.ticks == expected.ticks and result.final_equity == expected.final_equity
    assert np.array_equal(result.equity_times, expected.equity_times)
    assert np.array_equal(result.equity, expected.equity)
