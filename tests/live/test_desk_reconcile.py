"""Reconciliation (broker vs reconcile account vs the sum of the live playgrounds, unknown broker
orders, intents the broker does not know), opens blocked while they differ, health, session gating,
MockFillOrder and the equity records."""
from __future__ import annotations

import pytest

from backtestester.live.port import OrderIntent
from backtestester.live.sessions import MarketSessions
from backtestester.service.errors import ServiceError, Status

from .deskkit import MIN, T0, FaultyBroker, Rig

KEY = "sim:sim:margin"


def _rid(rig, pid):
    return rig.desk.meta(pid)["reconcile_playground_id"]


def test_agreeing_positions_report_no_difference(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)
    report = rig.desk.reconciliation_report(_rid(rig, pid))
    assert report.broker_positions == {"SPY": 10} and report.reconcile_positions == {"SPY": 10}
    assert report.live_positions == {pid: {"SPY": 10}}
    assert report.differences == [] and not report.opens_blocked
    health = rig.desk.health()[KEY]
    assert health["connected"] and health["last_poll_ns"] == T0 + 2 * MIN and not health["position_difference"]
    assert health["unresolved_intents"] == 0 and health["reason"] == "" and health["clock_skew_s"] == 0.0


def test_a_position_difference_blocks_opens_until_it_is_gone_while_closes_and_cancels_work(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)
    rig.sim.set_position("SPY", 25, 2500.0)  # 15 shares nobody here bought
    rig.clock.t += 61 * 10**9
    rig.desk.poll()  # the periodic reconciliation finds it
    report = rig.desk.reconciliation_report(_rid(rig, pid))
    assert report.differences == ["SPY: broker 25 vs reconcile 10 vs playgrounds 10"] and report.opens_blocked
    opened = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
    assert opened.status == "rejected"
    assert opened.reject_reason == ("opens are blocked: broker position differs: "
                                    "SPY: broker 25 vs reconcile 10 vs playgrounds 10")
    assert rig.desk.health()[KEY]["opens_blocked"] and rig.desk.health()[KEY]["position_difference"]
    limit = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=5, order_type="limit", price=500.0)
    assert limit.status == "pending"  # a close still goes out
    assert rig.desk.cancel_order(pid, limit.id) is limit  # and a cancel
    rig.bar(2, 100.0)
    assert limit.status == "canceled"
    rig.sim.set_position("SPY", 10, 1000.0)
    rig.desk.poll()  # while blocked, every poll reconciles
    assert not rig.desk.reconciliation_report(_rid(rig, pid)).opens_blocked
    assert rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "pending"


def test_a_restart_with_a_broker_position_reports_it_and_refuses_opens(rig):
    rig.sim.set_position("QQQ", -3, -300.0)
    pid = rig.playground(symbols=("QQQ",))
    rig.bar(0, 100.0, symbol="QQQ")
    order = rig.desk.place_order(pid, symbol="QQQ", side="sell_short", quantity=1)
    assert order.status == "rejected" and "QQQ: broker -3 vs reconcile 0 vs playgrounds 0" in order.reject_reason


def test_unknown_broker_orders_and_unknown_intents_are_differences(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.sim.place(OrderIntent("by-hand", "SPY", "buy", 1, "limit", price=10.0, tag="manual"))
    rig.desk.poll()
    report = rig.desk.reconciliation_report(_rid(rig, pid))
    [unknown] = report.unknown_broker_orders
    assert unknown.tag == "manual" and report.opens_blocked
    assert report.differences == ["unknown broker order 1: buy 1 SPY (open, tag manual)"]
    rig.sim.cancel("1")
    rig.desk.poll()
    assert not rig.desk.reconciliation_report(_rid(rig, pid)).opens_blocked


def test_an_acked_intent_the_broker_does_not_know_is_reported(tmp_path):
    rig = Rig(tmp_path)
    line = FaultyBroker(rig.sim)
    rig.open(broker=line)
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=10.0)
    line.list_orders = lambda: []  # the broker forgot it (another day, another account)
    line.get_order = lambda order_id: (_ for _ in ()).throw(__import__(
        "backtestester.live.port", fromlist=["BrokerError"]).BrokerError(f"order not found: {order_id}"))
    rig.desk.poll()
    report = rig.desk.reconciliation_report(_rid(rig, pid))
    assert report.unknown_intents == [f"{_rid(rig, pid)}/{order.id}/1"] and report.opens_blocked


def test_orders_outside_the_session_are_rejected_locally(tmp_path):
    rig = Rig(tmp_path)
    rig.sessions = {"sim": MarketSessions(None, now=rig.clock)}
    rig.open()
    pid = rig.playground()
    rig.bar(0, 100.0)  # Sunday evening in New York
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
    assert order.status == "rejected"
    assert order.reject_reason == ("market is closed: orders are accepted from 2026-11-30 09:30 America/New_York "
                                   "(use duration pre or post for extended hours)")
    assert rig.sim.list_orders() == []
    rig.clock.t = T0 + (14 * 60 + 36) * MIN  # Monday 09:30 New York
    rig.bar(14 * 60 + 35, 100.0)
    assert rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "pending"


def test_mock_fill_sets_the_broker_order_behind_a_live_order(tmp_path):
    rig = Rig(tmp_path, fill="manual")
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=3)
    rig.bar(1, 100.0)
    assert order.status == "pending"
    assert rig.desk.mock_fill(order.id, 99.5, "filled") is order
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(3, 99.5)]
    other = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=3)
    rig.desk.mock_fill(other.id, 99.0, "rejected")
    assert (other.status, other.reject_reason) == ("rejected", "rejected by broker")
    third = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=3)
    for status, price, text in (("done", 1.0, "invalid status: done"), ("filled", -1.0, "invalid price: -1.000000")):
        with pytest.raises(ServiceError) as err:
            rig.desk.mock_fill(third.id, price, status)
        assert err.value.status is Status.INVALID_ARGUMENT and err.value.message == text
    with pytest.raises(ServiceError) as err:
        rig.desk.mock_fill(third.id, 1.0, "filled", broker="tradier")
    assert err.value.message == "failed to get mock broker: 'tradier'"


def test_one_equity_point_per_tick_and_broker_equity_at_most_once_a_minute(rig):
    pid = rig.playground(balance=1000.0)
    rig.bar(0, 100.0)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=2)
    rig.bar(1, 100.0)
    rig.desk.next_tick(pid)
    rig.bar(2, 110.0)
    rig.desk.next_tick(pid)
    rig.desk.next_tick(pid, request_id="x")
    rig.desk.next_tick(pid, request_id="x")  # a repeat is not a new tick
    assert rig.desk.equity_plot(pid) == [(T0 + 2 * MIN, 1000.0), (T0 + 3 * MIN, 1020.0), (T0 + 3 * MIN, 1020.0)]
    report = rig.desk.equity_report(_rid(rig, pid))
    assert [t for t, _ in report] == [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]  # creation, then each poll
    rig.clock.t += 30 * 10**9
    rig.desk.poll()
    assert len(rig.desk.equity_report(_rid(rig, pid))) == 4
    assert report[-1][1] == pytest.approx(10_000_000 + 2 * 10)


def test_a_fill_before_any_bar_prices_the_position_at_the_fill_until_a_bar_arrives(tmp_path):
    rig = Rig(tmp_path, fill="manual")
    pid = rig.playground()
    rig.desk.poll()
    with pytest.raises(ServiceError, match="requested price must be greater than 0"):
        rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)  # no bar: no price to assume
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10, requested_price=50.0)
    rig.desk.mock_fill(order.id, 50.0, "filled")
    assert rig.desk.account(pid).equity == 100_000.0
    rig.bar(0, 52.0)
    assert rig.desk.account(pid).equity == 100_020.0


def test_a_failing_account_is_shown_in_health_and_the_others_keep_running(tmp_path):
    from backtestester.live.desk import LiveDesk
    from backtestester.live.port import BrokerConfig
    from backtestester.live.simbroker import SimulatedBroker

    rig = Rig(tmp_path)
    broken = FaultyBroker(SimulatedBroker(BrokerConfig("sim", account_id="B"), now=rig.clock))
    rig.desk = LiveDesk(str(tmp_path / "desk2"), {"sim": rig.sim, "other": broken}, rig.bars, now=rig.clock)
    good = rig.playground()
    bad = rig.desk.create_playground(broker="other", account_type="margin", repositories=[("SPY", 60)],
                                     balance=1000.0)
    rig.bar(0, 100.0)
    rig.desk.place_order(bad, symbol="SPY", side="buy", quantity=1)

    def bug():
        raise KeyError("adapter bug")

    broken.positions = bug
    order = rig.desk.place_order(good, symbol="SPY", side="buy", quantity=1)
    rig.clock.t += 61 * 10**9
    rig.bar(1, 101.0)
    health = rig.desk.health()
    assert health["other:B:margin"]["opens_blocked"] and "KeyError" in health["other:B:margin"]["reason"]
    assert order.status == "filled" and not health["sim:sim:margin"]["opens_blocked"]
    assert rig.desk.place_order(bad, symbol="SPY", side="buy", quantity=1).status == "rejected"
