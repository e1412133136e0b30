"""TradierBroker against the fake Tradier server: requests, envelopes, parsing (the faults, rate
limits and auth are in test_tradier_faults.py)."""
from __future__ import annotations

import pytest
import requests

from backtestester.live.port import (
    Ack,
    Bar,
    Broker,
    BrokerConfig,
    BrokerError,
    OrderIntent,
    Rejected,
    find_by_tag,
    intent_tag,
)
from backtestester.live.tradier import TradierBroker, normal_status, parse_order

from .fake_tradier import ACCOUNT, DATA_TOKEN, TRADING_TOKEN
from .tradier_control import T0, StepClock

NS = 1_000_000_000


@pytest.fixture
def broker(fake_tradier):
    clock = StepClock()
    broker = TradierBroker(fake_tradier.config(), now=clock.now, sleep=clock.sleep)
    yield broker
    broker.close()


def buy(key: str, quantity: int = 10, symbol: str = "SPY", **fields) -> OrderIntent:
    return OrderIntent(key=key, symbol=symbol, side=fields.pop("side", "buy"), quantity=quantity, **fields)


def raw(fake, path: str, token: str = TRADING_TOKEN, **params) -> dict:
    """The fake's own JSON for ``path`` (to show which envelope it served)."""
    answer = requests.get(f"{fake.base_url}{path}", params=params, timeout=10,
                          headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    return answer.json()


def test_the_adapter_implements_the_broker_port(broker):
    assert isinstance(broker, Broker)
    assert (broker.name, broker.account_id) == ("tradier", ACCOUNT)


def test_configuration_errors_say_what_is_accepted():
    with pytest.raises(ValueError, match="environment must be one of sandbox, production, got 'paper'"):
        TradierBroker(BrokerConfig("tradier", "VA1", trading_token="t", options={"environment": "paper"}))
    with pytest.raises(ValueError, match="needs an account_id"):
        TradierBroker(BrokerConfig("tradier", "", trading_token="t"))
    with pytest.raises(ValueError, match="needs a trading_token"):
        TradierBroker(BrokerConfig("tradier", "VA1"))


def test_default_hosts_follow_the_environment_and_data_defaults_to_trading():
    sandbox = TradierBroker(BrokerConfig("tradier", "VA1", trading_token="t"))
    production = TradierBroker(BrokerConfig("tradier", "VA1", trading_token="t", data_url="https://d/v1/",
                                            options={"environment": "production"}))
    assert (sandbox.base_url, sandbox.data_url) == ("https://sandbox.tradier.com/v1",) * 2
    assert (production.base_url, production.data_url) == ("https://api.tradier.com/v1", "https://d/v1")
    assert sandbox.data_token == "t"


def test_place_posts_an_equity_form_with_the_tag_and_the_trading_token(broker, fake_tradier):
    fake_tradier.price(SPY=450.0)
    intent = buy("pg1-req1-0", 10)
    outcome = broker.place(intent)
    assert isinstance(outcome, Ack)
    [sent] = fake_tradier.requests()
    assert sent["method"] == "POST" and sent["path"] == f"/v1/accounts/{ACCOUNT}/orders"
    assert sent["form"] == {"class": "equity", "symbol": "SPY", "side": "buy", "quantity": "10", "type": "market",
                            "duration": "day", "tag": intent.tag}
    assert (sent["token"], sent["accept"]) == (TRADING_TOKEN, "application/json")
    [order] = fake_tradier.orders()
    assert str(order["id"]) == outcome.order_id and order["tag"] == intent.tag


def test_limit_stop_and_stop_limit_forms_carry_their_prices(broker, fake_tradier):
    broker.place(buy("a", 1, order_type="limit", price=101.25))
    broker.place(buy("b", 1, order_type="stop", stop=99.5, side="buy"))
    broker.place(buy("c", 1, order_type="stop_limit", price=100.0, stop=99.0, duration="gtc"))
    forms = [sent["form"] for sent in fake_tradier.requests()]
    assert (forms[0]["price"], "stop" in forms[0]) == ("101.25", False)
    assert (forms[1]["stop"], "price" in forms[1]) == ("99.5", False)
    assert (forms[2]["price"], forms[2]["stop"], forms[2]["duration"]) == ("100", "99", "gtc")


def test_a_limit_order_without_a_price_is_refused_before_sending(broker, fake_tradier):
    with pytest.raises(ValueError, match="a limit order needs a price"):
        broker.place(buy("a", 1, order_type="limit"))
    assert fake_tradier.requests() == []


def test_bad_tags_are_rejected_by_the_fake_as_tradier_does_and_intent_tags_never_are(broker, fake_tradier):
    long_tag = broker.place(buy("x", tag="a" * 256))
    underscore = broker.place(buy("y", tag="my_tag"))
    assert long_tag == Rejected("Invalid parameter, tag: contains more than 255 characters.")
    assert underscore == Rejected("Invalid parameter, tag: contains invalid characters.")
    keys = ["pg_1:req 7/leg.0", "é" * 300, "x" * 5000, "---", "a.b:c d/e", "0"]
    outcomes = [broker.place(buy(key)) for key in keys]
    assert all(isinstance(outcome, Ack) for outcome in outcomes), outcomes
    assert [order["tag"] for order in fake_tradier.orders()] == [intent_tag(key) for key in keys]


def test_list_orders_reads_the_three_envelopes(broker, fake_tradier):
    path = f"/accounts/{ACCOUNT}/orders"
    assert raw(fake_tradier, path) == {"orders": "null"}
    assert broker.list_orders() == []
    fake_tradier.price(SPY=450.0)
    broker.place(buy("one"))
    assert isinstance(raw(fake_tradier, path)["orders"]["order"], dict)
    [only] = broker.list_orders()
    assert (only.symbol, only.side, only.quantity, only.status, only.tag) == ("SPY", "buy", 10, "filled", intent_tag("one"))
    broker.place(buy("two", 5))
    assert isinstance(raw(fake_tradier, path)["orders"]["order"], list)
    assert [order.tag for order in broker.list_orders()] == [intent_tag("one"), intent_tag("two")]


def test_list_orders_reads_every_page_with_tags(fake_tradier):
    clock = StepClock()
    broker = TradierBroker(fake_tradier.config(options={"page_limit": 2}), now=clock.now, sleep=clock.sleep)
    for n in range(5):
        broker.place(buy(f"k{n}", n + 1))
    assert [order.quantity for order in broker.list_orders()] == [1, 2, 3, 4, 5]
    listed = [sent["query"] for sent in fake_tradier.requests() if sent["method"] == "GET"]
    assert [(q["page"], q["limit"], q["includeTags"]) for q in listed] == [("1", "2", "true"), ("2", "2", "true"),
                                                                            ("3", "2", "true")]


def test_fills_are_cumulative_exec_quantity_across_scripted_partials(broker, fake_tradier):
    fake_tradier.set(fill_mode="tick")
    fake_tradier.price(SPY=450.0)
    fake_tradier.partial([0.4, 0.6])
    order_id = broker.place(buy("p", 10)).order_id
    assert broker.get_order(order_id).status == "pending"
    seen = []
    for price in (450.0, 451.0):
        fake_tradier.price(SPY=price)
        fake_tradier.tick()
        order = broker.get_order(order_id)
        seen.append((order.status, order.exec_quantity, round(order.avg_fill_price, 4)))
    assert seen == [("partially_filled", 4.0, 450.0), ("filled", 10.0, 450.6)]
    assert fake_tradier.positions() == {"SPY": 10.0}


def test_the_older_executed_quantity_field_is_read_too(broker, fake_tradier):
    fake_tradier.set(exec_field="executed_quantity")
    fake_tradier.price(SPY=450.0)
    broker.place(buy("e", 3))
    [order] = broker.list_orders()
    assert (order.status, order.exec_quantity) == ("filled", 3.0)


def test_a_rejected_order_carries_its_reason_description(broker, fake_tradier):
    fake_tradier.reject("DayTradingBuyingPowerExceeded")
    ack = broker.place(buy("r"))
    order = find_by_tag(broker.list_orders(), intent_tag("r"))
    assert (order.id, order.status, order.reason) == (ack.order_id, "rejected", "DayTradingBuyingPowerExceeded")


def test_statuses_are_normalised_to_the_ports_vocabulary():
    for status in ("open", "partially_filled", "filled", "expired", "canceled", "pending", "rejected", "error"):
        assert normal_status(status) == status
    for status in ("calculated", "accepted_for_bidding", "held", "something_new", None):
        assert normal_status(status) == "pending"
    order = parse_order({"id": 7, "symbol": "spy", "side": "sell_short", "quantity": 5.0, "status": "held",
                         "executed_quantity": 2.0, "create_date": "2018-06-01T12:02:29.682Z", "tag": "null"})
    assert (order.id, order.symbol, order.status, order.exec_quantity, order.tag) == ("7", "SPY", "pending", 2.0, None)
    assert order.created_ns == 1527854549682000000


def test_cancel_a_working_order_and_a_finalized_one_both_return_none(broker, fake_tradier):
    fake_tradier.set(fill_mode="tick")
    working = broker.place(buy("w")).order_id
    assert broker.cancel(working) is None
    assert broker.get_order(working).status == "canceled"
    fake_tradier.set(fill_mode="immediate")
    fake_tradier.price(SPY=450.0)
    filled = broker.place(buy("f")).order_id
    assert broker.cancel(filled) is None  # 400 "order already in finalized state: filled": the poll decides
    assert broker.get_order(filled).status == "filled"


def test_positions_are_signed_with_total_cost_basis_in_every_envelope(broker, fake_tradier):
    assert raw(fake_tradier, f"/accounts/{ACCOUNT}/positions") == {"positions": "null"}
    assert broker.positions() == []
    fake_tradier.position("SPY", -100, -45_000.0)
    assert [(p.symbol, p.quantity, p.cost_basis) for p in broker.positions()] == [("SPY", -100, -45_000.0)]
    fake_tradier.position("AAPL", 5, 1_000.0)
    assert {p.symbol: p.quantity for p in broker.positions()} == {"AAPL": 5, "SPY": -100}


def test_balances_read_total_equity_cash_and_account_type(broker, fake_tradier):
    fake_tradier.position("SPY", 10, 4_000.0)
    fake_tradier.price(SPY=450.0)
    balances = broker.balances()
    assert (balances.equity, balances.cash, balances.account_type, balances.market_value) == (
        104_500.0, 100_000.0, "margin", 4_500.0)


def test_market_data_uses_the_data_token_and_accounts_the_trading_token(broker, fake_tradier):
    broker.clock()
    broker.positions()
    assert [(sent["path"], sent["token"]) for sent in fake_tradier.requests()] == [
        ("/v1/markets/clock", DATA_TOKEN), (f"/v1/accounts/{ACCOUNT}/positions", TRADING_TOKEN)]


def test_clock_reads_state_and_server_time_and_a_stale_clock_shows(broker, fake_tradier):
    assert broker.clock().state == "open" and broker.clock().server_ns == T0
    fake_tradier.set(clock_lag_s=30)
    assert broker.clock().server_ns == T0 - 30 * NS
    fake_tradier.set(time_ns=T0 + 8 * 3600 * NS, clock_lag_s=0)  # 23:00 UTC = 18:00 ET
    assert broker.clock().state == "postmarket"


def hour_utc(ns: int) -> str:
    return f"{ns // NS % 86400 // 3600:02d}:{ns // NS % 3600 // 60:02d}"


def test_calendar_windows_are_eastern_times_as_utc_ns(broker):
    days = {day.date: day for day in broker.calendar(2026, 12)}
    assert len(days) == 31
    normal, early, christmas, sunday = days["2026-12-08"], days["2026-12-24"], days["2026-12-25"], days["2026-12-06"]
    assert normal.is_open and tuple(map(hour_utc, normal.regular)) == ("14:30", "21:00")  # EST: UTC-5
    assert tuple(map(hour_utc, normal.premarket)) == ("12:00", "14:24")
    assert early.is_open and hour_utc(early.regular[1]) == "18:00"  # 13:00 ET early close
    assert (christmas.is_open, christmas.regular, sunday.is_open) == (False, None, False)
    july = {day.date: day for day in broker.calendar(2026, 7)}
    assert hour_utc(july["2026-07-06"].regular[0]) == "13:30"  # EDT: UTC-4
    assert not july["2026-07-03"].is_open  # Independence Day observed


def test_quotes_leave_out_unmatched_symbols(broker, fake_tradier):
    assert broker.quotes([]) == []
    fake_tradier.price(SPY=450.0, QQQ=380.0)
    [spy] = broker.quotes(["spy", "NOPE"])
    assert (spy.symbol, spy.last, spy.bid, spy.ask, spy.time_ns) == ("SPY", 450.0, 449.99, 450.01, T0)
    assert [q.symbol for q in broker.quotes(["SPY", "QQQ"])] == ["SPY", "QQQ"]
    assert broker.quotes(["NOPE"]) == []


def minute_rows(first_s: int, count: int, step_s: int = 60) -> list[dict]:
    return [{"timestamp": first_s + i * step_s, "open": 100.0 + i, "high": 101.0 + i, "low": 99.0 + i,
             "close": 100.5 + i, "volume": 1000 + i} for i in range(count)]


def test_bars_come_from_time_sales_keyed_by_interval_start(broker, fake_tradier):
    start_s = T0 // NS
    assert broker.bars("SPY", 60, T0, T0 + 600 * NS) == []  # series: null
    fake_tradier.series("SPY", "1min", minute_rows(start_s, 1))  # data: one bare object
    assert broker.bars("spy", 60, T0, T0 + 600 * NS) == [Bar("SPY", 60, T0, 100.0, 101.0, 99.0, 100.5, 1000.0)]
    fake_tradier.series("SPY", "1min", minute_rows(start_s - 120, 6))
    bars = broker.bars("SPY", 60, T0, T0 + 180 * NS)
    assert [bar.start_ns for bar in bars] == [T0, T0 + 60 * NS, T0 + 120 * NS]
    assert bars[0].open == 102.0
    query = fake_tradier.requests()[-1]["query"]
    assert (query["interval"], query["start"], query["session_filter"]) == ("1min", "2026-12-08 10:00", "all")


def test_five_minute_bars_ask_for_5min_and_keep_aligned_bars_only(broker, fake_tradier):
    fake_tradier.series("SPY", "5min", minute_rows(T0 // NS, 3, 300) + minute_rows(T0 // NS + 60, 1))
    bars = broker.bars("SPY", 300, T0, T0 + 900 * NS)
    assert [bar.start_ns for bar in bars] == [T0, T0 + 300 * NS, T0 + 600 * NS]
    assert fake_tradier.requests()[-1]["query"]["interval"] == "5min"
    with pytest.raises(ValueError, match="periods of 60, 300, 900 seconds"):
        broker.bars("SPY", 120, T0, T0 + 900 * NS)


def test_get_order_of_an_unknown_id_raises(broker):
    with pytest.raises(BrokerError, match="no order 424242|Order not found"):
        broker.get_order("424242")
