"""Catalog playgrounds (the gateway's builder): a bar is available when it is complete, so the last
bar of the requested range is seen before the clock stops at 16:00 New York on the stop date."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.playgrounds import catalog_playground, run_on_catalog, session_available_ns
from backtestester.strategy import Strategy

NY = ZoneInfo("America/New_York")
HOUR, DAY = 3600 * 10**9, 86_400 * 10**9


def ns(*args) -> int:
    return int(datetime(*args, tzinfo=NY).timestamp()) * 10**9


@pytest.mark.parametrize("start,period,expected", [
    (ns(2024, 1, 3, 9, 30), DAY, ns(2024, 1, 3, 16)),             # a daily bar: at its close, not the next open
    (ns(2024, 1, 5, 9, 30), DAY, ns(2024, 1, 5, 16)),             # a Friday's too
    (ns(2023, 11, 24, 9, 30), DAY, ns(2023, 11, 24, 13)),         # an early close
    (ns(2024, 1, 8, 9, 30), 7 * DAY, ns(2024, 1, 12, 16)),        # a weekly bar at Friday's close
    (ns(2024, 1, 3, 13, 30), 4 * HOUR, ns(2024, 1, 3, 16)),       # the XNYS 4h bar 13:30-16:00
    (ns(2024, 1, 3, 9, 30), 4 * HOUR, ns(2024, 1, 3, 13, 30)),    # inside the session: start + period
    (ns(2024, 1, 3, 15, 59), 60 * 10**9, ns(2024, 1, 3, 16)),     # the session's last minute
    (ns(2024, 1, 3, 17, 0), 60 * 10**9, ns(2024, 1, 3, 17, 1)),   # after hours: start + period
    (ns(2024, 1, 3, 0, 0) - 5 * HOUR, DAY, ns(2024, 1, 3, 16)),   # stamped 00:00 UTC of the session date
])
def test_a_bar_is_available_when_it_is_complete(start, period, expected):
    assert session_available_ns([start], period, "XNYS").tolist() == [expected]
    assert session_available_ns([start], period, None).tolist() == [start + period]


class LastSeen(Strategy):
    """Buys on the first bar, records every bar it sees and the equity at the end."""

    def on_start(self, ctx):
        self.seen = []

    def on_candle(self, ctx, bar):
        if not self.seen:
            ctx.buy(bar.symbol, 1)
        self.seen.append((bar.candle.start, bar.close))

    def on_stop(self, ctx):
        self.equity = ctx.account().equity


def test_the_last_daily_bar_of_the_range_is_seen_and_values_the_position(tmp_path):
    Catalog(tmp_path).write("AAA", "1d", generate_bars("AAA", timeframe="1d", start="2024-01-02", end="2024-01-20",
                                                       seed=3))
    window = dict(start_date="2024-01-03", stop_date="2024-01-10", balance=10_000.0)
    strategy = LastSeen()
    result = run_on_catalog(strategy, tmp_path, [("AAA", "1d")], fill_model="close", **window)
    bars = Catalog(tmp_path).load("AAA", "1d", "2024-01-03", "2024-01-11")
    starts, closes = bars["start"].to_pylist(), bars["close"].to_pylist()
    assert [s for s, _ in strategy.seen][-1] == starts[-1].to_pydatetime()  # 2024-01-10's bar
    assert starts[-1].tz_convert(NY).date().isoformat() == "2024-01-10"
    position = result.account.positions["AAA"]
    assert strategy.equity == result.final_equity == pytest.approx(
        10_000.0 + (closes[-1] - position.cost_basis) * position.quantity)
    pg = catalog_playground(tmp_path, [("AAA", "1d")], **window)
    assert pg.end_time == datetime(2024, 1, 10, 16, tzinfo=NY)  # the wire-v1 clock: unchanged
    repo = pg.repositories[0]
    assert np.all(repo.available_ns - repo.start_ns == 6 * HOUR + 30 * 60 * 10**9)  # 09:30 -> 16:00


def test_intraday_catalog_bars_keep_start_plus_period(tmp_path):
    Catalog(tmp_path).write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-04", seed=1))
    pg = catalog_playground(tmp_path, [("AAA", "1m"), ("AAA", "5m")], start_date="2024-01-02", stop_date="2024-01-03")
    for repo in pg.repositories:
        assert np.array_equal(repo.available_ns, repo.start_ns + repo.period_ns)
    assert timedelta(minutes=5) in {r.period for r in pg.repositories}
