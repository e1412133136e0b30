"""The strategy API, the runner and the reference strategies."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from backtestester.data.indicators import sma
from backtestester.engine import PlaygroundError
from backtestester.strategy import GridStrategy, SmaCross, Strategy, load_strategy, run_backtest

from ..conftest import MINUTE, T0, minute_repository


class Probe(Strategy):
    """Records every hook call; buys once, then tries an order the margin check rejects."""

    size: int = 1
    label: str = "x"
    ratio: float = 0.5
    flag: bool = False

    def on_start(self, ctx):
        self.calls = ["start"]

    def on_candle(self, ctx, bar):
        self.calls.append(("candle", bar.symbol, bar.close, ctx.time))
        if len(self.calls) == 2:
            ctx.buy(bar.symbol, self.size)
        elif len(self.calls) == 4:
            ctx.buy(bar.symbol, 10_000)

    def on_fill(self, ctx, trade, order):
        self.calls.append(("fill", order.id, trade.price))

    def on_reject(self, ctx, order):
        self.calls.append(("reject", order.id, order.reject_reason.split(":")[0]))

    def on_stop(self, ctx):
        self.calls.append("stop")


def test_parameters_are_typed_fields():
    s = Probe(size=3, ratio=2)
    assert s.params == {"size": 3, "label": "x", "ratio": 2.0, "flag": False}
    with pytest.raises(ValueError, match="unknown parameter"):
        Probe(sizes=3)
    with pytest.raises(ValueError, match="parameter size must be int"):
        Probe(size="3")
    with pytest.raises(ValueError, match="parameter size must be int"):
        Probe(size=True)


def test_hooks_are_called_in_order_with_the_context():
    strategy = Probe()
    result = run_backtest(strategy, [minute_repository([100, 101, 102, 103, 104])], balance=1000)
    assert strategy.calls[0] == "start" and strategy.calls[-1] == "stop"
    assert strategy.calls[1] == ("candle", "AAPL", 100, T0 + MINUTE)
    assert ("fill", 1, 100) in strategy.calls
    assert ("reject", 2, "insufficient free margin") in strategy.calls
    assert [o.status for o in result.orders] == ["filled", "rejected"]


def test_sma_cross_validates_its_parameters():
    with pytest.raises(ValueError, match="fast < slow"):
        SmaCross(fast=30, slow=10)


def test_indicator_series_reads_backwards_from_the_current_bar():
    """ctx.indicator: series[-1] is the current bar's value; reading ahead is refused."""
    seen = []

    class Reader(Strategy):
        def on_candle(self, ctx, bar):
            if not hasattr(self, "line"):
                self.line = ctx.indicator(bar.symbol, bar.period, sma, 2)
            seen.append((bar.close, self.line[-1], self.line[-2]))
            with pytest.raises(IndexError, match="read backwards"):
                self.line[0]

    run_backtest(Reader(), [minute_repository([1, 3, 5, 7])])
    assert seen[0][0] == 1 and np.isnan(seen[0][1]) and np.isnan(seen[0][2])
    assert seen[1][:2] == (3, 2.0) and np.isnan(seen[1][2])
    assert seen[2:] == [(5, 4.0, 2.0), (7, 6.0, 4.0)]


def test_indicator_must_return_one_value_per_candle():
    class Bad(Strategy):
        def on_candle(self, ctx, bar):
            ctx.indicator(bar.symbol, bar.period, lambda c: c[:-1])

    with pytest.raises(ValueError, match="expected one value per candle"):
        run_backtest(Bad(), [minute_repository([1, 2])])


def test_grid_strategy_gives_the_original_signals():
    """Spec 18.6 sample: levels 100..110 x5, closes 102, 104, 107, 109 -> BUY, SELL, BUY, SELL."""
    strategy = GridStrategy(lower=100, upper=110, grid_size=5, quantity=1)
    result = run_backtest(strategy, [minute_repository([102, 104, 107, 109])], balance=10_000)
    assert strategy.signals == ["BUY", "SELL", "BUY", "SELL"]
    assert [(t.quantity, t.price) for t in result.trades] == [(1, 102), (-1, 104), (1, 107), (-1, 109)]
    assert result.final_equity == 10_000 + 2 + 2


def test_runner_result_has_trades_round_trips_equity_and_statistics():
    prices = list(np.round(100 + 10 * np.sin(np.arange(300) / 15), 2))
    result = run_backtest(SmaCross(fast=5, slow=20), [minute_repository(prices)], balance=10_000, fill_model="next_open")
    assert result.statistics.trade_count == len(result.round_trips) > 0
    open_pl = sum(p.pl for p in result.account.positions.values())
    assert result.final_equity == result.equity[-1] == result.account.equity
    assert result.final_equity == pytest.approx(10_000 + sum(r.pnl for r in result.round_trips) + open_pl)
    assert len(result.equity_times) == len(result.equity) == result.ticks + 1
    assert result.statistics.initial_equity == 10_000


def test_a_strategy_that_raises_propagates_with_its_traceback():
    class Broken(Strategy):
        def on_candle(self, ctx, bar):
            raise RuntimeError("boom in strategy")

    with pytest.raises(RuntimeError, match="boom in strategy"):
        run_backtest(Broken(), [minute_repository([100, 101])])


def test_load_strategy_by_name():
    assert load_strategy("backtestester.strategy.reference:SmaCross") is SmaCross
    with pytest.raises(ValueError, match="package.module:Class"):
        load_strategy("SmaCross")
    with pytest.raises(ValueError, match="cannot import"):
        load_strategy("no_such_module:X")
    with pytest.raises(ValueError, match="not a Strategy"):
        load_strategy("backtestester.strategy.series:Series")


def test_same_backtest_twice_is_identical():
    prices = list(np.round(100 + 10 * np.sin(np.arange(300) / 15), 2))
    a = run_backtest(SmaCross(fast=5, slow=20), [minute_repository(prices)], balance=10_000)
    b = run_backtest(SmaCross(fast=5, slow=20), [minute_repository(prices)], balance=10_000)
    assert a.trades == b.trades and np.array_equal(a.equity, b.equity) and a.statistics == b.statistics


def test_importing_the_core_loads_neither_ray_nor_grpc():
    code = ("import sys, backtestester.engine, backtestester.strategy, backtestester.stats; "
            "print(sorted(m for m in ('ray', 'grpc', 'actors') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class PromisesFifteenMinutes(Strategy):
    """Declares 15-minute decisions; ``act_on`` is the candle period (s) it buys and cancels on."""

    act_on: int = 900

    def decision_periods(self):
        return (900,)

    def on_candle(self, ctx, bar):
        if bar.period.total_seconds() == self.act_on and ctx.position(bar.symbol).quantity == 0:
            order = ctx.buy(bar.symbol, 1, order_type="limit", price=1.0)
            ctx.cancel(order.id)


def test_a_local_run_keeps_the_decision_periods_promise():
    prices = [100 + i % 7 for i in range(60)]
    fifteen = minute_repository(prices[::15], period=15 * MINUTE)
    kept = run_backtest(PromisesFifteenMinutes(), [minute_repository(prices), fifteen])
    assert [o.status for o in kept.orders] == ["canceled"] * len(kept.orders) and kept.orders
    with pytest.raises(PlaygroundError, match=r"tried to place an order on a candle outside its decision_periods \[900\] s"):
        run_backtest(PromisesFifteenMinutes(act_on=60), [minute_repository(prices), fifteen])


def test_in_market_of_one_symbol_is_the_running_quantity_test():
    """One symbol takes the vectorised running sum: the same flags as the per-fill loop, residues
    of inexact additions (|q| <= 1e-9 counts as flat) included."""
    from backtestester.engine import Trade
    from backtestester.strategy.runner import in_market

    rng = np.random.default_rng(3)
    trades, held = [], 0.0
    for i in range(400):
        q = float(rng.choice([0.1, 0.2, 0.3, 1.7, 3.0]))
        q = -held if held and rng.random() < 0.4 else q  # closes, often to an inexact zero
        held += q
        trades.append(Trade(i + 1, 1_000 * (i + 1), q, 10.0, i + 1))
    times = np.arange(0, 410_000, 500).astype("datetime64[ns]")
    flags, running = [], 0.0
    for t in trades:
        running += t.quantity
        flags.append(abs(running) > 1e-9)
    idx = np.searchsorted(np.array([t.time_ns for t in trades], dtype="datetime64[ns]"), times, side="right") - 1
    expected = np.where(idx >= 0, np.asarray(flags)[np.maximum(idx, 0)], False)
    got = in_market(trades, times, {t.order_id: "X" for t in trades})
    assert got.tolist() == expected.tolist() and 0 < got.sum() < len(got)
