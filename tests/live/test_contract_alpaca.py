"""The desk's contract matrix (shared/research/live-venues.md §7.3) with LiveDesk over AlpacaBroker
against the fake Alpaca server: the scenarios of test_contract_tradier.py (the same rig) through
Alpaca's JSON API, its two sides, its ``client_order_id`` idempotency key and its faults; then the
trade-updates stream (more in test_alpaca_stream.py): an event makes the desk read that order, and
a storm of 100 stream drops loses no fill.

Where Alpaca differs the expectation differs, and says why: an ambiguous POST is looked up by
``client_order_id`` at once (the intent is acked in the same call, not left unresolved), a short
sale is a plain ``sell``, a refusal is a 403 with a message. The scenarios that read the same on
every venue (partial fills, an unknown broker position) run in test_contract_matrix.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from backtestester.live.alpaca import AlpacaBroker

from .alpaca_control import ROOT
from .deskkit import MIN, T0
from .fake_alpaca import ACCOUNT, KEY_ID, SECRET_KEY
from .venuekit import AlpacaRig

KEY = f"alpaca:{ACCOUNT}:margin"
POST_ORDERS = {"method": "POST", "path": "/v2/orders"}
LOOKUP = {"method": "GET", "path": "/v2/orders:by_client_order_id"}


@pytest.fixture
def rig(tmp_path, fake_alpaca):
    rig = AlpacaRig(tmp_path, fake_alpaca)
    yield rig
    rig.broker.close()


def test_e01_market_buy_fills_and_arrives_once(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="spy", side="buy", quantity=10, client_request_id="c1")
    assert (order.symbol, order.status) == ("SPY", "pending")
    assert rig.broker_orders() == [("buy", 10, "accepted")]
    assert rig.fake.orders()[0]["client_order_id"].startswith("bt-")  # the intent's tag
    rig.bar(1, 101.0)
    assert order.status == "filled"
    [trade] = rig.desk.next_tick(pid, request_id="t1").new_trades
    assert (trade.quantity, trade.price) == (10, 101.0)
    assert rig.desk.next_tick(pid).new_trades == []
    assert rig.fake.positions() == {"SPY": 10}
    assert rig.desk.health()[KEY]["opens_blocked"] is False


def test_e02_a_short_sale_from_flat_is_an_alpaca_sell(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="sell_short", quantity=7)
    rig.bar(1, 99.0)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(-7, 99.0)]
    assert rig.broker_orders() == [("sell", 7, "filled")]
    assert rig.fake.positions() == {"SPY": -7}


def test_e03_cross_zero_sell_is_sent_leg_after_leg(rig):
    a, b = rig.playground(), rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(b, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)
    short = rig.desk.place_order(a, symbol="SPY", side="sell_short", quantity=15)
    assert rig.broker_orders()[1:] == [("sell", 10, "accepted")]  # Alpaca refuses a sell beyond the long
    rig.bar(2, 99.0)
    assert rig.broker_orders()[1:] == [("sell", 10, "filled"), ("sell", 5, "accepted")]
    rig.bar(3, 98.0)
    assert short.status == "filled" and [(t.quantity, t.price) for t in short.trades] == [(-10, 99.0), (-5, 98.0)]
    assert rig.fake.positions() == {"SPY": -5}
    assert rig.desk.account(a).positions["SPY"].quantity == -15


def test_e05_cancel_vs_fill_race_ends_in_a_terminal_verdict(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    won = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.fake.tick()  # filled before the cancel arrives: Alpaca answers 422 "order is not cancelable"
    rig.desk.cancel_order(pid, won.id)
    rig.desk.poll()
    assert won.status == "filled" and rig.desk.account(pid).positions["SPY"].quantity == 10
    lost = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=10, order_type="limit", price=150.0)
    rig.bar(1, 100.0)
    rig.desk.cancel_order(pid, lost.id)
    rig.bar(2, 100.0)
    assert lost.status == "canceled" and rig.broker_orders()[-1] == ("sell", 10, "canceled")


def test_e06_a_refused_order_carries_alpacas_message(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.reject("insufficient buying power")
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert (order.status, order.reject_reason) == ("rejected", "insufficient buying power (code 40310000)")
    assert rig.broker_orders() == []


@pytest.mark.parametrize("fault", [{"action": "drop", "commit": True},
                                   {"action": "respond", "commit": True, "status": 503, "text": "Service Unavailable"}],
                         ids=["dropped", "503-after-commit"])
def test_e07_a_lost_response_is_looked_up_by_client_order_id_at_once(rig, fault):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.faults(dict(POST_ORDERS, **fault))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert order.status == "pending" and rig.desk.health()[KEY]["unresolved_intents"] == 0
    assert [r["path"] for r in rig.fake.requests() if "by_client_order_id" in r["path"]] == [LOOKUP["path"]]
    rig.bar(1, 101.0)
    assert rig.broker_orders() == [("buy", 10, "filled")] and rig.posts() == 1
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 101.0)]


def test_e07b_a_failed_lookup_leaves_it_unresolved_and_the_poll_finds_it_by_tag(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.faults(dict(POST_ORDERS, action="drop", commit=True), dict(LOOKUP, action="respond", status=502, text="x"))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert rig.desk.health()[KEY]["unresolved_intents"] == 1
    rig.bar(1, 101.0)
    assert rig.desk.health()[KEY]["unresolved_intents"] == 0
    assert rig.broker_orders() == [("buy", 10, "filled")] and rig.posts() == 1
    assert order.status == "filled"


def test_e07c_a_post_lost_before_the_order_system_is_sent_again_with_the_same_client_order_id(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.faults(dict(POST_ORDERS, action="drop"))  # no commit: Alpaca never saw the order
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert rig.desk.health()[KEY]["unresolved_intents"] == 1 and rig.broker_orders() == []
    rig.bar(1, 101.0)  # a minute later: not found by tag, so the same intent goes out again
    rig.bar(2, 102.0)
    posts = [r["body"]["client_order_id"] for r in rig.fake.requests() if r["method"] == "POST"]
    assert len(posts) == 2 and posts[0] == posts[1]
    assert rig.broker_orders() == [("buy", 10, "filled")] and order.status == "filled"


def test_a_duplicate_client_order_id_422_is_the_existing_order(fake_alpaca):
    from backtestester.live.port import Ack, OrderIntent  # noqa: PLC0415

    broker = AlpacaBroker(fake_alpaca.config(), now=lambda: T0)
    try:
        intent = OrderIntent(key="pg/1/1", symbol="SPY", side="buy", quantity=1)
        first, again = broker.place(intent), broker.place(intent)
        assert isinstance(first, Ack) and again == first
        bodies = [r for r in fake_alpaca.requests() if r["method"] == "POST"]
        assert len(bodies) == 2 and len(fake_alpaca.orders()) == 1
    finally:
        broker.close()


CHILD = """
import sys
from backtestester.live.alpaca import AlpacaBroker
from backtestester.live.bars import LiveBars, PushSource
from backtestester.live.desk import LiveDesk
from backtestester.live.port import BrokerConfig
tmp, base_url, account, key, secret, pid, now = sys.argv[1:8]
clock = lambda: int(now)
broker = AlpacaBroker(BrokerConfig("alpaca", account, base_url=base_url, timeout_s=120,
                                   options={"key_id": key, "secret_key": secret}), now=clock)
bars = LiveBars(tmp + "/bars.sqlite3", [PushSource()], settle_s=0, now=clock)
desk = LiveDesk(tmp + "/desk", {"alpaca": broker}, bars, now=clock)
desk.poll()
desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
print("the POST returned: the fake did not block it", flush=True)
"""


def test_e08_a_kill_between_post_and_commit_leaves_one_order_adopted_on_restart(rig, fake_alpaca):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.close()
    fake_alpaca.faults(dict(POST_ORDERS, action="block", commit=True))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(rig.tmp), fake_alpaca.base_url, ACCOUNT, KEY_ID,
                              SECRET_KEY, pid, str(rig.clock.t)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=str(ROOT))
    try:
        blocked = fake_alpaca.wait_blocked()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        fake_alpaca.release()
    assert blocked, (out + err).decode()[-2000:]
    assert rig.broker_orders() == [("buy", 10, "accepted")]
    desk = rig.open()
    order = desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
    rig.bar(1, 101.0)
    assert rig.broker_orders() == [("buy", 10, "filled")] and rig.posts() == 1
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 101.0)]
    assert desk.health()[KEY]["unresolved_intents"] == 0


def test_e10_market_closed_by_alpacas_calendar_is_refused_locally(tmp_path, fake_alpaca):
    rig = AlpacaRig(tmp_path, fake_alpaca, sessions=True)
    try:
        pid = rig.playground()
        rig.bar(0, 100.0)  # Sunday evening in New York
        order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
        assert order.reject_reason == ("market is closed: orders are accepted from 2026-11-30 09:30 "
                                       "America/New_York (use duration pre or post for extended hours)")
        assert rig.broker_orders() == []
        assert any(sent["path"] == "/v2/calendar" for sent in fake_alpaca.requests())
        rig.clock.t = T0 + (14 * 60 + 36) * MIN  # Monday 09:30 New York
        rig.bar(14 * 60 + 35, 100.0)
        assert rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "pending"
    finally:
        rig.broker.close()


def test_e11_a_rate_limited_post_waits_retry_after_and_no_order_is_lost(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.faults(dict(POST_ORDERS, action="respond", status=429, text="rate limit exceeded",
                         headers={"Retry-After": "2"}))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert rig.slept == [2.0]
    rig.bar(1, 101.0)
    assert rig.broker_orders() == [("buy", 10, "filled")] and rig.posts() == 2
    assert order.status == "filled" and order.trades[0].quantity == 10
