"""AlpacaBroker (backtestester/live/alpaca.py) against the fake Alpaca server: Alpaca's payloads
(numbers as strings, null prices, two sides, trading days only in the calendar), its errors
(401, 403, 404, 422, 429, 5xx, HTML), list and bar pages, and the configuration it refuses."""
from __future__ import annotations

import pytest

from backtestester.live.alpaca import AlpacaBroker, order_body, parse_order
from backtestester.live.alpaca_config import read_alpaca_config
from backtestester.live.alpaca_http import classify
from backtestester.live.port import (
    Ack,
    BrokerAuthError,
    BrokerConfig,
    BrokerError,
    BrokerUnavailable,
    OrderIntent,
    Rejected,
)
from backtestester.live.tradier_http import AUTH, OK, RATE, REFUSED, TRANSIENT
from backtestester.sweep.arguments import load_toml

from .tradier_control import T0, StepClock

ORDERS = {"method": "GET", "path": "/v2/orders"}


@pytest.fixture
def clock():
    return StepClock(T0)


@pytest.fixture
def broker(fake_alpaca, clock):
    fake_alpaca.set(time_ns=T0)  # Tuesday 2026-12-08 10:00 New York
    broker = AlpacaBroker(fake_alpaca.config(), now=clock.now, sleep=clock.sleep)
    yield broker
    broker.close()


def intent(key="pg/1/1", side="buy", quantity=5, **kw):
    return OrderIntent(key=key, symbol="SPY", side=side, quantity=quantity, **kw)


def test_an_order_body_carries_the_tag_and_alpacas_two_sides():
    body = order_body(intent(side="sell_short", order_type="stop_limit", price=101.5, stop=100.25))
    assert body == {"symbol": "SPY", "qty": "5", "side": "sell", "type": "stop_limit", "time_in_force": "day",
                    "client_order_id": intent().tag, "limit_price": "101.5", "stop_price": "100.25"}
    assert order_body(intent(side="buy_to_cover", duration="gtc"))["side"] == "buy"
    assert order_body(intent(order_type="limit", price=10, duration="pre"))["extended_hours"] is True
    with pytest.raises(ValueError, match="extended-hours .* limit orders only"):
        order_body(intent(duration="post"))


def test_an_order_with_null_prices_and_string_numbers_reads_as_zeros():
    order = parse_order({"id": "x", "client_order_id": "bt-1", "symbol": "spy", "qty": "10", "filled_qty": "0",
                         "filled_avg_price": None, "status": "pending_new", "side": "buy", "type": "market",
                         "created_at": "2026-12-08T15:00:00.123456789Z"})
    assert (order.symbol, order.quantity, order.exec_quantity, order.avg_fill_price) == ("SPY", 10.0, 0.0, 0.0)
    assert order.status == "pending" and order.is_working and order.tag == "bt-1"
    assert parse_order({"id": "y", "status": "done_for_day"}).is_working
    assert parse_order({"id": "z", "status": "replaced"}).status == "canceled"


def test_answers_are_read_by_status():
    assert classify(204, "").kind == OK
    assert classify(200, "[]").kind == OK
    assert classify(401, '{"code": 40110000, "message": "request is not authorized"}').kind == AUTH
    assert classify(422, '{"code": 40010001, "message": "qty must be > 0"}').text == "qty must be > 0 (code 40010001)"
    assert classify(422, "{}").kind == REFUSED and classify(429, "slow down").kind == RATE
    assert classify(502, "<html>bad gateway</html>").kind == TRANSIENT
    assert classify(200, "<html>maintenance</html>").text == "HTTP 200 with an HTML page instead of JSON"


def test_account_reads(broker, fake_alpaca):
    fake_alpaca.price(SPY=100.0, QQQ=50.0)
    fake_alpaca.position("SPY", 10, 900.0)
    fake_alpaca.position("QQQ", -4, -220.0)
    assert {(p.symbol, p.quantity, p.cost_basis) for p in broker.positions()} == {("SPY", 10, 900.0),
                                                                                ("QQQ", -4, -220.0)}
    balances = broker.balances()
    assert (balances.cash, balances.account_type, balances.market_value) == (100_000.0, "margin", 800.0)
    assert broker.clock().server_ns == T0 and broker.clock().state == "open"  # Tuesday 10:00 New York
    days = {d.date: d for d in broker.calendar(2026, 12)}
    assert len(days) == 31 and not days["2026-12-25"].is_open and not days["2026-12-06"].is_open
    assert days["2026-12-24"].regular[1] - days["2026-12-24"].regular[0] == int(3.5 * 3600e9)  # early close
    [quote] = broker.quotes(["spy", "NOPE"])
    assert (quote.symbol, quote.last, quote.bid, quote.ask) == ("SPY", 100.0, 99.99, 100.01)


def test_bars_are_read_page_after_page(broker, fake_alpaca):
    minutes = [f"2026-12-08T15:0{i}:00Z" for i in range(5)]
    fake_alpaca.series("SPY", "1Min", [{"t": t, "o": 1, "h": 2, "l": 0.5, "c": 1.5 + i, "v": 100}
                                       for i, t in enumerate(minutes)])
    bars = broker.bars("SPY", 60, T0, T0 + 4 * 60 * 10**9)
    assert [b.close for b in bars] == [1.5, 2.5, 3.5, 4.5] and bars[0].start_ns == T0
    assert sum("/bars" in r["path"] for r in fake_alpaca.requests()) == 2  # four bars, two per page
    with pytest.raises(ValueError, match="periods of 60, 300"):
        broker.bars("SPY", 120, T0, T0)


def test_orders_are_listed_page_after_page_from_the_start_of_the_eastern_day(broker, fake_alpaca, clock):
    broker = AlpacaBroker(fake_alpaca.config(page_limit=2), now=clock.now)
    try:
        for n in range(5):
            fake_alpaca.set(time_ns=T0 + n * 10**9)
            assert isinstance(broker.place(intent(key=f"pg/{n}/1")), Ack)
        assert len(broker.list_orders()) == 5
        lists = [r["query"] for r in fake_alpaca.requests() if r["path"] == "/v2/orders" and r["method"] == "GET"]
        assert lists[0]["after"] == "2026-12-08T04:59:59.999999Z" and lists[0]["status"] == "all"
        assert len(lists) == 3 and lists[1]["after"] == "2026-12-08T15:00:01.000000Z"
    finally:
        broker.close()


def test_order_errors(broker, fake_alpaca):
    fake_alpaca.price(SPY=100.0)
    placed = broker.place(intent())
    assert isinstance(placed, Ack) and broker.get_order(placed.order_id).status == "filled"
    assert broker.cancel(placed.order_id) is None  # 422 not cancelable: the poll tells who won
    with pytest.raises(BrokerError, match="order not found"):
        broker.get_order("nope")
    assert broker.by_client_order_id("bt-unknown") is None
    assert broker.place(intent(key="pg/2/1", side="sell", quantity=50)) == Rejected(
        "insufficient qty available for order (requested: 50, available: 5) (code 40310000)")


@pytest.mark.parametrize("fault,error", [
    ({"action": "respond", "status": 500, "text": "Internal Server Error"}, BrokerUnavailable),
    ({"action": "respond", "status": 200, "text": "<html>maintenance</html>", "content_type": "text/html"},
     BrokerUnavailable),
    ({"action": "respond", "status": 403, "json": {"code": 40310000, "message": "forbidden"}}, BrokerAuthError),
    ({"action": "drop"}, BrokerUnavailable)], ids=["500", "html", "403", "dropped"])
def test_a_failed_order_list_raises_and_is_never_no_orders(broker, fake_alpaca, fault, error):
    fake_alpaca.faults(dict(ORDERS, **fault))
    with pytest.raises(error):
        broker.list_orders()


def test_bad_keys_fail_fast(fake_alpaca):
    broker = AlpacaBroker(fake_alpaca.config(secret_key="wrong"))
    try:
        with pytest.raises(BrokerAuthError, match="check the API key id and secret"):
            broker.balances()
        with pytest.raises(BrokerAuthError):
            broker.place(intent())
        assert len(fake_alpaca.requests()) == 2  # never retried
    finally:
        broker.close()


def test_a_429_on_a_read_waits_until_the_reset_and_retries(broker, fake_alpaca, clock):
    reset_s = T0 // 10**9 + 3
    fake_alpaca.faults(dict(ORDERS, action="respond", status=429, text="too many requests", times=2,
                            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_s)}))
    assert broker.list_orders() == []
    assert clock.slept == [3.0, 2.0]  # until the reset; then, the reset past, the back-off's 2 s


def test_configuration_is_checked():
    with pytest.raises(ValueError, match="environment must be one of paper, live"):
        AlpacaBroker(BrokerConfig("alpaca", options={"environment": "sandbox", "key_id": "k", "secret_key": "s"}))
    with pytest.raises(ValueError, match="needs options key_id and secret_key"):
        AlpacaBroker(BrokerConfig("alpaca", options={"key_id": "k"}))
    live = AlpacaBroker(BrokerConfig("alpaca", options={"environment": "live", "key_id": "k", "secret_key": "s"}))
    assert (live.base_url, live.data_url, live.account_id) == ("https://api.alpaca.markets",
                                                               "https://data.alpaca.markets", "live")
    assert live.stream.url == "wss://api.alpaca.markets/stream"
    live.close()


def test_the_config_file_names_where_the_keys_are(tmp_path, monkeypatch):
    toml = tmp_path / "alpaca.toml"
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    toml.write_text('environment = "paper"\n')
    with pytest.raises(ValueError, match="the environment variable APCA_API_KEY_ID .key_id. is not set"):
        read_alpaca_config(str(toml), load_toml)
    (tmp_path / "secret").write_text("s3cret\n")
    monkeypatch.setenv("MY_KEY", "k1")
    toml.write_text(f'key_id_env = "MY_KEY"\nsecret_key_file = "{tmp_path / "secret"}"\n')
    table = read_alpaca_config(str(toml), load_toml)
    assert (table["key_id"], table["secret_key"]) == ("k1", "s3cret")
    toml.write_text('environment = "sandbox"\n')
    with pytest.raises(ValueError, match="environment 'sandbox': accepted: paper, live"):
        read_alpaca_config(str(toml), load_toml)
    toml.write_text('api_key = "never here"\n')
    with pytest.raises(ValueError, match="unknown keys api_key; accepted: environment"):
        read_alpaca_config(str(toml), load_toml)
