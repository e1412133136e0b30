"""The data matrix: one script of duplicates, re-sends, a gap and an outage, run over every bar
source into :class:`~backtestester.live.bars.LiveBars`: each completed bar reaches the strategy
(the bars ``poll`` returns) exactly once, in the version seen when it became due, and a minute
without trades gives no candle at all.

Sources: a replay of the catalog; Tradier time-sales (``BrokerBarSource`` over the fake Tradier
server); Polygon REST aggregates and the Polygon ``AM`` stream (over the fake Polygon server);
bars pushed by a client. An outage is what each source can suffer: REST answers 500 then drops the
connection, the stream is closed without a frame and refused until it is up again, a pushing
client reconnects and pushes its last bar again. The storm test drops the stream 100 times in a
row and loses no bar."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.schema import bar_table
from backtestester.live.bars import LiveBars
from backtestester.live.barsources import BrokerBarSource, PushSource, ReplaySource
from backtestester.live.polygon import rest_source
from backtestester.live.port import Bar
from backtestester.live.tradier import TradierBroker

from .polygon_control import am, row

#: 2024-01-03 15:00 UTC: a Wednesday, 10:00 New York, in the catalog's XNYS session.
T = int(datetime(2024, 1, 3, 15, 0, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
MIN = 60_000_000_000
SYMBOL = "AAPL"
WAIT_S = 60.0


def bar(k: int, close: float, volume: float = 100.0) -> Bar:
    """The minute ``k`` after T (prices as the fakes' ``row``/``am`` helpers make them)."""
    return Bar(SYMBOL, 60, T + k * MIN, close - 0.01, close + 0.05, close - 0.05, close, volume)


def at(k: float) -> int:
    return T + int(k * MIN)


#: The script: ("publish", bars) makes versions visible to the source, ("poll", k) polls the
#: live bars k minutes after T, ("down",) / ("up",) an outage of the source's connection.
SCRIPT = [
    ("publish", [bar(0, 100.0)]),
    ("publish", [bar(0, 100.0)]),                  # a duplicate
    ("poll", 1.5),
    ("publish", [bar(1, 101.0)]),
    ("publish", [bar(1, 101.5, 300.0)]),           # re-sent before its settle delay: this version counts
    ("poll", 2.5),
    ("publish", [bar(1, 99.0, 999.0)]),            # re-sent after delivery: stored, not delivered again
    # minute 2: no trades, no bar (a gap)
    ("down",),
    ("publish", [bar(3, 103.0)]),
    ("poll", 4.5),
    ("publish", [bar(4, 104.0)]),
    ("poll", 5.5),
    ("up",),
    ("publish", [bar(5, 105.0)]),
    ("poll", 6.5),
    ("poll", 7.5),
]
#: What the strategy must see: each minute once, in the version due first; never minute 2.
EXPECTED = {T: 100.0, T + MIN: 101.5, T + 3 * MIN: 103.0, T + 4 * MIN: 104.0, T + 5 * MIN: 105.0}


class ReplayFeed:
    """The catalog holds the final bars (a replay's bars never change: nothing to publish)."""

    def __init__(self, tmp_path, **_):
        catalog = Catalog(tmp_path / "catalog")
        bars = [bar((start - T) // MIN, close) for start, close in sorted(EXPECTED.items())]
        bars[1] = bar(1, 101.5, 300.0)
        cols = {"start": np.array([b.start_ns for b in bars], dtype=np.int64)}
        for name in ("open", "high", "low", "close", "volume"):
            cols[name] = np.array([getattr(b, name) for b in bars], dtype=np.float64)
        catalog.write(SYMBOL, "1m", bar_table(cols))
        start = datetime.fromtimestamp(T / 1e9, tz=timezone.utc)
        self.source = ReplaySource(tmp_path / "catalog", [SYMBOL], 60, start=start, origin_ns=T, pace="clock")

    def publish(self, bars):
        pass

    def down(self):
        pass

    def up(self):
        pass


class TradierFeed:
    """Tradier time-sales polled through the adapter; an outage: a 500, then a dropped answer."""

    def __init__(self, tmp_path, fake_tradier, **_):
        self.fake, self.rows = fake_tradier, {}
        broker = TradierBroker(fake_tradier.config())
        self.source = BrokerBarSource(broker, [SYMBOL], 60, lookback_s=600)

    def publish(self, bars):
        for b in bars:
            self.rows[b.start_ns // 1_000_000_000] = {"timestamp": b.start_ns // 1_000_000_000, "open": b.open,
                                                      "high": b.high, "low": b.low, "close": b.close,
                                                      "volume": b.volume}
        self.fake.series(SYMBOL, "1min", [self.rows[k] for k in sorted(self.rows)])

    def down(self):
        self.fake.faults({"path": "/markets/timesales", "times": 1, "action": "respond", "status": 500,
                          "text": "<html>Internal Server Error</html>", "content_type": "text/html"},
                         {"path": "/markets/timesales", "times": 1, "action": "drop"})

    def up(self):
        pass


class PolygonRestFeed:
    """Polygon REST aggregates polled; an outage: a 500, then a dropped answer."""

    def __init__(self, tmp_path, fake_polygon, **_):
        self.fake = fake_polygon
        self.source = rest_source(fake_polygon.rest(), [SYMBOL], 60, lookback_s=600)

    def publish(self, bars):
        self.fake.bars(SYMBOL, [row(b.start_ns // 1_000_000, b.close, b.volume) for b in bars])

    def down(self):
        self.fake.faults({"path": "/v2/aggs", "times": 1, "action": "respond", "status": 500,
                          "text": "<html>Internal Server Error</html>"},
                         {"path": "/v2/aggs", "times": 1, "action": "drop"})

    def up(self):
        pass


class PolygonStreamFeed:
    """The AM stream (REST holds the same bars, as Massive's does); an outage: the connection
    closed without a frame and refused until ``up``, bars meanwhile reach REST only."""

    def __init__(self, tmp_path, fake_polygon, **_):
        self.fake = fake_polygon
        self.source = fake_polygon.stream_source([SYMBOL], lookback_s=600)
        self.source.start()
        assert fake_polygon.wait_subscribed(1), self.source.last_error
        self.subscriptions, self.sent = 1, 0

    def publish(self, bars):
        events = [am(SYMBOL, b.start_ns // 1_000_000, b.close, b.volume) for b in bars]
        if self.fake.emit(events, rest=True):
            self.sent += len(events)
            assert self.source.wait(lambda s: s.received >= self.sent, WAIT_S)

    def down(self):
        self.fake.stream_faults({"action": "refuse", "times": 10**6})
        self.fake.drop_stream()
        assert self.source.wait(lambda s: s.drops >= 1, WAIT_S)

    def up(self):
        self.fake.control("clear_stream_faults")
        self.subscriptions += 1
        assert self.fake.wait_subscribed(self.subscriptions), self.source.last_error

    def close(self):
        self.source.close()


class PushFeed:
    """Bars a client pushes; an outage: the client buffers, then reconnects and pushes its last
    pushed bar again with what it buffered."""

    def __init__(self, tmp_path, **_):
        self.source, self.held, self.last, self.is_down = PushSource(), [], [], False

    def publish(self, bars):
        if self.is_down:
            self.held.extend(bars)
        else:
            self.source.push(bars)
            self.last = bars

    def down(self):
        self.is_down = True

    def up(self):
        self.is_down = False
        self.source.push(self.last + self.held)
        self.held = []


FEEDS = {"replay": ReplayFeed, "tradier": TradierFeed, "polygon-rest": PolygonRestFeed,
         "polygon-stream": PolygonStreamFeed, "push": PushFeed}


@pytest.fixture
def feed_of(request, tmp_path):
    """``feed_of(name)``: the feed, on the fake server it needs (started for the session on first use)."""
    made = []

    def make(name):
        fakes = {}
        if name == "tradier":
            fakes["fake_tradier"] = request.getfixturevalue("fake_tradier")
        if name.startswith("polygon"):
            fakes["fake_polygon"] = request.getfixturevalue("fake_polygon")
        feed = FEEDS[name](tmp_path, **fakes)
        made.append(feed)
        return feed
    yield make
    for feed in made:
        if hasattr(feed, "close"):
            feed.close()


@pytest.mark.parametrize("name", list(FEEDS))
def test_each_completed_bar_reaches_the_strategy_once(feed_of, name):
    feed = feed_of(name)
    bars = LiveBars(None, [feed.source], settle_s=2.0, now=lambda: at(8))
    bars.subscribe(SYMBOL, 60)
    delivered: list[Bar] = []
    for step in SCRIPT:
        if step[0] == "publish":
            feed.publish(step[1])
        elif step[0] == "poll":
            delivered += bars.poll(at(step[1]))
        else:
            getattr(feed, step[0])()
    counts = Counter(b.start_ns for b in delivered)
    assert all(n == 1 for n in counts.values()), f"{name}: delivered more than once: {counts}"
    assert {b.start_ns: b.close for b in delivered} == EXPECTED, name
    assert T + 2 * MIN not in counts  # the minute without trades: no candle
    assert [b.start_ns for b in delivered] == sorted(counts)  # in time order
    if name != "replay":  # the re-send after delivery was stored, not delivered
        assert bars.candles(SYMBOL, 60, T)[1].close == 99.0
        assert bars.delivered_version(SYMBOL, 60, T + MIN)[0].close == 101.5


def test_a_reconnect_storm_of_100_drops_loses_no_bar(fake_polygon):
    """100 drops in a row, each right after a bar was streamed (it may be lost in flight) or sent
    while no socket listened (REST only): every bar reaches the strategy once, through the stream
    or the REST backfill that follows each reconnect."""
    source = fake_polygon.stream_source([SYMBOL], lookback_s=600)
    try:
        bars = LiveBars(None, [source], settle_s=2.0, now=lambda: at(200))
        bars.subscribe(SYMBOL, 60)
        delivered = bars.poll(at(0))
        assert fake_polygon.wait_subscribed(1), source.last_error
        for k in range(100):
            if k % 2:  # sent while no socket listened: Massive's REST has it, the stream never sends it
                fake_polygon.bars(SYMBOL, [row(at(k) // 1_000_000, 100.0 + k)])
            else:  # sent on the stream, then the connection drops (the bar may be lost in flight)
                fake_polygon.emit([am(SYMBOL, at(k) // 1_000_000, 100.0 + k)], rest=True)
            fake_polygon.drop_stream()
            assert fake_polygon.wait_subscribed(k + 2), f"reconnect {k + 1}: {source.last_error}"
            if k % 7 == 0:
                delivered += bars.poll(at(k + 1.5))
        delivered += bars.poll(at(101.5))
        assert source.drops >= 100
    finally:
        source.close()
    counts = Counter(b.start_ns for b in delivered)
    assert sorted(counts) == [at(k) for k in range(100)]
    assert set(counts.values()) == {1}
    assert [b.close for b in delivered] == [100.0 + k for k in range(100)]
