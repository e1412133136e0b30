"""TradierBroker under faults scripted into the fake Tradier server: ambiguous POST outcomes,
200 + errors, HTML pages, faults, auth failures and rate limits (no real waits: the adapter's
``now`` and ``sleep`` are a step clock)."""
from __future__ import annotations

import socket

import pytest

from backtestester.live.port import (
    Ack,
    BrokerAuthError,
    BrokerConfig,
    BrokerError,
    BrokerUnavailable,
    OrderIntent,
    Rejected,
    Unresolved,
    find_by_tag,
    intent_tag,
)
from backtestester.live.tradier import TradierBroker
from backtestester.live.tradier_http import never_sent

from .fake_tradier import ACCOUNT
from .tradier_control import T0, StepClock

NS = 1_000_000_000
POST_ORDERS = {"method": "POST", "path": "/orders"}
GET_ORDERS = {"method": "GET", "path": "/orders"}
GET_POSITIONS = {"method": "GET", "path": "/positions"}
HTML = {"action": "respond", "status": 200, "content_type": "text/html",
        "text": "<html><body>Tradier API documentation</body></html>"}
DATASTORE = {"action": "respond", "status": 500, "json": {"fault": {"faultstring": "Datastore Error",
                                                                    "detail": {"errorcode": "datastore.error"}}}}
ERRORS = {"action": "respond", "status": 200,
          "json": {"errors": {"error": ["Backoffice rejected override of the order. Unexpected SellShortOrder"]}}}


def rate_limited(expiry_ns: int | None, times: int = 1, **match) -> dict:
    headers = {} if expiry_ns is None else {"X-Ratelimit-Allowed": "60", "X-Ratelimit-Used": "60",
                                            "X-Ratelimit-Available": "0",
                                            "X-Ratelimit-Expiry": str(expiry_ns // 1_000_000)}
    return dict(match, action="respond", status=429, text="Rate limit exceeded", headers=headers, times=times,
                bare=expiry_ns is None)


@pytest.fixture
def clock():
    return StepClock()


@pytest.fixture
def broker(fake_tradier, clock):
    broker = TradierBroker(fake_tradier.config(), now=clock.now, sleep=clock.sleep)
    yield broker
    broker.close()


def intent(key: str, quantity: int = 10) -> OrderIntent:
    return OrderIntent(key=key, symbol="SPY", side="buy", quantity=quantity)


# -- ambiguous POST outcomes: Unresolved, never retried, found once by tag --------------------
@pytest.mark.parametrize("fault", [
    {"action": "drop", "commit": True},
    {"action": "respond", "commit": True, "status": 503, "text": "Service Unavailable"},
    dict(HTML, commit=True),
    dict(DATASTORE, commit=True),
], ids=["dropped-response", "503-after-commit", "html-200", "datastore-500"])
def test_an_ambiguous_post_is_unresolved_and_the_order_is_found_once_by_tag(broker, fake_tradier, fault):
    fake_tradier.price(SPY=450.0)
    fake_tradier.faults(dict(POST_ORDERS, **fault))
    outcome = broker.place(intent("lost-1"))
    assert isinstance(outcome, Unresolved), outcome
    found = find_by_tag(broker.list_orders(), intent_tag("lost-1"))
    assert found is not None and found.status == "filled"
    assert len(fake_tradier.orders()) == 1  # exactly one order at the broker: the POST was not retried
    assert sum(sent["method"] == "POST" for sent in fake_tradier.requests()) == 1


def test_a_post_that_times_out_is_unresolved_and_not_retried(fake_tradier, clock):
    broker = TradierBroker(fake_tradier.config(timeout_s=0.5), now=clock.now, sleep=clock.sleep)
    fake_tradier.faults(dict(POST_ORDERS, action="block", commit=True))
    outcome = broker.place(intent("slow"))
    fake_tradier.release()
    assert isinstance(outcome, Unresolved) and "timed out" in outcome.reason.lower()
    assert find_by_tag(broker.list_orders(), intent_tag("slow")) is not None
    assert len(fake_tradier.orders()) == 1


def test_a_post_that_could_not_connect_was_not_sent_and_says_so():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = TradierBroker(BrokerConfig("tradier", ACCOUNT, base_url=f"http://127.0.0.1:{port}/v1",
                                        trading_token="t", timeout_s=2.0))
    with pytest.raises(BrokerUnavailable, match="was not sent"):
        broker.place(intent("x"))
    with pytest.raises(BrokerUnavailable):
        broker.list_orders()


def test_200_with_errors_rejects_a_post_with_the_text_and_fails_a_read(broker, fake_tradier):
    fake_tradier.faults(dict(POST_ORDERS, **ERRORS), dict(GET_POSITIONS, **ERRORS))
    assert broker.place(intent("e")) == Rejected("Backoffice rejected override of the order. Unexpected SellShortOrder")
    assert fake_tradier.orders() == []
    with pytest.raises(BrokerUnavailable, match="Unexpected SellShortOrder"):
        broker.positions()


def test_a_400_plain_text_rejects_a_post_and_is_an_error_on_a_read(broker, fake_tradier):
    fake_tradier.faults(dict(POST_ORDERS, action="respond", status=400, text="Invalid Parameter: quantity"),
                        dict(GET_POSITIONS, action="respond", status=400, text="Invalid Parameter: x"))
    assert broker.place(intent("q")) == Rejected("Invalid Parameter: quantity")
    with pytest.raises(BrokerError, match="HTTP 400 Invalid Parameter: x") as raised:
        broker.positions()
    assert type(raised.value) is BrokerError  # neither transient nor auth: retrying would not help


@pytest.mark.parametrize("fault", [HTML, DATASTORE, {"action": "respond", "status": 200, "json": {"unexpected": 1}},
                                   {"action": "respond", "status": 200, "json": {"orders": 5}},
                                   {"action": "drop"}],
                         ids=["html", "datastore", "no-orders-key", "orders-not-object", "dropped"])
def test_a_failed_or_unreadable_order_list_raises_and_is_never_no_orders(broker, fake_tradier, fault):
    fake_tradier.price(SPY=450.0)
    broker.place(intent("kept"))
    fake_tradier.faults(dict(GET_ORDERS, **fault))
    with pytest.raises(BrokerUnavailable):
        broker.list_orders()
    assert len(broker.list_orders()) == 1  # the next poll reads it again


# -- auth: fail fast, never retried ----------------------------------------------------------
def test_an_invalid_token_fails_fast_on_reads_and_on_place(fake_tradier, clock):
    broker = TradierBroker(fake_tradier.config(trading_token="expired", data_token="expired"),
                           now=clock.now, sleep=clock.sleep)
    for call in (broker.positions, broker.list_orders, broker.clock, lambda: broker.place(intent("a"))):
        with pytest.raises(BrokerAuthError, match="Invalid access token"):
            call()
    assert len(fake_tradier.requests()) == 4 and clock.slept == []
    assert fake_tradier.orders() == []


def test_a_token_fault_is_auth_whatever_the_status(broker, fake_tradier):
    fault = {"fault": {"faultstring": "Access Token expired",
                       "detail": {"errorcode": "keymanagement.service.access_token_expired"}}}
    fake_tradier.faults(dict(GET_POSITIONS, action="respond", status=500, json=fault))
    with pytest.raises(BrokerAuthError, match="Access Token expired"):
        broker.positions()


def test_a_wrong_account_is_unauthorized_account(fake_tradier, clock):
    broker = TradierBroker(fake_tradier.config(account_id="VA999"), now=clock.now, sleep=clock.sleep)
    with pytest.raises(BrokerAuthError, match="Unauthorized Account: VA999"):
        broker.balances()


def test_cancel_of_an_unknown_id_raises_auth_naming_both_causes(broker):
    with pytest.raises(BrokerAuthError, match="Unauthorized Account") as raised:
        broker.cancel("999999")
    assert "order 999999 does not exist or the token is bad" in str(raised.value)


# -- rate limits -----------------------------------------------------------------------------
def test_a_post_rate_limited_twice_then_accepted_loses_no_order(broker, fake_tradier, clock):
    fake_tradier.price(SPY=450.0)
    fake_tradier.faults(rate_limited(T0 + 1_500_000_000, **POST_ORDERS),
                        rate_limited(T0 + 3_000_000_000, **POST_ORDERS))
    outcome = broker.place(intent("busy"))
    assert isinstance(outcome, Ack)
    assert clock.slept == [1.5, 1.5]  # each wait ends at that answer's X-Ratelimit-Expiry
    [order] = fake_tradier.orders()
    assert str(order["id"]) == outcome.order_id and order["tag"] == intent_tag("busy")


def test_a_post_rate_limited_past_the_bound_is_unresolved_and_nothing_was_placed(broker, fake_tradier, clock):
    fake_tradier.faults(rate_limited(T0 + NS, times=4, **POST_ORDERS))
    outcome = broker.place(intent("never"))
    assert isinstance(outcome, Unresolved) and "429" in outcome.reason
    assert fake_tradier.orders() == [] and len(clock.slept) == 3


def test_a_read_429_waits_until_the_expiry_and_retries(broker, fake_tradier, clock):
    fake_tradier.position("SPY", 5, 2_000.0)
    fake_tradier.faults(rate_limited(T0 + 2_250_000_000, **GET_POSITIONS))
    assert [p.quantity for p in broker.positions()] == [5]
    assert clock.slept == [2.25]


def test_a_read_429_without_headers_backs_off_exponentially_then_gives_up(broker, fake_tradier, clock):
    fake_tradier.faults(rate_limited(None, times=3, **GET_POSITIONS))
    assert broker.positions() == []
    assert clock.slept == [1.0, 2.0, 4.0]
    fake_tradier.faults(rate_limited(None, times=4, **GET_POSITIONS))
    with pytest.raises(BrokerUnavailable, match=r"rate limited \(429\) 4 times") as raised:
        broker.positions()
    assert raised.value.retry_after_s == 8.0


def test_an_expiry_far_away_is_bounded_to_one_window(broker, fake_tradier, clock):
    fake_tradier.faults(rate_limited(T0 + 3600 * NS, **GET_POSITIONS))
    broker.positions()
    assert clock.slept == [61.0]


def test_available_zero_holds_the_next_request_of_that_category_only(broker, fake_tradier, clock):
    exhausted = {"X-Ratelimit-Available": "0", "X-Ratelimit-Expiry": str((T0 + 2 * NS) // 1_000_000)}
    fake_tradier.faults(dict(GET_POSITIONS, action="respond", status=200, json={"positions": "null"},
                             headers=exhausted))
    assert broker.positions() == []
    assert clock.slept == []
    broker.clock()  # market data: another category, not held
    assert clock.slept == []
    broker.balances()  # the next account read waits for the window
    assert clock.slept == [2.0]
    broker.positions()
    assert clock.slept == [2.0]


def test_a_cancel_with_a_bad_token_is_plainly_an_auth_error(fake_tradier, clock):
    broker = TradierBroker(fake_tradier.config(trading_token="expired"), now=clock.now, sleep=clock.sleep)
    with pytest.raises(BrokerAuthError, match="Invalid access token") as raised:
        broker.cancel("1")
    assert "does not exist" not in str(raised.value)


def test_a_name_that_does_not_resolve_was_never_sent():
    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    reason = NameResolutionError("sandbox.tradier.invalid", None, OSError("no such name"))
    assert never_sent(requests.ConnectionError(MaxRetryError(None, "/v1", reason)))
    assert not never_sent(requests.ConnectionError("Connection aborted.", ConnectionResetError()))
    assert not never_sent(requests.ReadTimeout("read timed out"))


def test_a_429_whose_expiry_has_passed_backs_off_instead_of_hammering(broker, fake_tradier, clock):
    fake_tradier.faults(rate_limited(T0 - 5 * NS, times=2, **GET_POSITIONS))
    assert broker.positions() == []
    assert clock.slept == [1.0, 2.0]
