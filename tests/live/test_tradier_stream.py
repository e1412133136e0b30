"""Tradier's streams (backtestester/live/tradier_stream.py) against the fake Tradier server's
streams (tests/live/fake_tradier_stream.py): order events make the desk read an order at once;
a stream that closes, falls silent or gets an expired session is reconnected with a new session
and back-off; polling stays the truth, so fills made while the stream is down reach the
playground once, also through a storm of 100 drops."""
from __future__ import annotations

import threading

import pytest

from backtestester.live.bars import LiveBars, PushSource
from backtestester.live.desk import LiveDesk
from backtestester.live.streams import StreamClosed
from backtestester.live.tradier import TradierBroker
from backtestester.live.tradier_stream import (
    AccountStream,
    MarketEvent,
    MarketStream,
    account_stream,
    parse_account_frame,
    parse_market_frame,
    stream_options,
)

from .deskkit import T0, Clock
from .fake_tradier import ACCOUNT, TRADING_TOKEN
from .tradier_control import T0 as OPEN_T  # a Tuesday 10:00 ET: the market sessions accept orders
from .venuekit import fill_between_polls

WAIT_S = 60.0  # generous: every wait fails with a message long before a CI timeout


class Gate:
    """The stream's injected back-off ``sleep``: records each wait; blocks while closed."""

    def __init__(self, open_=True):
        self.slept: list[float] = []
        self.opened = threading.Event()
        if open_:
            self.opened.set()

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        assert self.opened.wait(WAIT_S), "the test never reopened the stream's back-off gate"


class Mono:
    """A thread-safe injected clock for silence detection (ns), moved by the test."""

    def __init__(self):
        self.ns, self.lock = 0, threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            return self.ns

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.ns += int(seconds * 1e9)


def control(fake, verb: str, body=None):
    answer = fake.http.post(f"{fake.url}/_control/stream/{verb}", json={} if body is None else body, timeout=40)
    answer.raise_for_status()
    return answer.json()


def wait_open(fake, stream: str = "account", count: int = 1) -> None:
    assert control(fake, "wait_open", {"stream": stream, "count": count})["open"], \
        f"the fake saw no {count} open {stream} stream(s) within 30 s"


def wait(link, predicate, what: str) -> None:
    assert link.wait_for(predicate, WAIT_S), f"stream never {what}: {link.stats}"


class StreamRig:
    """A desk over TradierBroker (the fake, fills at ``tick``) with the account stream attached."""

    def __init__(self, tmp_path, fake, *, sleep=None, now=None, **options):
        self.fake = fake
        fake.set(fill_mode="tick", time_ns=T0)
        self.clock = Clock()
        self.broker = TradierBroker(fake.config(), now=self.clock, sleep=lambda s: None)
        self.push = PushSource()
        self.bars = LiveBars(str(tmp_path / "bars.sqlite3"), [self.push], settle_s=0, now=self.clock)
        self.desk = LiveDesk(str(tmp_path / "desk"), {"tradier": self.broker}, self.bars, now=self.clock)
        kwargs = {"sleep": sleep} if sleep is not None else {}
        if now is not None:
            kwargs["now"] = now
        options = {"backoff_s": 0.01, "max_backoff_s": 0.5, "recv_timeout_s": 0.05, **options}
        self.stream = AccountStream(self.broker, options, **kwargs)
        self.pid = self.desk.create_playground(broker="tradier", account_type="margin",
                                               repositories=[("SPY", 60)], balance=100_000.0)

    def close(self):
        self.stream.stop()
        self.desk.close()
        self.broker.close()

    def buy(self, quantity=1):
        return self.desk.place_order(self.pid, symbol="SPY", side="buy", quantity=quantity, requested_price=10.0)

    def trades(self):
        return [(t.order_id, t.quantity) for t in self.desk.next_tick(self.pid).new_trades]


@pytest.fixture
def stream_rig(tmp_path, fake_tradier):
    made = []

    def make(**kw):
        made.append(StreamRig(tmp_path, fake_tradier, **kw))
        return made[-1]
    yield make
    for rig in made:
        rig.close()


# --- parsing -------------------------------------------------------------------------------------
def test_account_frames_join_by_id_and_read_both_fill_fields():
    event = parse_account_frame({"id": 7, "event": "order", "status": "partially_filled", "exec_quantity": "3",
                                 "tag": "bt-1", "account": "VA1"})
    assert (event.order_id, event.status, event.exec_quantity, event.tag) == ("7", "partially_filled", 3.0, "bt-1")
    old = parse_account_frame({"id": 8, "event": "order", "status": "held", "executed_quantity": 2})
    assert (old.status, old.exec_quantity, old.tag) == ("pending", 2.0, None)
    assert parse_account_frame({"event": "heartbeat", "status": "active", "timestamp": 1}) is None
    with pytest.raises(StreamClosed, match="session expired"):
        parse_account_frame({"error": "session expired"})


def test_market_frames_are_parsed_defensively():
    trade = parse_market_frame({"type": "trade", "symbol": "spy", "exch": "Q", "price": "450.5", "size": "100",
                                "cvol": "1", "date": "1796742000123", "last": "450.5"})
    assert trade == MarketEvent("trade", "SPY", 450.5, 100.0, 1_796_742_000_123_000_000)
    quote = parse_market_frame({"type": "quote", "symbol": "SPY", "bid": 1.0, "ask": "1.2", "biddate": "5",
                                "askdate": "7"})
    assert (quote.price, quote.time_ns) == (pytest.approx(1.1), 7_000_000)
    sale = parse_market_frame({"type": "timesale", "symbol": "SPY", "last": "10", "size": "5", "date": "null"})
    assert (sale.price, sale.size, sale.time_ns) == (10.0, 5.0, 0)
    assert parse_market_frame({"type": "summary", "symbol": "SPY", "prevClose": "9"}).price == 9.0
    assert parse_market_frame({"type": "unknown", "symbol": "SPY"}) is None
    with pytest.raises(StreamClosed, match="bad symbols"):
        parse_market_frame({"error": "bad symbols"})


def test_stream_options_default_by_environment_and_refuse_bad_values():
    assert stream_options({}, "production")["streams"] is True
    assert stream_options({}, "sandbox")["streams"] is False
    assert stream_options({"streams": True, "silent_after_s": 90}, "sandbox")["silent_after_s"] == 90.0
    with pytest.raises(ValueError, match="true or false"):
        stream_options({"streams": "yes"}, "production")
    with pytest.raises(ValueError, match="silent_after_s must be"):
        stream_options({"silent_after_s": 0}, "production")
    with pytest.raises(ValueError, match="accepted"):
        stream_options({"stream_ur": "x"}, "production")


def test_streams_off_builds_no_stream(fake_tradier):
    broker = TradierBroker(fake_tradier.config())
    try:
        assert account_stream(broker, {"streams": False}, "production") is None
        assert getattr(broker, "order_events", None) is None
    finally:
        broker.close()


# --- the account stream and the desk -------------------------------------------------------------
def test_order_event_makes_the_desk_read_the_order_before_any_poll(stream_rig, fake_tradier):
    rig = stream_rig()
    rig.stream.start()
    wait_open(fake_tradier)
    order = rig.buy(2)
    fake_tradier.price(SPY=100.0)
    rig.stream.events.drain()  # the order's "pending" event: nothing filled yet
    fake_tradier.tick()        # the fake fills; its account socket sends the order event
    assert rig.stream.events.wait(WAIT_S), "no order event arrived"
    assert rig.desk.poll_events() >= 1
    assert rig.trades() == [(order.id, 2.0)]
    assert rig.desk.get_order(order.id).status == "filled"
    rig.desk.poll()
    assert rig.trades() == [], "the poll after the event applied the fill again"
    gets = [r for r in fake_tradier.requests() if r["method"] == "GET" and r["path"].endswith(f"/orders/{1001}")]
    assert gets, "the event did not make the desk read the order"


def test_an_event_for_an_order_of_unknown_outcome_adopts_it_by_tag_once(stream_rig, fake_tradier):
    """The order POST's answer is lost (Unresolved): the event's id is unknown to the journal, so the
    account's full cycle runs, finds the order by its tag and applies the fill; nothing is sent twice."""
    rig = stream_rig()
    rig.stream.start()
    wait_open(fake_tradier)
    fake_tradier.price(SPY=100.0)
    fake_tradier.faults({"method": "POST", "path": "/orders", "action": "drop", "commit": True})
    order = rig.buy(1)
    fake_tradier.tick()
    assert rig.stream.events.wait(WAIT_S), "no order event arrived"
    rig.desk.poll_events()
    assert rig.trades() == [(order.id, 1.0)]
    rig.desk.poll()
    assert rig.trades() == [] and len(fake_tradier.orders()) == 1


def test_fills_while_the_stream_is_down_reach_the_playground_once(stream_rig, fake_tradier):
    gate = Gate(open_=False)
    rig = stream_rig(sleep=gate)
    rig.stream.start()
    wait_open(fake_tradier)
    control(fake_tradier, "drop")  # closed without a frame; the link waits at the gate: down
    wait(rig.stream.link, lambda s: s.drops >= 1 and not s.connected, "noticed the drop")
    fake_tradier.price(SPY=50.0)
    orders = [rig.buy(1), rig.buy(3)]
    fake_tradier.tick()
    rig.desk.poll()  # polling is the truth: the fill of the first order arrives without the stream
    fake_tradier.tick()
    rig.desk.poll()
    assert rig.desk.poll_events() == 0
    gate.opened.set()  # the stream comes back, with a new session
    wait_open(fake_tradier)
    rig.desk.poll()
    rig.desk.poll_events()
    assert sorted(rig.trades()) == sorted([(orders[0].id, 1.0), (orders[1].id, 3.0)])
    assert rig.desk.account(rig.pid).positions["SPY"].quantity == 4.0
    assert len(rig.stream.session.ids) == 2 == len(set(rig.stream.session.ids))


def test_a_storm_of_100_drops_loses_no_fill(stream_rig, fake_tradier):
    gate = Gate()
    rig = stream_rig(sleep=gate)
    control(fake_tradier, "faults", [{"stream": "account", "action": "close", "times": 100}])
    rig.stream.start()
    fake_tradier.price(SPY=20.0)
    placed = []
    for _ in range(5):  # orders fill and are polled while the stream keeps dropping
        placed.append(rig.buy(1))
        fake_tradier.tick()
        rig.desk.poll()
    wait_open(fake_tradier)
    placed.append(rig.buy(1))
    rig.stream.events.drain()
    fake_tradier.tick()
    assert rig.stream.events.wait(WAIT_S), "no order event after the storm"
    rig.desk.poll_events()
    rig.desk.poll()
    assert sorted(rig.trades()) == sorted((o.id, 1.0) for o in placed)
    assert rig.desk.account(rig.pid).positions["SPY"].quantity == 6.0
    stats = control(fake_tradier, "stats")
    assert [c["outcome"] for c in stats["connects"]][:101] == ["close"] * 100 + ["open"]
    assert rig.stream.link.stats.drops >= 100
    assert len(set(rig.stream.session.ids)) == len(rig.stream.session.ids) >= 101, "a session id was reused"
    assert max(gate.slept) == 0.5 and gate.slept[:3] == pytest.approx([0.01, 0.02, 0.04]), \
        "back-off does not double to its cap"


def test_a_silent_stream_is_reconnected(stream_rig, fake_tradier):
    mono = Mono()
    rig = stream_rig(now=mono, silent_after_s=150)
    control(fake_tradier, "faults", [{"stream": "account", "action": "silent"}])  # heartbeats stopped
    rig.stream.start()
    wait(rig.stream.link, lambda s: s.connects >= 1, "connected")
    mono.advance(151)
    wait(rig.stream.link, lambda s: s.silent == 1, "gave up on the silent socket")
    wait_open(fake_tradier)
    control(fake_tradier, "heartbeat")
    wait(rig.stream.link, lambda s: s.frames >= 1, "received the heartbeat")
    assert rig.stream.heartbeats == 1
    outcomes = [c["outcome"] for c in control(fake_tradier, "stats")["connects"]]
    assert outcomes == ["silent", "open"]


def test_an_expired_session_gets_a_new_one(stream_rig, fake_tradier):
    rig = stream_rig()
    control(fake_tradier, "faults", [{"stream": "account", "action": "expire", "times": 2}])
    rig.stream.start()
    wait_open(fake_tradier)
    stats = control(fake_tradier, "stats")
    assert [c["outcome"] for c in stats["connects"]] == ["session expired", "session expired", "open"]
    used = [c["sessionid"] for c in stats["connects"]]
    assert used == rig.stream.session.ids and len(set(used)) == 3, "a session id was used twice"
    assert "session expired" in rig.stream.link.stats.last_error


# --- the market stream ----------------------------------------------------------------------------
def test_market_stream_buffers_its_symbols_events(fake_tradier):
    broker = TradierBroker(fake_tradier.config())
    stream = MarketStream(broker, ["spy"], filters=("trade", "timesale"), options={"recv_timeout_s": 0.05})
    try:
        stream.start()
        wait_open(fake_tradier, "market")
        control(fake_tradier, "market", [
            {"type": "trade", "symbol": "QQQ", "price": "1", "size": "1", "date": "1"},  # not subscribed
            {"type": "trade", "symbol": "SPY", "price": "450.25", "size": "10", "date": "1796742000000"},
            {"type": "timesale", "symbol": "SPY", "last": "450.5", "size": "3", "date": "1796742001000"}])
        wait(stream.link, lambda s: s.frames >= 2, "received both SPY frames")
        events = stream.drain()
        assert [(e.kind, e.symbol, e.price, e.size) for e in events] == [("trade", "SPY", 450.25, 10.0),
                                                                          ("timesale", "SPY", 450.5, 3.0)]
        assert stream.drain() == []
        with pytest.raises(ValueError, match="filters must be some of"):
            MarketStream(broker, ["SPY"], filters=("bars",))
    finally:
        stream.stop()
        broker.close()


# --- the gateway: [tradier] streams = true ---------------------------------------------------------
def test_the_gateway_applies_an_order_event_between_polls(tmp_path, fake_tradier, monkeypatch):
    """With a poll period of an hour, only the stream's event can fill the order within the test."""
    from actors.gateway.live import LiveConfig  # noqa: PLC0415

    config_file = tmp_path / "tradier.toml"
    config_file.write_text(f'account_id = "{ACCOUNT}"\nbase_url = "{fake_tradier.base_url}"\n'
                           'streams = true\nrecv_timeout_s = 0.05\nbackoff_s = 0.01\n')
    monkeypatch.setenv("TRADIER_TOKEN", TRADING_TOKEN)
    fake_tradier.set(fill_mode="tick", time_ns=OPEN_T)
    fake_tradier.price(SPY=10.0)
    config = LiveConfig(brokers=("tradier",), feed="push", tradier_config=str(config_file),
                        poll_seconds=3600.0, settle_seconds=0.0).validate()
    done = fill_between_polls(tmp_path / "gw", config, OPEN_T, "tradier", fake_tradier,
                              lambda: wait_open(fake_tradier), WAIT_S)
    assert done.status == "filled", f"the stream's event was not applied: {done.status} {done.reject_reason}"
    assert control(fake_tradier, "wait_open", {"stream": "account", "count": 0})["open"]
