"""A placement the account refuses is a rejected order (``on_reject``, counted, a warning the first
time), not an exception that aborts the run; ``strict=True`` raises it; bad input still raises."""
from __future__ import annotations

import logging

import pytest

from backtestester.engine import OrderRejected, PlaceOrderError
from backtestester.strategy import PlaygroundContext, Strategy, run_backtest

from ..conftest import make_playground, minute_repository

PRICES = [100, 101, 102, 103, 104, 105]


class SellsFirst(Strategy):
    """``ctx.sell`` with no position on every bar until ``rejects`` were seen, then buys once."""

    rejects: int = 2

    def on_start(self, ctx):
        self.returned, self.rejected, self.bought = [], [], False

    def on_candle(self, ctx, bar):
        if len(self.rejected) < self.rejects:
            self.returned.append(ctx.sell(bar.symbol, 5))
        elif not self.bought:
            self.bought = ctx.buy(bar.symbol, 1).status == "pending"

    def on_reject(self, ctx, order):
        self.rejected.append(order)


def test_a_refused_placement_is_a_rejection_and_the_run_goes_on(caplog):
    strategy = SellsFirst()
    with caplog.at_level(logging.WARNING, logger="backtestester.strategy"):
        result = run_backtest(strategy, [minute_repository(PRICES)], balance=1000)
    assert strategy.rejected == strategy.returned and len(strategy.rejected) == 2  # the verb returns it too
    order = strategy.rejected[0]
    assert (order.id, order.status, order.symbol, order.side, order.quantity) == (0, "rejected", "AAPL", "sell", 5)
    assert order.reject_reason == "PlaceOrder: side not allowed: cannot sell when no position exists: must sell short"
    assert strategy.bought and len(result.trades) == 1  # the run went on and traded
    assert result.rejections == 2 and result.rejected_orders == strategy.rejected
    assert all(o.id != 0 for o in result.orders)  # never in the book
    warnings = [r for r in caplog.records if r.name == "backtestester.strategy"]
    assert len(warnings) == 1 and "side not allowed" in warnings[0].getMessage()  # once per run


def test_each_run_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="backtestester.strategy"):
        run_backtest(SellsFirst(), [minute_repository(PRICES)], balance=1000)
        run_backtest(SellsFirst(), [minute_repository(PRICES)], balance=1000)
    assert len([r for r in caplog.records if r.name == "backtestester.strategy"]) == 2


def test_fill_time_rejections_are_counted_too():
    class TooBig(Strategy):
        def on_start(self, ctx):
            self.rejected = []

        def on_candle(self, ctx, bar):
            if not self.rejected:
                ctx.buy(bar.symbol, 10_000)

        def on_reject(self, ctx, order):
            self.rejected.append(order)

    strategy = TooBig()
    result = run_backtest(strategy, [minute_repository(PRICES)], balance=1000)
    assert [o.id for o in strategy.rejected] == [1]
    assert strategy.rejected[0].reject_reason.startswith("insufficient free margin")
    assert result.rejections == 1


def test_strict_mode_raises_as_the_engine_does():
    with pytest.raises(OrderRejected, match="side not allowed: cannot sell when no position exists"):
        run_backtest(SellsFirst(), [minute_repository(PRICES)], balance=1000, strict=True)


def test_closing_more_than_is_open_is_a_rejection():
    class OverClose(Strategy):
        def on_start(self, ctx):
            self.n, self.reasons = 0, []

        def on_candle(self, ctx, bar):
            self.n += 1
            if self.n == 1:
                ctx.buy(bar.symbol, 2)
            elif self.n == 3:
                ctx.sell(bar.symbol, 5)

        def on_reject(self, ctx, order):
            self.reasons.append(order.reject_reason)

    strategy = OverClose()
    result = run_backtest(strategy, [minute_repository(PRICES)], balance=1000)
    assert len(strategy.reasons) == 1 and "volume to close exceeds open volume" in strategy.reasons[0]
    assert result.rejections == 1


@pytest.mark.parametrize("call, message", [
    (lambda ctx: ctx.buy("AAPL", -1), "quantity must be greater than 0"),
    (lambda ctx: ctx.place("AAPL", "hold", 1), "invalid order side"),
    (lambda ctx: ctx.buy("AAPL", 1, order_type="limit"), "need a limit price"),
    (lambda ctx: ctx.buy("AAPL", 1, duration="week"), "invalid order duration"),
])
def test_bad_input_still_raises(call, message):
    pg = make_playground({"AAPL": PRICES})
    pg.tick(60)
    ctx = PlaygroundContext(pg)
    with pytest.raises(PlaceOrderError, match=message) as info:
        call(ctx)
    assert not isinstance(info.value, OrderRejected)
    assert len(ctx.rejections) == 0


def test_an_unknown_symbol_raises():
    pg = make_playground({"AAPL": PRICES})
    pg.tick(60)
    with pytest.raises(PlaceOrderError, match="symbol NOPE not found"):
        PlaygroundContext(pg).place("NOPE", "buy", 1, order_type="limit", price=10.0)


class BuysEveryBar(Strategy):
    """Buys one share on every candle, the last one included."""

    def on_candle(self, ctx, bar):
        ctx.buy(bar.symbol, 1)


def test_an_order_on_the_last_bar_is_rejected_not_an_abort(tmp_path):
    """The last bar of a catalog run arrives on the completion tick (daily bars are complete at the
    close): an order placed there is rejected (the clock expired), the run ends normally."""
    from backtestester.data.catalog import Catalog
    from backtestester.data.importers import import_sample
    from backtestester.playgrounds import run_on_catalog

    import_sample(Catalog(tmp_path), "GOOG")
    strategy = BuysEveryBar()
    result = run_on_catalog(strategy, tmp_path, [("GOOG", "1d")], start_date="2012-01-03", stop_date="2012-03-01")
    assert result.rejections == 1
    assert result.rejected_orders[-1].reject_reason.startswith("backtest complete: clock expired")
    assert len(result.trades) == len(result.equity) - 2  # every bar's order filled but the last one
    with pytest.raises(OrderRejected, match="backtest complete"):
        run_on_catalog(BuysEveryBar(), tmp_path, [("GOOG", "1d")], start_date="2012-01-03", stop_date="2012-03-01",
                       strict=True)
