"""The order-intent journal: committed before every broker call, resolved by tag before anything
is sent again, never a blind retry of an order POST (real simulated broker behind a faulty line)."""
from __future__ import annotations

import sqlite3

import pytest

from backtestester.live.intents import IntentJournal, intent_key
from backtestester.live.port import intent_tag


@pytest.fixture
def rig(faulty_rig):
    return faulty_rig


def _journal_rows(rig):
    conn = sqlite3.connect(str(rig.tmp / "desk" / "live.sqlite3"))
    try:
        return conn.execute("SELECT key, tag, state, broker_order_id, applied_exec_quantity FROM intents "
                            "ORDER BY created_ns, key").fetchall()
    finally:
        conn.close()


def test_journal_rows_keep_key_tag_and_state(tmp_path):
    journal = IntentJournal(sqlite3.connect(str(tmp_path / "j.sqlite3")))
    rec = journal.record("R", 7, 1, symbol="SPY", side="buy", quantity=10, order_type="market", duration="day",
                         price=None, stop=None, now_ns=5)
    assert (rec.key, rec.tag, rec.state) == ("R/7/1", intent_tag("R/7/1"), "submitting")
    assert intent_key("R", 7, 1) == "R/7/1"
    journal.update(rec, 6, state="acked", broker_order_id="42")
    again = IntentJournal(sqlite3.connect(str(tmp_path / "j.sqlite3"))).get("R/7/1")
    assert (again.state, again.broker_order_id, again.updated_ns) == ("acked", "42", 6)
    with pytest.raises(ValueError, match="intent state must be one of"):
        journal.update(rec, 7, state="sent")


def test_the_intent_is_on_disk_before_the_broker_is_called(rig):
    seen = []
    place = rig.line.place

    def spying_place(intent):
        seen.extend(_journal_rows(rig))  # another connection: only what is committed
        return place(intent)

    rig.line.place = spying_place
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rid = rig.desk.meta(pid)["reconcile_playground_id"]
    key = f"{rid}/{order.id}/1"
    assert seen == [(key, intent_tag(key), "submitting", None, 0.0)]
    assert _journal_rows(rig) == [(key, intent_tag(key), "acked", "1", 0.0)]


def test_a_lost_answer_is_adopted_by_tag_not_sent_again(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "lost"
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert order.status == "pending"
    assert _journal_rows(rig)[0][2] == "unresolved"
    assert rig.desk.health()["sim:sim:margin"]["unresolved_intents"] == 1
    rig.bar(1, 101.0)
    assert len(rig.line.places) == 1 and len(rig.sim.list_orders()) == 1
    assert _journal_rows(rig)[0][2:] == ("done", "1", 10.0)
    assert order.status == "filled" and [t.quantity for t in order.trades] == [10]


def test_an_order_that_never_arrived_is_sent_again_with_the_same_tag(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "timeout"
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert rig.sim.list_orders() == []
    rig.bar(1, 101.0)  # lookup proves it absent: sent again, same tag
    assert rig.line.places[0] == rig.line.places[1]
    assert len(rig.sim.list_orders()) == 1
    rig.bar(2, 102.0)  # the resent order fills at the close current when it was sent (bar 1)
    assert order.status == "filled" and order.trades[0].price == 101.0


def test_a_failed_lookup_sends_nothing(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "timeout"
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.line.list_fault = True
    for _ in range(2):
        rig.clock.t += 10 * 10**9
        rig.desk.poll()
    assert len(rig.line.places) == 1 and rig.sim.list_orders() == []
    assert _journal_rows(rig)[0][2] == "unresolved"
    health = rig.desk.health()["sim:sim:margin"]
    assert not health["connected"] and "list_orders failed" in health["reason"]
    rig.line.list_fault = False
    rig.clock.t += 10 * 10**9
    rig.desk.poll()
    assert len(rig.line.places) == 2 and len(rig.sim.list_orders()) == 1


def test_a_lookup_right_after_the_ambiguous_answer_waits_before_sending_again(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "timeout"
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.clock.t += 2 * 10**9
    rig.desk.poll()  # the order list may lag the order entry: not yet
    assert len(rig.line.places) == 1
    rig.clock.t += 5 * 10**9
    rig.desk.poll()
    assert len(rig.line.places) == 2 and len(rig.sim.list_orders()) == 1


def test_a_cancel_while_the_outcome_is_unknown_reaches_the_broker_once_it_is_known(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "lost"
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=50.0)
    assert rig.desk.cancel_order(pid, order.id).status == "pending"  # nothing known to cancel yet
    rig.bar(1, 100.0)  # adopted by tag, then canceled
    rig.bar(2, 100.0)
    assert [o.status for o in rig.sim.list_orders()] == ["canceled"]
    assert order.status == "canceled" and len(rig.line.places) == 1


def test_a_cancel_the_broker_did_not_take_is_asked_again_by_the_poll(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=50.0)
    from backtestester.live.port import BrokerUnavailable

    def down(order_id):
        raise BrokerUnavailable("connection refused")

    rig.line.cancel = down
    assert rig.desk.cancel_order(pid, order.id).status == "pending"
    del rig.line.cancel  # the line is back
    rig.bar(1, 100.0)
    rig.bar(2, 100.0)
    assert order.status == "canceled" and [o.status for o in rig.sim.list_orders()] == ["canceled"]


def test_an_intent_not_found_for_two_minutes_is_rejected_not_sent_late(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "timeout"
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.line.list_fault = True  # a long outage: nothing can be looked up
    rig.clock.t += 3 * 60 * 10**9
    rig.desk.poll()
    rig.line.list_fault = False
    rig.desk.poll()
    assert len(rig.line.places) == 1 and rig.sim.list_orders() == []
    assert order.status == "rejected" and "not sent again" in order.reject_reason
    assert rig.desk.next_tick(pid).invalid_orders == [order]
    assert _journal_rows(rig)[0][2] == "rejected"


def test_an_authentication_refusal_of_the_order_is_a_rejection(rig):
    from backtestester.live.port import BrokerAuthError

    def refused(intent):
        raise BrokerAuthError("401 Unauthorized: invalid access token")

    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place = refused
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert order.status == "rejected" and "refused the credentials: 401" in order.reject_reason


def test_an_intent_unresolved_across_the_et_day_boundary_is_reported_not_sent_again(rig):
    """The broker's order list reaches back to the current ET day only: a lookup after midnight
    cannot prove an intent of the day before absent. Not sent again; its live order is rejected
    with the reason; reported (opens blocked, across a restart) until an operator settles it;
    closes and cancels keep working."""
    import gc

    from backtestester.service.errors import ServiceError

    from .deskkit import MIN, T0
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 100.0)  # long 10
    rig.clock.t = T0 + 246 * MIN - 30 * 10**9  # 2026-11-29 23:59:30 ET
    rig.line.place_fault = "timeout"
    lost = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=5)
    rig.bar(245, 101.0)  # the next poll at 2026-11-30 00:00 ET: past the resend grace, within 120 s
    assert len(rig.line.places) == 2 and len(rig.sim.list_orders()) == 1
    reason = ("order outcome unknown: sent on 2026-11-29, the broker's order list reaches back to today only; "
              "check the broker and reconcile")
    assert (lost.status, lost.reject_reason) == ("rejected", reason)
    assert rig.desk.next_tick(pid).invalid_orders == [lost]
    rid = rig.desk.meta(pid)["reconcile_playground_id"]
    key = f"{rid}/{lost.id}/1"
    assert _journal_rows(rig)[-1][2] == "beyond_reach"
    report = rig.desk.reconciliation_report(rid)
    assert report.unknown_intents == [key] and report.differences == [f"intent {key}: {reason}"]
    assert report.opens_blocked and rig.desk.health()["sim:sim:margin"]["unresolved_intents"] == 1
    opened = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
    assert opened.reject_reason == f"opens are blocked: reconciliation differs: intent {key}: {reason}"
    resting = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=2, order_type="limit", price=500.0)
    assert rig.desk.cancel_order(pid, resting.id) is resting  # a cancel works
    close = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=4)  # and a close
    rig.bar(246, 102.0)
    rig.bar(247, 102.0)
    assert resting.status == "canceled" and close.status == "filled"
    assert len(rig.line.places) == 4  # the resting sell and the close: the lost intent never again
    rig.desk = None  # a crash: the unknown outcome is still reported after the restart
    gc.collect()
    desk = rig.open(broker=rig.line)
    assert desk.reconciliation_report(rid).unknown_intents == [key]
    assert desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "rejected"
    with pytest.raises(ServiceError, match=f"accepted: {key}"):
        desk.settle_intent(rid, f"{rid}/1/1")
    settled = desk.settle_intent(rid, key, note="not at the broker")  # the operator checked
    assert settled.unknown_intents == [] and settled.differences == [] and not settled.opens_blocked
    assert desk.health()["sim:sim:margin"]["unresolved_intents"] == 0
    assert desk.place_order(pid, symbol="SPY", side="buy", quantity=1).status == "pending"
    assert len(rig.line.places) == 5
