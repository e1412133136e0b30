"""Tradier's bar feed accelerated by the market-events stream (backtestester/live/tradier_bars.py)
against the fake Tradier server (time-sales and the market stream, its own process): an event
completing a bar brings that bar to LiveBars before the slow REST schedule; a dead stream still
yields every bar by REST; 100 drops lose no bar; the gateway's poll loop wakes on the event."""
from __future__ import annotations

import asyncio
import socket

import pytest

from backtestester.live.bars import BrokerBarSource, LiveBars
from backtestester.live.tradier import TradierBroker
from backtestester.live.tradier_bars import StreamedBarSource, market_options
from backtestester.live.tradier_stream import MarketStream

from .deskkit import T0, Clock
from .fake_tradier import ACCOUNT, TRADING_TOKEN

NS = 1_000_000_000
WAIT_S = 60.0  # generous: every wait fails with a message long before a CI timeout


def control(fake, verb: str, body=None):
    """A verb of the fake's stream control (``/_control/stream/<verb>``)."""
    return fake.control(f"stream/{verb}", body)


def wait_open(fake, stream: str = "market") -> None:
    assert control(fake, "wait_open", {"stream": stream, "count": 1})["open"], f"no open {stream} stream within 30 s"


def wait(link, predicate, what: str) -> None:
    assert link.wait_for(predicate, WAIT_S), f"stream never {what}: {link.stats}"


def trade(at_s: float) -> dict:
    """A SPY trade event ``at_s`` seconds after T0 (Tradier's shape: Unix ms as a string)."""
    return {"type": "trade", "symbol": "SPY", "price": "100.5", "size": "10", "date": str(int(T0 // 10**6 + at_s * 1000))}


class FeedRig:
    """LiveBars over StreamedBarSource (time-sales of SPY at 1 min + the market stream) of the fake;
    the REST schedule is an hour, so within a test only the stream or a reconnect brings bars early."""

    def __init__(self, tmp_path, fake, *, rest_poll_s=3600.0, **options):
        self.fake, self.clock, self.rows = fake, Clock(T0 + NS), []
        self.broker = TradierBroker(fake.config(), now=self.clock, sleep=lambda s: None)
        options = {"backoff_s": 0.01, "max_backoff_s": 0.05, "recv_timeout_s": 0.05, **options}
        self.stream = MarketStream(self.broker, ["SPY"], options=options)
        self.source = StreamedBarSource(BrokerBarSource(self.broker, ["SPY"], 60), self.stream,
                                        rest_poll_s=rest_poll_s)
        self.bars = LiveBars(str(tmp_path / "bars.sqlite3"), [self.source], settle_s=0, now=self.clock)
        self.bars.subscribe("SPY", 60)

    def add_minute(self, i: int) -> None:
        """Time-sales serve minute ``i`` (starting ``T0 + 60 i``) from now on."""
        self.rows.append({"timestamp": T0 // NS + 60 * i, "open": 100.0 + i, "high": 101.0 + i, "low": 99.0 + i,
                          "close": 100.5 + i, "volume": 1000 + i})
        self.fake.series("SPY", "1min", self.rows)

    def poll(self, at_s: float) -> list[int]:
        """The minutes LiveBars delivers at ``T0 + at_s``."""
        self.clock.t = T0 + int(at_s * NS)
        return [(b.start_ns - T0) // (60 * NS) for b in self.bars.poll()]

    def close(self):
        self.bars.close()  # stops the stream (thread joined)
        self.broker.close()


@pytest.fixture
def feed_rig(tmp_path, fake_tradier):
    made = []

    def make(**kw):
        made.append(FeedRig(tmp_path, fake_tradier, **kw))
        return made[-1]
    yield make
    for rig in made:
        rig.close()


def test_an_event_completing_a_bar_brings_it_before_the_rest_schedule(feed_rig, fake_tradier):
    rig = feed_rig()
    rig.source.start()
    wait(rig.stream.link, lambda s: s.connected, "connected")
    wait_open(fake_tradier, "market")
    assert rig.poll(1) == [] and rig.source.full == 1  # the first fetch asks every symbol
    rig.add_minute(0)
    assert rig.poll(61) == []  # minute 0 is served, but the REST schedule (an hour) is not due
    control(fake_tradier, "market", [trade(30)])  # inside minute 0: completes nothing
    control(fake_tradier, "market", [trade(61)])  # past minute 0's end: it has completed
    assert rig.source.news.wait(WAIT_S), "the stream never reported the completed bar"
    assert rig.poll(61) == [0]
    assert (rig.source.full, rig.source.early) == (1, 1)  # fetched for the event, not by the schedule
    assert not rig.source.news.is_set()


def test_a_bar_rest_has_not_served_yet_is_asked_again_until_it_comes(feed_rig, fake_tradier):
    rig = feed_rig()
    rig.source.start()
    wait(rig.stream.link, lambda s: s.connected, "connected")
    wait_open(fake_tradier, "market")
    assert rig.poll(1) == []
    control(fake_tradier, "market", [trade(61)])
    assert rig.source.news.wait(WAIT_S), "the stream never reported the completed bar"
    assert rig.poll(61) == []  # time-sales lag: minute 0 not served yet
    rig.add_minute(0)
    assert rig.poll(62) == [0]  # still due: asked again without a new event
    assert (rig.source.full, rig.source.early) == (1, 2)


def test_a_dead_market_stream_still_yields_every_bar_by_rest(feed_rig, fake_tradier):
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        rig = feed_rig(rest_poll_s=3600.0, stream_url=f"ws://127.0.0.1:{closed.getsockname()[1]}/")
        got = []
        for i in range(5):
            rig.add_minute(i)
            got += rig.poll(60 * (i + 1) + 1)
        assert got == [0, 1, 2, 3, 4]  # one per poll, as without a stream: polling is the truth
        assert rig.stream.link.stats.connects == 0 and rig.source.full == 5


def test_100_drops_lose_no_bar(feed_rig, fake_tradier):
    rig = feed_rig()
    rig.source.start()
    got = []
    for i in range(100):
        wait_open(fake_tradier, "market")
        rig.add_minute(i)
        control(fake_tradier, "drop")  # the event of minute i's end is lost with the connection
        wait(rig.stream.link, lambda s, n=i + 1: s.drops >= n and s.connected, f"reconnected after drop {i + 1}")
        got += rig.poll(60 * (i + 1) + 1)
    assert got == list(range(100))  # each minute once, in order
    assert rig.stream.link.stats.drops >= 100


def test_market_options_follow_streams_and_refuse_bad_values():
    assert market_options({}, "sandbox")[:2] == (False, 60.0)  # streams default off in the sandbox
    assert market_options({"streams": True, "rest_poll_s": 300}, "sandbox")[:2] == (True, 300.0)
    assert market_options({"streams": True, "market_stream": False}, "production")[0] is False
    with pytest.raises(ValueError, match="market_stream. must be true or false"):
        market_options({"market_stream": "yes"}, "sandbox")
    with pytest.raises(ValueError, match="rest_poll_s must be a number of seconds > 0"):
        market_options({"rest_poll_s": 0}, "sandbox")


def test_the_gateway_polls_when_the_market_stream_completes_a_bar(tmp_path, fake_tradier, monkeypatch):
    """Poll period and REST schedule of an hour: only the market event can bring minute 0 within the test."""
    from actors.gateway.live import LiveConfig, LiveShell  # noqa: PLC0415

    config_file = tmp_path / "tradier.toml"
    config_file.write_text(f'account_id = "{ACCOUNT}"\nbase_url = "{fake_tradier.base_url}"\nstreams = true\n'
                           'recv_timeout_s = 0.05\nbackoff_s = 0.01\nrest_poll_s = 3600\n')
    monkeypatch.setenv("TRADIER_TOKEN", TRADING_TOKEN)
    config = LiveConfig(brokers=("sim",), feed="tradier", tradier_config=str(config_file), replay_symbols=("SPY",),
                        poll_seconds=3600.0, settle_seconds=0.0).validate()
    clock = Clock(T0 + NS)

    async def until(predicate, what):
        for _ in range(int(WAIT_S / 0.05)):  # a condition with a deadline
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never {what}")

    async def scenario():
        (tmp_path / "gw").mkdir()
        shell = LiveShell(str(tmp_path / "gw"), config, now=clock)
        await shell.start()
        try:
            source = shell.desk.bars.sources[0]
            assert isinstance(source, StreamedBarSource)
            shell.desk.bars.subscribe("SPY", 60)
            await asyncio.to_thread(wait_open, fake_tradier, "market")
            await until(lambda: source.full >= 1, "polled at start")
            clock.t = T0 + 61 * NS
            await asyncio.to_thread(fake_tradier.series, "SPY", "1min", [
                {"timestamp": T0 // NS, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10}])
            await asyncio.to_thread(control, fake_tradier, "market", [trade(61)])
            await until(lambda: shell.desk.bars.delivered_version("SPY", 60, T0) is not None, "delivered minute 0")
        finally:
            await shell.stop()  # the desk's bars close their source: the market stream stops
    asyncio.run(scenario())
    assert control(fake_tradier, "wait_open", {"stream": "market", "count": 0})["open"]
