"""The desk's contract matrix (shared/research/live-venues.md §7.3) with LiveDesk over
TradierBroker against the fake Tradier server: the scenarios of the desk's simulated-broker tests,
now through HTTP, Tradier's envelopes, its side checks and its faults.

The fake fills in ``tick`` mode: :meth:`~tests.live.venuekit.TradierRig.bar` sets the bar's close as the price, ticks
(working market orders fill at it, as a real broker fills at the market when the order is worked)
and polls the desk. The simulated broker's ``close`` model differs on purpose: it fills at the
close current when the order was placed (the engine's D3), so the prices here are one bar later
than in the desk's simulated-broker tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from backtestester.live.sessions import SKEW_LIMIT_S, MarketSessions
from backtestester.live.tradier import TradierBroker

from .deskkit import MIN, T0, Clock
from .fake_tradier import ACCOUNT, TRADING_TOKEN
from .venuekit import TradierRig

KEY = f"tradier:{ACCOUNT}:margin"
POST_ORDERS = {"method": "POST", "path": "/orders"}


@pytest.fixture
def rig(tmp_path, fake_tradier):
    rig = TradierRig(tmp_path, fake_tradier)
    yield rig
    rig.broker.close()


def test_e01_market_buy_fills_and_arrives_once(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="spy", side="buy", quantity=10, client_request_id="c1")
    assert (order.symbol, order.status) == ("SPY", "pending")
    assert rig.broker_orders() == [("buy", 10, "pending")]
    rig.bar(1, 101.0)
    assert order.status == "filled"
    [trade] = rig.desk.next_tick(pid, request_id="t1").new_trades
    assert (trade.quantity, trade.price) == (10, 101.0)
    assert rig.desk.next_tick(pid).new_trades == []
    assert rig.desk.account(pid).positions["SPY"].quantity == 10
    assert rig.fake.positions() == {"SPY": 10}
    assert rig.desk.health()[KEY]["opens_blocked"] is False


def test_e02_market_sell_short_from_flat_is_a_broker_short_sale(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="sell_short", quantity=7)
    rig.bar(1, 99.0)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(-7, 99.0)]
    assert rig.broker_orders() == [("sell_short", 7, "filled")]
    assert rig.fake.positions() == {"SPY": -7}


def test_e03_cross_zero_sell_is_sent_leg_after_leg(rig):
    a, b = rig.playground(), rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(b, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)
    short = rig.desk.place_order(a, symbol="SPY", side="sell_short", quantity=15)
    assert rig.broker_orders()[1:] == [("sell", 10, "pending")]  # Tradier refuses a short sale while long
    rig.bar(2, 99.0)
    assert rig.broker_orders()[1:] == [("sell", 10, "filled"), ("sell_short", 5, "pending")]
    assert short.status == "partially_filled"
    rig.bar(3, 98.0)
    assert short.status == "filled" and [(t.quantity, t.price) for t in short.trades] == [(-10, 99.0), (-5, 98.0)]
    assert rig.fake.positions() == {"SPY": -5}
    assert rig.desk.account(a).positions["SPY"].quantity == -15
    assert rig.desk.account(b).positions["SPY"].quantity == 10
    assert all(status != "rejected" for _, _, status in rig.broker_orders())


def test_e04_partial_fills_apply_the_cumulative_growth_once(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.partial([0.4, 0.6])
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 101.0)
    assert order.is_open and order.filled_quantity == 4
    rig.desk.poll()  # the same cumulative exec_quantity again: nothing new
    rig.desk.poll()
    assert [t.quantity for t in order.trades] == [4]
    rig.bar(2, 102.0)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(4, 101.0), (6, 102.0)]
    assert rig.desk.account(pid).positions["SPY"].quantity == 10


def test_e05_cancel_vs_fill_race_ends_in_a_terminal_verdict(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    won = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.fake.tick()  # the broker filled it before the cancel arrived: Tradier answers 400 "finalized"
    rig.desk.cancel_order(pid, won.id)
    rig.desk.poll()
    assert won.status == "filled" and rig.desk.account(pid).positions["SPY"].quantity == 10
    lost = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=10, order_type="limit", price=150.0)
    rig.bar(1, 100.0)
    rig.desk.cancel_order(pid, lost.id)
    rig.bar(2, 100.0)
    assert lost.status == "canceled" and rig.broker_orders()[-1] == ("sell", 10, "canceled")


def test_e06_a_reject_carries_the_reason_description(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.reject("DayTradingBuyingPowerExceeded")
    later = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)
    assert (later.status, later.reject_reason) == ("rejected", "DayTradingBuyingPowerExceeded")
    rig.fake.faults(dict(POST_ORDERS, action="respond", status=200,
                         json={"errors": {"error": "Backoffice rejected override of the order."}}))
    at_once = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert (at_once.status, at_once.reject_reason) == ("rejected", "Backoffice rejected override of the order.")
    assert rig.desk.next_tick(pid).invalid_orders == [later, at_once]


@pytest.mark.parametrize("fault", [{"action": "drop", "commit": True},
                                   {"action": "respond", "commit": True, "status": 503, "text": "Service Unavailable"}],
                         ids=["dropped", "503-after-commit"])
def test_e07_a_lost_response_gives_no_duplicate(rig, fault):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.fake.faults(dict(POST_ORDERS, **fault))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert order.status == "pending" and rig.desk.health()[KEY]["unresolved_intents"] == 1
    rig.bar(1, 101.0)
    rig.bar(2, 102.0)
    assert rig.broker_orders() == [("buy", 10, "filled")]
    assert sum(sent["method"] == "POST" for sent in rig.fake.requests()) == 1
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 101.0)]


def test_e07b_an_intent_unresolved_across_the_day_boundary_is_not_sent_again(rig):
    """Tradier lists the current ET day's orders only (live-venues.md §2.4): after midnight ET an
    order whose answer was lost the day before looks absent. The desk does not send it again."""
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.clock.t = T0 + 246 * MIN - 30 * 10**9  # 2026-11-29 23:59:30 ET
    rig.fake.faults(dict(POST_ORDERS, action="drop", commit=True))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)  # its answer is lost
    rig.fake.new_day()
    rig.bar(245, 101.0)  # the next poll at 2026-11-30 00:00 ET: past the resend grace, within 120 s
    assert len(rig.fake.orders()) == 1
    assert sum(sent["method"] == "POST" for sent in rig.fake.requests()) == 1
    assert order.status == "rejected" and order.reject_reason == (
        "order outcome unknown: sent on 2026-11-29, the broker's order list reaches back to today only; "
        "check the broker and reconcile")
    report = rig.desk.reconciliation_report(rig.desk.meta(pid)["reconcile_playground_id"])
    assert report.unknown_intents and report.opens_blocked


CHILD = """
import sys
from backtestester.live.bars import LiveBars, PushSource
from backtestester.live.desk import LiveDesk
from backtestester.live.port import BrokerConfig
from backtestester.live.tradier import TradierBroker
tmp, base_url, account, token, pid, now = sys.argv[1:7]
clock = lambda: int(now)
broker = TradierBroker(BrokerConfig("tradier", account, base_url=base_url, trading_token=token, timeout_s=120))
bars = LiveBars(tmp + "/bars.sqlite3", [PushSource()], settle_s=0, now=clock)
desk = LiveDesk(tmp + "/desk", {"tradier": broker}, bars, now=clock)
desk.poll()
desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
print("the POST returned: the fake did not block it", flush=True)
"""


def test_e08_a_kill_between_post_and_commit_leaves_one_order_adopted_on_restart(rig, fake_tradier):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.close()
    fake_tradier.faults(dict(POST_ORDERS, action="block", commit=True))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(rig.tmp), fake_tradier.base_url, ACCOUNT,
                              TRADING_TOKEN, pid, str(rig.clock.t)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        blocked = fake_tradier.wait_blocked()  # the order is accepted; its answer is held
    finally:
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        fake_tradier.release()
    assert blocked, (out + err).decode()[-2000:]
    assert child.returncode == -signal.SIGKILL
    assert rig.broker_orders() == [("buy", 10, "pending")]
    desk = rig.open()  # the restarted desk resolves the intent by its tag before sending anything
    order = desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
    rig.bar(1, 101.0)
    rig.bar(2, 102.0)
    assert rig.broker_orders() == [("buy", 10, "filled")]
    assert sum(sent["method"] == "POST" for sent in fake_tradier.requests()) == 1
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 101.0)]
    assert desk.health()[KEY]["unresolved_intents"] == 0


def test_e09_a_broker_position_the_desk_did_not_make_blocks_opens(rig):
    rig.fake.position("QQQ", -3, -300.0)
    pid = rig.playground(symbols=("QQQ",))
    rig.bar(0, 100.0, symbol="QQQ")
    order = rig.desk.place_order(pid, symbol="QQQ", side="sell_short", quantity=1)
    assert order.status == "rejected" and "QQQ: broker -3 vs reconcile 0 vs playgrounds 0" in order.reject_reason
    assert rig.broker_orders() == []


def test_e10_market_closed_by_the_brokers_calendar_is_refused_locally(tmp_path, fake_tradier):
    rig = TradierRig(tmp_path, fake_tradier, sessions=True)
    pid = rig.playground()
    rig.bar(0, 100.0)  # Sunday evening in New York
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
    assert order.reject_reason == ("market is closed: orders are accepted from 2026-11-30 09:30 America/New_York "
                                   "(use duration pre or post for extended hours)")
    assert rig.broker_orders() == []
    assert any(sent["path"] == "/v1/markets/calendar" for sent in fake_tradier.requests())
    rig.clock.t = T0 + (14 * 60 + 36) * MIN  # Monday 09:30 New York
    rig.bar(14 * 60 + 35, 100.0)
    assert rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "pending"


def test_e11_a_rate_limited_post_is_waited_out_and_no_order_is_lost(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    expiry = (rig.clock.t + 1_500_000_000) // 1_000_000
    headers = {"X-Ratelimit-Available": "0", "X-Ratelimit-Expiry": str(expiry)}
    rig.fake.faults(dict(POST_ORDERS, action="respond", status=429, text="Rate limit exceeded", headers=headers))
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert rig.slept == [1.5]
    rig.bar(1, 101.0)
    assert rig.broker_orders() == [("buy", 10, "filled")]
    assert order.status == "filled" and order.trades[0].quantity == 10


def test_a_stale_tradier_clock_shows_as_skew_past_the_limit(fake_tradier):
    clock = Clock()
    broker = TradierBroker(fake_tradier.config(), now=clock)
    sessions = MarketSessions(broker, now=clock)
    fake_tradier.set(time_ns=T0)
    assert sessions.skew_s(broker.clock()) == 0.0
    fake_tradier.set(clock_lag_s=30)  # the server answers a timestamp 30 s old
    assert sessions.skew_s(broker.clock()) == 30.0 > SKEW_LIMIT_S
