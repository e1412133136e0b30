"""D14 for live playgrounds: a desk dropped without close() (a crash) and built again on the same
data_dir resumes every playground, order, trade, equity point and undelivered delta, and settles
every open intent by tag before it sends anything."""
from __future__ import annotations

import gc

import pytest

from .deskkit import Rig


@pytest.fixture
def rig(faulty_rig):
    return faulty_rig


def _crash(rig):
    """Drop the desk without close(), as a killed process would leave it."""
    rig.desk = None
    gc.collect()


def test_death_between_the_broker_call_and_the_commit_gives_exactly_one_order_adopted_and_filled_once(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "die"
    with pytest.raises(SystemExit):
        rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
    assert len(rig.sim.list_orders()) == 1  # the broker has it; the journal says "submitting"
    _crash(rig)
    desk = rig.open(broker=rig.line)  # startup resolves the intent by tag: adopted, nothing sent
    assert len(rig.line.places) == 1
    order = desk.place_order(pid, symbol="SPY", side="buy", quantity=10, client_request_id="r1")
    assert order.id == 1 and len(rig.line.places) == 1
    rig.bar(1, 101.0)
    rig.bar(2, 102.0)
    [bo] = rig.sim.list_orders()
    assert (bo.status, bo.exec_quantity) == ("filled", 10)
    # once, at the close current when it was placed (bar 0), not again at bar 1's or bar 2's
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 100.0)]
    assert desk.account(pid).positions["SPY"].quantity == 10
    assert desk.health()["sim:sim:margin"]["opens_blocked"] is False


def test_a_restart_resumes_orders_trades_equity_and_the_undelivered_delta(rig):
    pid = rig.playground(client_id="bot")
    rig.bar(0, 100.0)
    first = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 101.0)
    delivered = rig.desk.next_tick(pid, request_id="t1")
    rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=4)
    rig.bar(2, 105.0)  # a fill and a candle nobody has seen yet
    before = rig.desk.account(pid)
    plot = rig.desk.equity_plot(pid)
    _crash(rig)
    desk = rig.open(broker=rig.line)
    assert desk.playgrounds() == [pid]
    assert desk.create_playground(broker="sim", account_type="margin", repositories=[("SPY", 60)],
                                  balance=100_000.0, client_id="bot") == pid
    after = desk.account(pid)
    assert (after.balance, after.equity, after.positions) == (before.balance, before.equity, before.positions)
    assert [(o.id, o.status, len(o.trades)) for o in after.orders] == [(1, "filled", 1), (2, "filled", 1)]
    assert desk.get_order(1).closed_by[0].quantity == -4
    assert desk.equity_plot(pid) == plot
    again = desk.next_tick(pid, request_id="t1")
    assert [t.id for t in again.new_trades] == [t.id for t in delivered.new_trades]
    pending = desk.next_tick(pid, request_id="t2")
    assert [(t.quantity, t.price) for t in pending.new_trades] == [(-4, 101.0)]  # placed on bar 1, filled at bar 2
    assert [b.close for b in pending.new_candles] == [105.0]
    assert first.id == 1 and len(rig.sim.list_orders()) == 2


def test_the_owner_of_a_live_playground_survives_a_restart(rig):
    alice = rig.playground(client_id="bot", owner="alice")
    bob = rig.playground(client_id="bot", owner="bob")
    anyone = rig.playground(client_id="bot")
    assert [rig.desk.meta(p)["owner"] for p in (alice, bob, anyone)] == ["alice", "bob", None]
    _crash(rig)
    desk = rig.open(broker=rig.line)
    assert [desk.meta(p)["owner"] for p in (alice, bob, anyone)] == ["alice", "bob", None]
    assert desk.create_playground(broker="sim", account_type="margin", repositories=[("SPY", 60)],
                                  balance=100_000.0, client_id="bot", owner="bob") == bob


def test_a_partial_fill_is_not_applied_again_after_a_restart(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.sim.script_partial("next", [0.3, 0.7])
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 101.0)
    _crash(rig)
    desk = rig.open(broker=rig.line)
    order = desk.get_order(1)
    assert order.filled_quantity == 3 and order.is_open
    rig.bar(2, 102.0)
    # the first step at the close current at placement (bar 0), the second at the newest (bar 2)
    assert [(t.quantity, t.price) for t in order.trades] == [(3, 100.0), (7, 102.0)]
    assert desk.account(pid).positions["SPY"].quantity == 10
    assert sum(p.quantity for p in rig.sim.positions()) == 10


def test_a_queued_order_is_sent_after_a_restart(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=50.0)
    queued = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=2)
    assert queued.status == "pending" and len(rig.sim.list_orders()) == 1
    _crash(rig)
    desk = rig.open(broker=rig.line)
    desk.cancel_order(pid, 1)
    rig.bar(1, 100.0)
    assert [(o.quantity, o.status) for o in rig.sim.list_orders()] == [(1, "canceled"), (2, "pending")]
    rig.bar(2, 100.0)
    assert desk.get_order(2).status == "filled"


def test_bars_delivered_by_the_live_bars_but_not_stored_by_the_desk_are_caught_up(rig):
    from backtestester.live.port import Bar

    from .deskkit import MIN, T0
    pid = rig.playground()
    rig.bar(0, 100.0)
    # a limit only bar 1 reaches (bar 0's low is 99, but resting orders match bars that come later)
    rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=100.5)
    rig.push.push([Bar("SPY", 60, T0 + MIN, 101.0, 102.0, 100.0, 101.0, 10.0)])
    rig.clock.t = T0 + 2 * MIN
    assert [b.close for b in rig.bars.poll()] == [101.0]  # delivered; the desk dies before storing it
    _crash(rig)
    desk = rig.open(broker=rig.line)
    assert [b.close for b in desk.next_tick(pid).new_candles] == [100.0, 101.0]
    desk.poll()
    assert desk.get_order(1).trades[0].price == 100.5  # the sim broker saw bar 1 too: it reached the limit


def test_death_before_the_request_left_sends_the_intent_once_after_the_restart(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.line.place_fault = "die-before"
    with pytest.raises(SystemExit):
        rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    _crash(rig)
    desk = rig.open(broker=rig.line)  # looked up, not found, within the grace: not yet
    assert rig.sim.list_orders() == [] and len(rig.line.places) == 1
    rig.bar(1, 101.0)
    assert len(rig.sim.list_orders()) == 1 and rig.line.places[0] == rig.line.places[1]
    rig.bar(2, 102.0)
    rig.bar(3, 103.0)
    order = desk.get_order(1)
    # sent again on bar 1: filled at bar 1's close (the close current when it reached the broker)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 101.0)]
    assert len(rig.sim.list_orders()) == 1


_CHILD = """
import os, signal, sys
from pathlib import Path
from tests.live.deskkit import FaultyBroker, Rig

rig = Rig(Path(sys.argv[1]))
line = FaultyBroker(rig.sim)
rig.open(broker=line)
pid = rig.playground(client_id="bot")
rig.bar(0, 100.0)
place = line.place

def place_then_die(intent):
    place(intent)  # the broker has the order
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies before the outcome is committed

line.place = place_then_die
rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
"""


def test_sigkill_between_the_broker_call_and_the_commit_gives_exactly_one_order(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=root)
    try:
        assert child.wait(60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    rig = Rig(tmp_path)  # the restarted gateway: the same files
    assert len(rig.sim.list_orders()) == 1
    pid = rig.playground(client_id="bot")
    order = rig.desk.get_order(1)
    assert order.status == "pending"
    rig.clock.t += 2 * 60 * 10**9
    rig.bar(1, 101.0)
    rig.bar(2, 102.0)
    assert len(rig.sim.list_orders()) == 1 and rig.sim.list_orders()[0].status == "filled"
    # once, at the close current when the dying process placed it (bar 0)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(10, 100.0)]
    assert rig.desk.account(pid).positions["SPY"].quantity == 10
