"""Alpaca's trade-updates stream (backtestester/live/alpaca_stream.py) against the fake Alpaca server:
it authenticates and listens, reads paper's binary frames, wakes the poller on an event, reconnects
after a drop without a close frame, and a storm of 100 drops in a row loses no fill (polling is the
truth). Every wait is on the stream's condition, with a generous deadline that fails with a message."""
from __future__ import annotations

import pytest

from backtestester.live.alpaca import AlpacaBroker
from backtestester.live.alpaca_stream import TradeUpdates, stream_url
from backtestester.live.port import OrderIntent

from .deskkit import T0
from .venuekit import AlpacaRig

DEADLINE_S = 30.0


def wait(stream: TradeUpdates, predicate, what: str) -> None:
    assert stream.wait_for(predicate, DEADLINE_S), (f"{what} within {DEADLINE_S:g} s: connects {stream.connects}, "
                                                    f"drops {stream.drops}, events {stream.events}, "
                                                    f"last error {stream.last_error!r}")


def test_stream_url_follows_the_trading_host():
    assert stream_url("https://paper-api.alpaca.markets") == "wss://paper-api.alpaca.markets/stream"
    assert stream_url("http://127.0.0.1:5000/") == "ws://127.0.0.1:5000/stream"


def test_a_fill_event_wakes_the_poller_with_the_order_id(fake_alpaca):
    fake_alpaca.set(fill_mode="tick")
    fake_alpaca.price(SPY=100.0)
    broker = AlpacaBroker(fake_alpaca.config(), now=lambda: T0)
    try:
        stream = broker.start_stream()
        wait(stream, lambda s: s.connects == 1, "listening")
        intent = OrderIntent(key="pg/1/1", symbol="SPY", side="buy", quantity=5)
        order_id = broker.place(intent).order_id
        fake_alpaca.tick()
        wait(stream, lambda s: s.events == 2, "the new and fill events")
        assert stream.activity.is_set()
        assert [(e.event, e.order_id, e.client_order_id) for e in stream.drain()] == [
            ("new", order_id, intent.tag), ("fill", order_id, intent.tag)]
        assert not stream.activity.is_set() and stream.drain() == []
        assert stream.running
    finally:
        broker.close()
    assert not broker.stream.running  # close() joined the thread


def test_refused_keys_are_reported_and_retried_without_crashing(fake_alpaca):
    stream = TradeUpdates(fake_alpaca.stream_url, "wrong", "keys", backoff_s=0.001, max_backoff_s=0.001).start()
    try:
        wait(stream, lambda s: s.drops >= 2, "two refusals")
        assert stream.connects == 0 and "unauthorized" in stream.last_error
    finally:
        stream.stop()


def test_a_stream_closed_right_after_listening_reconnects(fake_alpaca):
    fake_alpaca.set(stream_drops=3)
    stream = TradeUpdates(fake_alpaca.stream_url, *fake_alpaca_keys(fake_alpaca), backoff_s=0.001).start()
    try:
        wait(stream, lambda s: s.connects == 4 and s.drops == 3, "three drops then a connection that stays")
        assert fake_alpaca.stream_info()["listening"] == 1
    finally:
        stream.stop()


def fake_alpaca_keys(fake) -> tuple[str, str]:
    options = fake.config().options
    return options["key_id"], options["secret_key"]


@pytest.fixture
def rig(tmp_path, fake_alpaca):
    rig = AlpacaRig(tmp_path, fake_alpaca)
    yield rig
    rig.broker.close()


def test_a_storm_of_100_stream_drops_loses_no_fill(rig):
    """A 100-share order fills a tenth at a time while the stream is dropped 100 times in a row
    (each drop without a close frame, each reconnection dropped again): every fill reaches the
    desk once, through polling, and the stream still wakes the poller afterwards."""
    stream = rig.broker.start_stream()
    wait(stream, lambda s: s.connects == 1, "listening")
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.partial([0.1] * 10)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=100)
    for drop in range(1, 101):
        rig.fake.drop_streams()
        wait(stream, lambda s, n=drop: s.drops == n and s.connects == n + 1, f"reconnection after drop {drop}")
        if drop % 10 == 0:
            rig.bar(drop // 10, 100.0 + drop // 10)  # one more tenth fills while the stream keeps dropping
    assert order.status == "filled"
    assert [(t.quantity, t.price) for t in order.trades] == [(10, 100.0 + k) for k in range(1, 11)]
    assert rig.desk.account(pid).positions["SPY"].quantity == 100 and rig.fake.positions() == {"SPY": 100}
    stream.drain()
    rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=1)
    wait(stream, lambda s: s.activity.is_set(), "an event after the storm")
    assert [e.event for e in stream.drain()] == ["new"]
