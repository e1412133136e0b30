"""The desk's contract matrix (shared/research/live-venues.md §7.3) over every broker adapter: the
simulated broker, Tradier (fake server) and Alpaca (fake server), the same scenario on each through
the rigs of tests/live/venuekit.py. What differs between venues is only where a market order fills:
the simulated broker at the close current when it was placed (the engine's D3), the fakes at the
next bar, as a broker working the order fills at the market (``FILLS_NEXT_BAR``). The venue-specific
expectations (sides, texts, faults only HTTP has) stay in test_contract_tradier.py,
test_contract_alpaca.py and the simulated broker's tests."""
from __future__ import annotations

import pytest

from .venuekit import AlpacaRig, SimVenue, TradierRig

VENUES = ("sim", "tradier", "alpaca")


@pytest.fixture(params=VENUES)
def venue(request, tmp_path):
    if request.param == "sim":
        rig = SimVenue(tmp_path)
    elif request.param == "tradier":
        rig = TradierRig(tmp_path, request.getfixturevalue("fake_tradier"))
    else:
        rig = AlpacaRig(tmp_path, request.getfixturevalue("fake_alpaca"))
    yield rig
    rig.close()


def price(venue, placed_at: float, next_bar: float) -> float:
    """Where a market order placed after a bar closing at ``placed_at`` fills (see the module doc)."""
    return next_bar if venue.FILLS_NEXT_BAR else placed_at


def key(venue, pid) -> str:
    return venue.desk.meta(pid)["reconcile_playground_id"]


def health(venue):
    [(_, row)] = [(k, v) for k, v in venue.desk.health().items() if k.startswith(venue.NAME + ":")]
    return row


def test_e01_market_buy_fills_and_arrives_once(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    order = venue.desk.place_order(pid, symbol="spy", side="buy", quantity=10, client_request_id="c1")
    venue.bar(1, 101.0)
    assert order.status == "filled"
    [trade] = venue.desk.next_tick(pid, request_id="t1").new_trades
    assert (trade.quantity, trade.price) == (10, price(venue, 100.0, 101.0))
    assert venue.desk.next_tick(pid).new_trades == []
    assert venue.desk.account(pid).positions["SPY"].quantity == 10
    assert health(venue)["opens_blocked"] is False and venue.broker_order_count() == 1


def test_e02_a_short_sale_from_flat_fills(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    order = venue.desk.place_order(pid, symbol="SPY", side="sell_short", quantity=7)
    venue.bar(1, 99.0)
    assert order.status == "filled" and [t.quantity for t in order.trades] == [-7]
    assert venue.desk.account(pid).positions["SPY"].quantity == -7


def test_e03_a_cross_zero_sell_is_sent_leg_after_leg(venue):
    a, b = venue.playground(), venue.playground()
    venue.bar(0, 100.0)
    venue.desk.place_order(b, symbol="SPY", side="buy", quantity=10)
    venue.bar(1, 100.0)
    short = venue.desk.place_order(a, symbol="SPY", side="sell_short", quantity=15)
    assert venue.broker_order_count() == 2  # the second leg waits for the first to fill
    venue.bar(2, 99.0)
    venue.bar(3, 98.0)
    assert short.status == "filled" and [t.quantity for t in short.trades] == [-10, -5]
    assert venue.broker_order_count() == 3
    assert venue.desk.account(a).positions["SPY"].quantity == -15
    assert venue.desk.account(b).positions["SPY"].quantity == 10


def test_e04_partial_fills_apply_the_cumulative_growth_once(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    venue.partial([0.4, 0.6])
    order = venue.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    venue.bar(1, 101.0)
    venue.polls_without_the_market_moving(2)  # the same cumulative quantity again: nothing new
    assert order.is_open and [t.quantity for t in order.trades] == [4]
    venue.bar(2, 102.0)
    assert order.status == "filled" and [t.quantity for t in order.trades] == [4, 6]
    assert venue.desk.account(pid).positions["SPY"].quantity == 10


def test_e05_a_cancel_ends_in_a_terminal_verdict(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    resting = venue.desk.place_order(pid, symbol="SPY", side="buy", quantity=10, order_type="limit", price=50.0)
    venue.bar(1, 100.0)
    venue.desk.cancel_order(pid, resting.id)
    venue.bar(2, 100.0)
    assert resting.status == "canceled" and resting.trades == []
    assert venue.desk.account(pid).positions.get("SPY") is None or venue.desk.account(pid).positions["SPY"].quantity == 0


def test_e06_a_broker_reject_carries_its_reason(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    venue.reject("not enough buying power")
    order = venue.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    venue.bar(1, 100.0)
    assert order.status == "rejected" and "not enough buying power" in order.reject_reason
    assert venue.desk.next_tick(pid).invalid_orders == [order]


def test_e07_a_lost_answer_gives_no_duplicate(venue):
    pid = venue.playground()
    venue.bar(0, 100.0)
    venue.lose_next_answer()  # the broker takes the order; its answer never arrives
    order = venue.desk.place_order(pid, symbol="SPY", side="buy", quantity=10)
    venue.bar(1, 101.0)
    venue.bar(2, 102.0)
    assert venue.broker_order_count() == 1
    assert order.status == "filled" and [t.quantity for t in order.trades] == [10]
    assert health(venue)["unresolved_intents"] == 0


def test_e09_a_broker_position_the_desk_did_not_make_blocks_opens(venue):
    venue.position("QQQ", -3, -300.0)
    pid = venue.playground(symbols=("QQQ",))
    venue.bar(0, 100.0, symbol="QQQ")
    order = venue.desk.place_order(pid, symbol="QQQ", side="sell_short", quantity=1)
    assert order.status == "rejected" and "QQQ: broker -3 vs reconcile 0 vs playgrounds 0" in order.reject_reason
    assert venue.broker_order_count() == 0
