"""Placing orders against positions: spec 7.3 (side rules), 9.3 / 9.4 (close feasibility), with
D8 (ids) and D13 (idempotency)."""
from __future__ import annotations

import dataclasses

import pytest

from backtestester.engine import NotFoundError, Position

from .conftest import SIDE, fill, make_pg, place, refused

# --- side rules (7.3) -----------------------------------------------------------------------

@pytest.mark.parametrize("setup, side, rule", [
    (("buy", 10), "buy_to_cover", "cannot buy to cover when long position of 10.00 exists: must sell to close"),
    (("buy", 10), "sell_short", "cannot sell short when long position of 10.00 exists: must sell to close"),
    (("sell_short", 10), "buy", "cannot buy when short position of -10.00 exists: must buy to cover"),
    (("sell_short", 10), "sell", "cannot sell to close when short position of -10.00 exists: must buy to cover"),
    (None, "sell", "cannot sell when no position exists: must sell short"),
    (None, "buy_to_cover", "cannot buy to cover when no position exists"),
])
def test_side_rule_texts(setup, side, rule):
    """7.3 with D10: the six side-rule texts, exactly, behind `PlaceOrder: side not allowed: `."""
    pg = make_pg()
    if setup:
        fill(pg, *setup)
    refused(pg, SIDE + rule, side=side, quantity=1)


@pytest.mark.parametrize("setup, side", [
    (None, "buy"), (None, "sell_short"),
    (("buy", 10), "buy"), (("buy", 10), "sell"),
    (("sell_short", 10), "sell_short"), (("sell_short", 10), "buy_to_cover"),
])
def test_side_rule_allows_opening_adding_and_reducing(setup, side):
    """7.3: flat -> buy / sell_short; long -> buy / sell; short -> sell_short / buy_to_cover."""
    pg = make_pg()
    if setup:
        fill(pg, *setup)
    order = place(pg, side, 5)
    assert order.status == "pending" and order.side == side


def test_pending_buy_makes_sell_short_fail_with_long_position():
    """7.3 example: a pending buy of 10 with no position makes a sell_short fail with
    `long position of 10.00`."""
    pg = make_pg()
    place(pg, "buy", 10)
    refused(pg, SIDE + "cannot sell short when long position of 10.00 exists: must sell to close",
            side="sell_short", quantity=1)


def test_pending_sell_of_the_whole_long_makes_a_further_sell_fail_with_flat_message():
    """7.3 example: a pending sell of the whole long makes a further sell fail with the flat-position message."""
    pg = make_pg()
    fill(pg, "buy", 10)
    place(pg, "sell", 10)
    refused(pg, SIDE + "cannot sell when no position exists: must sell short", side="sell", quantity=1)


def test_pending_sell_short_makes_buy_fail_with_short_position():
    """7.2 row 4: pending orders' signed quantities count; a pending sell_short of 5 is a short of -5.00."""
    pg = make_pg()
    place(pg, "sell_short", 5)
    refused(pg, SIDE + "cannot buy when short position of -5.00 exists: must buy to cover", side="buy", quantity=1)


def test_side_rule_adds_position_and_pending_quantities():
    """7.2 row 4: position quantity plus the signed quantity of all pending orders of the symbol."""
    pg = make_pg()
    fill(pg, "buy", 10)
    place(pg, "buy", 5)
    refused(pg, SIDE + "cannot sell short when long position of 15.00 exists: must sell to close",
            side="sell_short", quantity=1)


def test_partial_pending_sell_leaves_a_long_that_still_allows_selling():
    """7.3: long 10 with a pending sell of 4 is still long 6; a further sell is allowed."""
    pg = make_pg()
    fill(pg, "buy", 10)
    place(pg, "sell", 4)
    assert place(pg, "sell", 6).status == "pending"


def test_side_rule_formats_quantities_with_two_decimals():
    """7.3: `%.2f` prints e.g. 2.50 and -0.33."""
    pg = make_pg()
    place(pg, "buy", 2.5)
    refused(pg, SIDE + "cannot sell short when long position of 2.50 exists: must sell to close",
            side="sell_short", quantity=1)
    pg2 = make_pg()
    place(pg2, "sell_short", 1 / 3)
    refused(pg2, SIDE + "cannot sell to close when short position of -0.33 exists: must buy to cover",
            side="sell", quantity=1)


def test_side_rule_counts_only_pending_orders_of_the_same_symbol():
    """7.2 row 4: pending orders *of that symbol*."""
    pg = make_pg(symbols=("AAPL", "MSFT"))
    place(pg, "buy", 10, symbol="AAPL")
    assert place(pg, "sell_short", 10, symbol="MSFT").status == "pending"


def test_side_rule_is_case_insensitive_on_symbols():
    """7.2 row 4 with D16: a pending buy for `aapl` counts for `AAPL`."""
    pg = make_pg()
    place(pg, "buy", 10, symbol="aapl")
    refused(pg, SIDE + "cannot sell short when long position of 10.00 exists: must sell to close",
            side="sell_short", quantity=1, symbol="AAPL")


def test_rejected_or_filled_orders_no_longer_count_as_pending():
    """7.2 row 4: only pending orders count; once filled they count through the position."""
    pg = make_pg()
    fill(pg, "buy", 10)
    fill(pg, "sell", 10)
    assert place(pg, "sell_short", 3).status == "pending"


# --- close feasibility (9.3 at placement, 7.2 row 9) ----------------------------------------

def test_fifo_close_larger_than_open_volume_is_refused():
    """9.3 / 7.2 row 9: `error getting close by requests: …placeOrder: volume to close exceeds open volume`."""
    pg = make_pg()
    fill(pg, "buy", 10)
    text = refused(pg, startswith="error getting close by requests: ", side="sell", quantity=15)
    assert text.endswith("volume to close exceeds open volume")
    assert "placeOrder: volume to close exceeds open volume" in text


def test_cover_larger_than_short_volume_is_refused():
    """9.3: the same check for closing a short."""
    pg = make_pg()
    fill(pg, "sell_short", 10)
    text = refused(pg, startswith="error getting close by requests: ", side="buy_to_cover", quantity=10.5)
    assert "volume to close exceeds open volume" in text


def test_fifo_close_of_exactly_the_open_volume_is_accepted():
    """9.3: V_left reaches 0 exactly; FIFO walks both lots."""
    pg = make_pg()
    a, b = fill(pg, "buy", 4), fill(pg, "buy", 6)
    close = fill(pg, "sell", 10)
    assert close.closes == [a.id, b.id]


def test_close_order_id_volume_exceeding_that_order_is_refused():
    """9.3: `addClosesInfoToOrder: close volume exceeds open order quantity for open order id %d`."""
    pg = make_pg()
    fill(pg, "buy", 10)
    small = fill(pg, "buy", 5)
    text = refused(pg, startswith="error getting close by requests: ", side="sell", quantity=12,
                   close_order_id=small.id)
    assert f"addClosesInfoToOrder: close volume exceeds open order quantity for open order id {small.id}" in text


def test_close_order_id_of_an_order_no_longer_open_is_refused():
    """9.3: a target that is not an open order -> `open order (id) %d not found in open orders`."""
    pg = make_pg()
    first = fill(pg, "buy", 10)
    fill(pg, "sell", 10)           # closes `first` completely (FIFO)
    fill(pg, "buy", 5)
    refused(pg, regex=rf"open order (id )?{first.id} not found in open orders", side="sell", quantity=5,
            close_order_id=first.id)


def test_close_order_id_naming_no_order_is_refused():
    """9.4: `failed to find order to close: %d`."""
    pg = make_pg()
    fill(pg, "buy", 10)
    refused(pg, "failed to find order to close: 42", side="sell", quantity=1, close_order_id=42)


def test_close_order_id_zero_names_no_order():
    """D8 (0 never names an order) with 9.4: `failed to find order to close: 0`."""
    pg = make_pg()
    fill(pg, "buy", 10)
    refused(pg, "failed to find order to close: 0", side="sell", quantity=1, close_order_id=0)


def test_close_order_id_naming_a_pending_order_is_refused():
    """9.4: the target must be a fully filled order of the playground."""
    pg = make_pg()
    fill(pg, "buy", 10)
    pending = place(pg, "buy", 5)
    refused(pg, f"failed to find order to close: {pending.id}", side="sell", quantity=1, close_order_id=pending.id)


def test_close_order_id_of_another_playground_is_not_found():
    """9.4: the target must be an order *of the playground*; ids are per playground."""
    other = make_pg()
    fill(other, "buy", 10)
    fill(other, "buy", 10)
    pg = make_pg()
    fill(pg, "buy", 10)
    refused(pg, "failed to find order to close: 2", side="sell", quantity=1, close_order_id=2)


def test_pending_closes_exceeding_remaining_open_quantity_are_refused():
    """9.4: `pending close quantity %.2f is greater than remaining open quantity %.2f` (other pending
    closes of the same target, the new order's own quantity excluded)."""
    pg = make_pg()
    target = fill(pg, "buy", 10)
    fill(pg, "buy", 10)
    place(pg, "sell", 6, close_order_id=target.id)
    place(pg, "sell", 6, close_order_id=target.id)   # others pending: 6 <= 10, own 6 not counted
    refused(pg, "pending close quantity 12.00 is greater than remaining open quantity 10.00",
            side="sell", quantity=1, close_order_id=target.id)


def test_pending_close_check_excludes_the_new_orders_own_quantity():
    """9.4: `The new order's own qty is not included`: 6 pending + a new 6 against 10 open is accepted."""
    pg = make_pg()
    target = fill(pg, "buy", 10)
    fill(pg, "buy", 10)
    place(pg, "sell", 6, close_order_id=target.id)
    assert place(pg, "sell", 6, close_order_id=target.id).status == "pending"


def test_pending_close_check_uses_remaining_open_quantity_after_partial_closes():
    """9.4: remaining open quantity, i.e. after earlier closes of the target."""
    pg = make_pg()
    target = fill(pg, "buy", 10)
    fill(pg, "buy", 10)
    fill(pg, "sell", 7, close_order_id=target.id)    # 3 left on target
    place(pg, "sell", 2, close_order_id=target.id)
    place(pg, "sell", 2, close_order_id=target.id)   # others pending 2 <= 3
    refused(pg, "pending close quantity 4.00 is greater than remaining open quantity 3.00",
            side="sell", quantity=1, close_order_id=target.id)


def test_close_by_id_within_remaining_quantity_is_accepted_and_closes_that_order():
    """9.3: with `close_order_id` only that open order is closed."""
    pg = make_pg()
    fill(pg, "buy", 10)
    second = fill(pg, "buy", 5)
    close = fill(pg, "sell", 5, close_order_id=second.id)
    assert close.closes == [second.id]
    assert close.close_order_id == second.id


# --- ids (D8) -------------------------------------------------------------------------------

def test_order_ids_start_at_one():
    """D8 (fixes 20.13): order ids start at 1."""
    assert place(make_pg()).id == 1


def test_order_ids_are_unique_and_increasing():
    """D8: ids are unique within a playground, across sides, symbols and fills."""
    pg = make_pg(symbols=("AAPL", "MSFT"))
    ids = [fill(pg, "buy", 10).id, place(pg, "sell", 5).id, place(pg, "sell_short", 3, symbol="MSFT").id]
    pg.tick(0)
    ids.append(place(pg, "buy", 1).id)
    assert ids[0] == 1
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert [o.id for o in pg.orders()] == ids
    for i in ids:
        assert pg.get_order(i).id == i


def test_order_id_zero_never_names_an_order():
    """D8: 0 never names an order."""
    pg = make_pg()
    fill(pg, "buy", 10)
    with pytest.raises(NotFoundError):
        pg.get_order(0)


def test_order_ids_are_per_playground():
    """D8: ids are unique *within a playground*; each playground starts at 1."""
    a, b = make_pg(), make_pg()
    place(a)
    place(a)
    assert place(b).id == 1


# --- idempotency (D13) ----------------------------------------------------------------------

def test_client_request_id_returns_the_same_order_and_places_nothing():
    """D13 / 7.1 step 1: an existing order with that client_request_id is returned unchanged."""
    pg = make_pg()
    first = place(pg, quantity=10, client_request_id="req-1")
    again = place(pg, quantity=10, client_request_id="req-1")
    assert again is first
    assert [o.id for o in pg.orders()] == [first.id]
    assert pg.pending_orders() == [first]
    assert first.client_request_id == "req-1"


def test_client_request_id_wins_over_different_arguments():
    """7.1 step 1 runs before validation: the stored order is returned, the new arguments ignored."""
    pg = make_pg()
    first = place(pg, quantity=10, client_request_id="req-1")
    again = pg.place_order(symbol="AAPL", side="sell_short", quantity=99, requested_price=1,
                           client_request_id="req-1")
    assert again is first and first.quantity == 10 and first.side == "buy"
    assert len(pg.orders()) == 1


def test_client_request_id_returns_the_order_after_it_filled():
    """D13: the retry after the fill still returns the (now filled) order and places nothing."""
    pg = make_pg()
    first = fill(pg, "buy", 10, client_request_id="req-1")
    again = place(pg, "buy", 10, client_request_id="req-1")
    assert again is first and again.status == "filled"
    pg.tick(0)
    assert pg.position("AAPL").quantity == 10 and len(pg.orders()) == 1


def test_client_request_id_is_per_playground():
    """D13 (fixes 20.14: not global): the same id in another playground places a new order there."""
    a, b = make_pg(), make_pg()
    oa = place(a, client_request_id="same")
    ob = place(b, client_request_id="same")
    assert oa is not ob and len(a.orders()) == 1 and len(b.orders()) == 1


def test_different_client_request_ids_place_different_orders():
    """D13: only the same id is deduplicated."""
    pg = make_pg()
    a = place(pg, client_request_id="a")
    b = place(pg, client_request_id="b")
    assert a.id != b.id and len(pg.orders()) == 2


def test_orders_without_client_request_id_are_never_deduplicated():
    """D13: without a client_request_id every call places an order."""
    pg = make_pg()
    a, b = place(pg), place(pg)
    assert a is not b and len(pg.orders()) == 2


def test_trusted_position_snapshot_is_the_constructors():
    args = (-3.0, 101.5, -4.5, 456.75, 103.0)
    fast, checked = Position.trusted(*args), Position(*args)
    assert fast == checked and hash(fast) == hash(checked) and repr(fast) == repr(checked)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.quantity = 0.0
