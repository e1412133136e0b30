"""How live orders reach the broker: the side mapping on the account's aggregate position, the
cross-zero split sent leg after leg, one working broker order per symbol (FIFO), partial fills
from the cumulative executed quantity applied once, broker rejects and cancels as outcomes."""
from __future__ import annotations

import pytest

from backtestester.service.errors import ServiceError, Status

from .deskkit import FaultyBroker


def _long(rig, pid, qty, i, close=100.0):
    """Buy ``qty`` now; bar ``i`` (closing at ``close``) fills it at the close current before it."""
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=qty)
    rig.bar(i, close)
    assert order.status == "filled"
    return order


def test_cross_zero_split_sends_the_second_leg_only_after_the_first_filled(rig):
    a, b = rig.playground(), rig.playground()
    rig.bar(0, 100.0)
    _long(rig, b, 10, 1)  # the account is long 10 (playground b)
    short = rig.desk.place_order(a, symbol="SPY", side="sell_short", quantity=15)
    legs = [(o.side, o.quantity, o.status) for o in rig.sim.list_orders()[1:]]
    assert legs == [("sell", 10, "pending")]  # only the closing half is out
    rig.bar(2, 99.0)
    legs = [(o.side, o.quantity, o.status) for o in rig.sim.list_orders()[1:]]
    assert legs == [("sell", 10, "filled"), ("sell_short", 5, "pending")]
    assert short.status == "partially_filled" and short.filled_quantity == 10  # open until complete
    rig.bar(3, 98.0)
    assert short.status == "filled"
    # each leg at the close current when it was sent: the second only after bar 2 filled the first
    assert [(t.quantity, t.price) for t in short.trades] == [(-10, 100.0), (-5, 99.0)]
    positions = {p.symbol: p.quantity for p in rig.sim.positions()}
    assert positions == {"SPY": -5}
    assert rig.desk.account(a).positions["SPY"].quantity == -15
    assert rig.desk.account(b).positions["SPY"].quantity == 10


def test_sides_map_onto_the_aggregate_position(rig):
    a, b = rig.playground(), rig.playground()
    rig.bar(0, 100.0)
    _long(rig, a, 5, 1)
    rig.desk.place_order(b, symbol="SPY", side="sell_short", quantity=5)  # account long 5: a broker sell
    rig.bar(2, 100.0)
    rig.desk.place_order(a, symbol="SPY", side="sell", quantity=5)  # account flat: a broker short sale
    rig.bar(3, 100.0)
    rig.desk.place_order(b, symbol="SPY", side="buy_to_cover", quantity=5)  # account short 5: cover
    rig.bar(4, 100.0)
    assert [o.side for o in rig.sim.list_orders()] == ["buy", "sell", "sell_short", "buy_to_cover"]
    assert rig.sim.positions() == []


def test_one_working_broker_order_per_symbol_later_orders_wait_in_order(rig):
    pid = rig.playground(symbols=("SPY", "QQQ"))
    rig.bar(0, 100.0)
    rig.bar(0, 50.0, symbol="QQQ")
    first = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1)
    second = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=2)
    other = rig.desk.place_order(pid, symbol="QQQ", side="buy", quantity=3)
    assert [(o.symbol, o.quantity) for o in rig.sim.list_orders()] == [("SPY", 1), ("QQQ", 3)]
    assert second.status == "pending"
    rig.bar(1, 101.0)
    assert first.status == "filled" and other.status == "filled"
    assert [(o.symbol, o.quantity) for o in rig.sim.list_orders()] == [("SPY", 1), ("QQQ", 3), ("SPY", 2)]
    rig.bar(2, 102.0)
    # sent after bar 1 filled the first (sent with it, it would have filled at bar 0's 100)
    assert second.status == "filled" and second.trades[0].price == 101.0


def test_partial_fills_apply_the_growth_of_the_cumulative_quantity_once(rig):
    line = FaultyBroker(rig.sim)
    rig.open(broker=line)
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.sim.script_partial("next", [0.4, 0.6])
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.bar(1, 101.0)
    assert order.status == "partially_filled" and order.filled_quantity == 4
    line.frozen = True
    rig.desk.poll()  # the same cumulative quantity again: nothing new
    rig.desk.poll()
    assert [t.quantity for t in order.trades] == [4]
    assert [t.quantity for t in rig.desk.next_tick(pid).new_trades] == [4]
    line.frozen = False
    rig.bar(2, 102.0)
    # the first step at the close current at placement (bar 0), the next at the newest (bar 2)
    assert order.status == "filled" and [(t.quantity, t.price) for t in order.trades] == [(4, 100.0), (6, 102.0)]
    assert [t.quantity for t in rig.desk.next_tick(pid).new_trades] == [6]
    assert rig.desk.account(pid).positions["SPY"].quantity == 10


def test_a_broker_reject_is_a_rejected_order_with_the_reason_reported_once(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    rig.sim.script_reject("insufficient buying power")
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert (order.status, order.reject_reason) == ("rejected", "insufficient buying power")
    rig.sim.script_reject("symbol halted", at="match")
    later = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    assert later.status == "pending"
    rig.bar(1, 100.0)
    assert (later.status, later.reject_reason) == ("rejected", "symbol halted")
    assert rig.desk.next_tick(pid).invalid_orders == [order, later]
    assert rig.desk.next_tick(pid).invalid_orders == []


def test_cancel_queued_at_once_and_working_through_the_broker(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    working = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=1, order_type="limit", price=90.0)
    queued = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=2)
    assert rig.desk.cancel_order(pid, queued.id).status == "canceled"
    rig.desk.cancel_order(pid, working.id)
    rig.bar(1, 100.0)
    assert working.status == "canceled"
    assert [o.status for o in rig.sim.list_orders()] == ["canceled"]
    assert rig.desk.next_tick(pid).invalid_orders == []  # the client asked: not an outcome to report
    with pytest.raises(ServiceError) as err:
        rig.desk.cancel_order(pid, working.id)
    assert err.value.status is Status.INVALID_ARGUMENT and "is not pending" in err.value.message


def test_a_fill_that_wins_the_cancel_race_is_kept(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    order = rig.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    rig.sim.match()  # the broker filled it before the cancel arrived
    rig.desk.cancel_order(pid, order.id)
    rig.desk.poll()
    assert order.status == "filled" and rig.desk.account(pid).positions["SPY"].quantity == 10


def test_engine_texts_refuse_bad_input_and_side_rules(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    cases = [
        (dict(side="sell", quantity=1), "PlaceOrder: side not allowed: cannot sell when no position exists"),
        (dict(side="buy", quantity=0), "quantity must be greater than 0"),
        (dict(side="buy", quantity=1.5), "whole number of shares"),
        (dict(side="hold", quantity=1), "invalid side"),
        (dict(side="buy", quantity=1, tag="a_b"), "invalid tag"),
        (dict(side="buy", quantity=1, symbol="QQQ"), "symbol QQQ not found in repos"),
    ]
    for kwargs, text in cases:
        kwargs.setdefault("symbol", "SPY")
        with pytest.raises(ServiceError) as err:
            rig.desk.place_order(pid, **kwargs)
        assert err.value.status is Status.INVALID_ARGUMENT and text in err.value.message, kwargs
    assert rig.sim.list_orders() == []


def test_client_request_id_is_idempotent_per_playground(rig):
    a, b = rig.playground(), rig.playground()
    rig.bar(0, 100.0)
    first = rig.desk.place_order(a, symbol="SPY", side="buy", quantity=1, client_request_id="r1")
    assert rig.desk.place_order(a, symbol="SPY", side="buy", quantity=1, client_request_id="r1") is first
    other = rig.desk.place_order(b, symbol="SPY", side="buy", quantity=1, client_request_id="r1")
    assert other is not first
    rig.bar(1, 100.0)
    rig.bar(2, 100.0)
    assert len(rig.sim.list_orders()) == 2


def test_closes_by_close_order_id(rig):
    pid = rig.playground()
    rig.bar(0, 100.0)
    one = _long(rig, pid, 3, 1, close=105.0)  # filled at 100
    two = _long(rig, pid, 4, 2, close=110.0)  # filled at 105
    close = rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=4, close_order_id=two.id)
    rig.bar(3, 120.0)  # filled at 110
    assert close.status == "filled" and close.closes == [two.id]
    assert rig.desk.open_orders(pid, "SPY") == [one]
    # 4 sold at 110, realised against the position's average cost (the engine's rule): 720 / 7
    assert rig.desk.account(pid).balance == pytest.approx(100_000 + 4 * (110 - (3 * 100 + 4 * 105) / 7))
    with pytest.raises(ServiceError, match="failed to find order to close"):
        rig.desk.place_order(pid, symbol="SPY", side="sell", quantity=1, close_order_id=two.id)
