"""Alpaca's trade-updates stream (backtestester/live/alpaca_stream.py) against the fake Alpaca server:
it authenticates and listens (on the shared StreamLink), reads paper's binary frames, puts each
event's order id in the broker's order_events so the desk reads exactly that order before any poll,
reconnects after a drop without a close frame, and a storm of 100 drops in a row loses no fill
(polling is the truth). Every wait is on a condition, with a generous deadline that fails with a message."""
from __future__ import annotations

import threading
import time

import pytest

from backtestester.live.alpaca import AlpacaBroker
from backtestester.live.alpaca_stream import TradeUpdates, stream_url
from backtestester.live.port import OrderIntent

from .deskkit import MIN, T0
from .tradier_control import T0 as OPEN_T  # a Tuesday 10:00 ET: the market sessions accept orders
from .venuekit import AlpacaRig, fill_between_polls

DEADLINE_S = 30.0


def wait(stream: TradeUpdates, predicate, what: str) -> None:
    """Until ``predicate(stats)`` holds for the stream's link."""
    stats = stream.link.stats
    assert stream.link.wait_for(predicate, DEADLINE_S), (f"{what} within {DEADLINE_S:g} s: connects {stats.connects}, "
                                                         f"drops {stats.drops}, events {stream.events.received}, "
                                                         f"last error {stats.last_error!r}")


def test_stream_url_follows_the_trading_host():
    assert stream_url("https://paper-api.alpaca.markets") == "wss://paper-api.alpaca.markets/stream"
    assert stream_url("http://127.0.0.1:5000/") == "ws://127.0.0.1:5000/stream"


def test_a_fill_event_reports_the_order_id_to_the_desk(fake_alpaca):
    fake_alpaca.set(fill_mode="tick")
    fake_alpaca.price(SPY=100.0)
    broker = AlpacaBroker(fake_alpaca.config(), now=lambda: T0)
    assert broker.order_events is None  # no stream started: the desk only polls
    try:
        stream = broker.start_stream()
        assert broker.order_events is stream.events
        wait(stream, lambda s: s.connects == 1, "listening")
        intent = OrderIntent(key="pg/1/1", symbol="SPY", side="buy", quantity=5)
        order_id = broker.place(intent).order_id
        fake_alpaca.tick()
        assert stream.link.wait_for(lambda s: stream.events.received == 2, DEADLINE_S), "the new and fill events"
        assert stream.events.wait(0)
        assert stream.events.drain() == [order_id]  # both events, one id
        assert (stream.last[order_id].event, stream.last[order_id].client_order_id) == ("fill", intent.tag)
        assert not stream.events.wait(0) and stream.events.drain() == []
        assert stream.running
    finally:
        broker.close()
    assert not broker.stream.running  # close() joined the thread


def test_refused_keys_are_reported_and_retried_at_the_longest_back_off(fake_alpaca):
    """Keys do not get better by hammering: every retry after a refusal waits max_backoff_s (the
    injected sleep records the waits and returns at once)."""
    waits: list[float] = []
    stream = TradeUpdates(fake_alpaca.stream_url, "wrong", "keys", backoff_s=0.25, max_backoff_s=8.0,
                          sleep=waits.append).start()
    try:
        wait(stream, lambda s: s.refused >= 2, "two refusals")
        assert stream.link.stats.connects == 0 and "unauthorized" in stream.link.stats.last_error
    finally:
        stream.stop()
    assert len(waits) >= 2 and set(waits) == {8.0}


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
    desk once, through polling, and the stream still reports orders afterwards."""
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
    stream.events.drain()
    rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=1)
    assert stream.events.wait(DEADLINE_S), "no event after the storm"
    assert stream.events.drain() == [rig.fake.orders()[-1]["id"]]


def test_a_fill_event_makes_the_desk_read_that_order_before_any_poll(rig):
    """The desk reacts to the stream exactly as to Tradier's: poll_events reads the reported order
    (one GET of it) and applies its fill; the next poll applies nothing again."""
    stream = rig.broker.start_stream()
    wait(stream, lambda s: s.connects == 1, "listening")
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=3)
    assert rig.desk.wait_events(DEADLINE_S), "no event for the new order"
    rig.desk.poll_events()
    assert order.status != "filled"
    broker_id = rig.fake.orders()[-1]["id"]
    rig.clock.t = T0 + 2 * MIN
    rig.fake.set(time_ns=rig.clock.t)
    rig.fake.price(SPY=101.0)
    rig.fake.tick()  # the fake fills; its stream sends the fill
    assert rig.desk.wait_events(DEADLINE_S), "no fill event"
    assert rig.desk.poll_events() == 1
    assert order.status == "filled" and [t.quantity for t in order.trades] == [3]
    gets = [r for r in rig.fake.requests() if r["method"] == "GET" and r["path"] == f"/v2/orders/{broker_id}"]
    assert gets, "the event did not make the desk read the order"
    rig.desk.poll()
    assert [t.quantity for t in order.trades] == [3]


def test_the_gateway_applies_a_trade_update_between_polls(tmp_path, fake_alpaca, monkeypatch):
    """With a poll period of an hour, only the stream's event can fill the order within the test:
    the gateway's loop waits on desk.wait_events (no separate wake-up) and applies it."""
    from actors.gateway.live import LiveConfig  # noqa: PLC0415

    key_id, secret_key = fake_alpaca_keys(fake_alpaca)
    monkeypatch.setenv("BT_TEST_ALPACA_KEY", key_id)
    monkeypatch.setenv("BT_TEST_ALPACA_SECRET", secret_key)
    toml = tmp_path / "alpaca.toml"
    toml.write_text(f'base_url = "{fake_alpaca.base_url}"\ndata_url = "{fake_alpaca.base_url}"\n'
                    'key_id_env = "BT_TEST_ALPACA_KEY"\nsecret_key_env = "BT_TEST_ALPACA_SECRET"\n')
    fake_alpaca.set(fill_mode="tick", time_ns=OPEN_T)
    fake_alpaca.price(SPY=10.0)
    config = LiveConfig(brokers=("alpaca",), feed="push", alpaca_config=str(toml), poll_seconds=3600.0,
                        settle_seconds=0.0).validate()
    done = fill_between_polls(tmp_path / "gw", config, OPEN_T, "alpaca", fake_alpaca,
                              lambda: fake_alpaca_listening(fake_alpaca), DEADLINE_S)
    assert done.status == "filled", f"the stream's event was not applied: {done.status} {done.reject_reason}"
    assert not [t for t in threading.enumerate() if t.name == "stream-alpaca-trade-updates"], "the stream outlived stop"


def fake_alpaca_listening(fake) -> None:
    """Until the fake has a listening stream connection (a condition polled with a deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while fake.stream_info()["listening"] < 1:
        assert time.monotonic() < deadline, "the trade-updates stream is not listening"
        time.sleep(0.02)
