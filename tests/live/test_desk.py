"""The live desk's happy path on the real simulated broker: create, place, poll fills, next_tick,
account, candles, meta (injected clock, explicit polls, no threads, no sleeps)."""
from __future__ import annotations

import pytest

from backtestester.service.errors import ServiceError, Status

from .deskkit import MIN, T0, Rig


def test_market_buy_fills_at_the_broker_and_arrives_once_in_next_tick(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="spy", side="buy", quantity=10, client_request_id="c1")
    assert (order.id, order.symbol, order.status) == (1, "SPY", "pending")
    assert order.requested_price == 100.0  # no requested price: the newest close
    [bo] = rig.sim.list_orders()
    assert (bo.side, bo.quantity, bo.status) == ("buy", 10, "pending")
    rig.bar(1, 101.0)
    assert order.status == "filled"
    delta = rig.desk.next_tick(pid, request_id="t1")
    [trade] = delta.new_trades
    assert (trade.quantity, trade.price, trade.order_id) == (10, 100.0, 1)  # the close current at placement
    assert [b.close for b in delta.new_candles] == [100.0, 101.0]
    assert delta.current_ns == T0 + 2 * MIN
    again = rig.desk.next_tick(pid, request_id="t1")
    assert again.new_trades == delta.new_trades and again.new_candles == delta.new_candles
    assert rig.desk.next_tick(pid).new_trades == []
    account = rig.desk.account(pid)
    assert account.positions["SPY"].quantity == 10 and account.balance == 100_000.0
    assert rig.desk.get_order(1) is order
    assert rig.desk.open_orders(pid, "SPY") == [order]
    assert [b.close for b in rig.desk.candles(pid, "SPY", 60, T0)] == [100.0, 101.0]


def test_meta_and_client_id_idempotence(rig):
    pid = rig.playground(client_id="bot-1", tags=["demo"])
    assert rig.playground(client_id="bot-1", tags=["demo"]) == pid
    meta = rig.desk.meta(pid)
    assert meta["environment"] == "live" and meta["live_account_type"] == "margin"
    assert meta["symbols"] == ["SPY"] and meta["client_id"] == "bot-1" and meta["initial_balance"] == 100_000.0
    other = rig.playground()
    assert rig.desk.meta(other)["reconcile_playground_id"] == meta["reconcile_playground_id"]
    assert rig.desk.playgrounds(tags=["demo"]) == [pid]


def test_unknown_broker_is_refused_naming_the_accepted_ones(rig):
    with pytest.raises(ServiceError) as err:
        rig.desk.create_playground(broker="ib", account_type="margin", repositories=[("SPY", 60)], balance=1.0)
    assert err.value.status is Status.INVALID_ARGUMENT and "accepted: sim" in err.value.message


def test_next_tick_and_reads_do_not_wait_for_a_poll_stuck_in_the_broker(tmp_path):
    import threading

    from .deskkit import FaultyBroker

    rig = Rig(tmp_path)
    line = FaultyBroker(rig.sim)
    rig.open(broker=line)
    pid = rig.playground()
    rig.bar(0, 100.0)
    entered, release = threading.Event(), threading.Event()

    def stuck_list_orders():
        entered.set()
        release.wait(30)
        return rig.sim.list_orders()

    line.list_orders = stuck_list_orders
    poller = threading.Thread(target=rig.desk.poll)
    poller.start()
    try:
        assert entered.wait(30)
        delta = rig.desk.next_tick(pid)  # answered while the poll waits for the broker
        assert [b.close for b in delta.new_candles] == [100.0]
        assert rig.desk.account(pid).balance == 100_000.0 and rig.desk.health()["sim:sim:margin"]["connected"]
    finally:
        release.set()
        poller.join(30)
    assert not poller.is_alive()


def test_bad_repositories_and_balances_are_refused_with_what_is_accepted(rig):
    cases = [([], "at least one"), ([("SPY", 0)], "positive whole number of seconds"),
             ([("SPY", 60), ("spy", 60)], "duplicate repository SPY 60s"), (["SPY"], "(symbol, period_s) pairs")]
    for repositories, text in cases:
        with pytest.raises(ServiceError) as err:
            rig.desk.create_playground(broker="sim", account_type="margin", repositories=repositories, balance=1.0)
        assert err.value.status is Status.INVALID_ARGUMENT and text in err.value.message
    with pytest.raises(ServiceError, match="balance must be a finite number >= 0"):
        rig.desk.create_playground(broker="sim", account_type="margin", repositories=[("SPY", 60)], balance=-1)
    assert rig.desk.playgrounds() == []
