"""A stop-loss or take-profit a strategy asks for acts in every strategy runner (D5: the engine's
protective orders), and is never silently stored only."""
from __future__ import annotations

import pytest

from backtestester.engine import PlaygroundError
from backtestester.strategy import PlaygroundContext, Strategy, run_backtest, run_on_playground

from ..conftest import MINUTE, T0, make_playground, minute_repository

# 100 for three bars, then a slide of one a bar to 78: a long bought at 100 with a 5 % stop
# must leave at 95, not ride the slide to the end.
SLIDE = [100, 100, 100] + list(range(99, 77, -1))


class StoppedLong(Strategy):
    """Buys 100 shares on the first bar with a stop ``stop_pct`` below the close (and an optional
    take-profit ``take_pct`` above it); closes whatever is left on the last bar."""

    stop_pct: float = 0.05
    take_pct: float = 0.0

    def on_start(self, ctx):
        self.bars, self.fills = 0, []

    def on_candle(self, ctx, bar):
        self.bars += 1
        if self.bars == 1:
            tp = bar.close * (1 + self.take_pct) if self.take_pct else None
            ctx.buy(bar.symbol, 100, sl=bar.close * (1 - self.stop_pct), tp=tp)
        elif self.bars == len(bar.repository) and ctx.position(bar.symbol).quantity:
            ctx.close(bar.symbol)

    def on_fill(self, ctx, trade, order):
        self.fills.append((order.tag, trade.price))


def _loss_pct(result):
    [trip] = result.round_trips
    return (trip.exit_price - trip.entry_price) / trip.entry_price * 100


def test_a_five_percent_stop_loses_about_five_percent_not_twenty():
    strategy = StoppedLong()
    result = run_backtest(strategy, [minute_repository(SLIDE)], balance=100_000)
    assert strategy.fills == [("", 100.0), ("sl", 95.0)]
    assert _loss_pct(result) == pytest.approx(-5.0)
    assert result.final_equity == pytest.approx(100_000 - 500)


def test_a_gap_through_the_stop_fills_at_the_open():
    gap = [100, 100, 100, 99, (90, 90, 80, 80), 79, 78]  # opens at 90, below the stop at 95
    strategy = StoppedLong()
    result = run_backtest(strategy, [minute_repository(gap)], balance=100_000)
    assert strategy.fills == [("", 100.0), ("sl", 90.0)]
    assert _loss_pct(result) == pytest.approx(-10.0)  # the 5 % stop plus the gap, not the slide to 78


def test_take_profit_acts_and_cancels_the_stop():
    rise = [100, 100, 100, 101, 102, 103, 104, 105, 106, 107]
    strategy = StoppedLong(take_pct=0.04)
    result = run_backtest(strategy, [minute_repository(rise)], balance=100_000)
    assert strategy.fills == [("", 100.0), ("tp", 104.0)]
    assert _loss_pct(result) == pytest.approx(4.0)
    assert {o.tag: o.status for o in result.orders if o.tag} == {"sl": "canceled", "tp": "filled"}


def test_run_backtest_refuses_to_store_sl_only():
    with pytest.raises(ValueError, match="always enforces a strategy's sl and tp"):
        run_backtest(StoppedLong(), [minute_repository(SLIDE)], balance=100_000, enforce_stop_loss=False)


def test_run_on_playground_turns_enforcement_on():
    pg = make_playground({"AAPL": SLIDE})
    assert pg.enforce_stop_loss is False  # the engine's default stays the original's (D5)
    strategy = StoppedLong()
    result = run_on_playground(strategy, pg, MINUTE)
    assert strategy.fills[-1] == ("sl", 95.0) and _loss_pct(result) == pytest.approx(-5.0)


def test_a_context_over_a_playground_that_would_only_store_sl_refuses_it():
    pg = make_playground({"AAPL": SLIDE})
    pg.tick(60)
    ctx = PlaygroundContext(pg)
    with pytest.raises(PlaygroundError, match="stored only, never acted on.*enforce_stop_loss=True"):
        ctx.buy("AAPL", 10, sl=95.0)
    with pytest.raises(PlaygroundError, match="enforce_stop_loss=True"):
        ctx.buy("AAPL", 10, tp=105.0)
    assert ctx.buy("AAPL", 10).status == "pending"  # without sl/tp nothing changes
    assert T0 + MINUTE == ctx.time
