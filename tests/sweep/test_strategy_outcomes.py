"""A sweep's event-driven runs are strategy runs: a stop-loss acts, and a refused placement is a
rejection, not a failed run."""
from __future__ import annotations

from backtestester.strategy import Strategy
from backtestester.sweep import RunConfig, execute_run

HERE = "tests.sweep.test_strategy_outcomes"


class StoppedBuyer(Strategy):
    """Buys on the first candle with a stop ``stop_pct`` below the close; also tries ``ctx.sell``
    with no position first (a refusal) when ``sell_first`` is set."""

    stop_pct: float = 0.002
    sell_first: bool = False

    def on_candle(self, ctx, bar):
        if getattr(self, "done", False):
            return
        self.done = True
        if self.sell_first:
            ctx.sell(bar.symbol, 1)
        ctx.buy(bar.symbol, 10, sl=bar.close * (1 - self.stop_pct))


def test_a_sweep_run_acts_on_the_stop_loss(tables):
    config = RunConfig(strategy=f"{HERE}:StoppedBuyer", params=(("stop_pct", 0.002),))
    record = execute_run(config, tables, keep_result=True)
    assert record["status"] != "failed", record.get("error")
    result = record["_result"]
    [entry] = [o for o in result.orders if o.tag == "" and o.side == "buy"]
    [stop] = [o for o in result.orders if o.tag == "sl"]
    assert stop.status == "filled" and stop.protects == entry.id
    [trip] = result.round_trips
    assert (trip.exit_price - trip.entry_price) / trip.entry_price >= -0.002 - 0.01  # the stop plus a gap


def test_a_refused_placement_does_not_fail_the_run(tables):
    config = RunConfig(strategy=f"{HERE}:StoppedBuyer", params=(("sell_first", True),))
    record = execute_run(config, tables, keep_result=True)
    assert record["status"] != "failed", record.get("error")
    assert record["_result"].rejections == 1
