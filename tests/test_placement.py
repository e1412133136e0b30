"""Placing orders: spec 7.1 (request validation), 7.2 (engine validation), 7.3 (side rules),
9.3 / 9.4 (close feasibility) with D8 (ids), D10 (original texts) and D13 (idempotency)."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest

from backtestester.engine import Candle, NotFoundError, PlaceOrderError, Playground, PlaygroundError, Repository

UTC = timezone.utc
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
M1 = timedelta(minutes=1)
SIDE = "PlaceOrder: side not allowed: "


def make_pg(symbols=("AAPL",), price=100.0, n=30, balance=1_000_000.0):
    """A 24/7 playground over 1-minute candles at ``price``; the clock starts at T0 + 1 min, so the
    first candle is available (and current) at once and ``tick(0)`` fills at ``price``."""
    repos = [Repository(s, M1, [Candle(T0 + i * M1, price, price + 1, price - 1, price, 1000) for i in range(n)])
             for s in symbols]
    return Playground(balance=balance, start=T0 + M1, end=T0 + (n + 1) * M1, repositories=repos)


def place(pg, side="buy", quantity=10, symbol="AAPL", requested_price=100.0, **kw):
    return pg.place_order(symbol=symbol, side=side, quantity=quantity, requested_price=requested_price, **kw)


def fill(pg, side="buy", quantity=10, **kw):
    """Place and fill at once (tick(0)), asserting the fill."""
    order = place(pg, side, quantity, **kw)
    pg.tick(0)
    assert order.status == "filled", order
    return order


def refused(pg, message=None, *, startswith=None, regex=None, **kw):
    """Place with ``kw``; assert a PlaceOrderError and that nothing was queued; return its text."""
    before_orders, before_pending = len(pg.orders()), len(pg.pending_orders())
    with pytest.raises(PlaceOrderError) as info:
        place(pg, **kw)
    text = str(info.value)
    if message is not None:
        assert text == message
    if startswith is not None:
        assert text.startswith(startswith), text
    if regex is not None:
        assert re.search(regex, text), text
    assert len(pg.orders()) == before_orders and len(pg.pending_orders()) == before_pending
    return text


# --- error type -----------------------------------------------------------------------------

def test_place_order_error_is_a_value_error():
    """7.1 (HTTP-400 style `invalid request`) / docs/engine.md: a refused placement raises
    PlaceOrderError, a ValueError."""
    assert issubclass(PlaceOrderError, ValueError)
    assert issubclass(PlaceOrderError, PlaygroundError)
    with pytest.raises(ValueError):
        place(make_pg(), quantity=0)


# --- request validation (7.1) ---------------------------------------------------------------

@pytest.mark.parametrize("side", ["hold", "", "long", "sell_to_close"])
def test_invalid_side_is_refused(side):
    """7.1: `invalid side: invalid order side: %s`."""
    refused(make_pg(), startswith=f"invalid side: invalid order side: {side}", side=side)


@pytest.mark.parametrize("quantity", [0, 0.0, -1, -0.5, None, math.nan])
def test_quantity_must_be_greater_than_zero(quantity):
    """7.1 / 7.2 row 7: `quantity must be greater than 0`."""
    refused(make_pg(), "quantity must be greater than 0", quantity=quantity)


@pytest.mark.parametrize("order_type", ["fok", "MARKET", "", "trailing_stop"])
def test_invalid_order_type_is_refused(order_type):
    """7.1: `invalid order type: invalid order type: %s`."""
    refused(make_pg(), startswith=f"invalid order type: invalid order type: {order_type}", order_type=order_type)


@pytest.mark.parametrize("order_type", ["market", "limit"])
@pytest.mark.parametrize("price", [0, -1, -0.01])
def test_price_must_be_greater_than_zero_when_given(order_type, price):
    """7.1 / 7.2 row 6: `price must be greater than 0` (if price given)."""
    refused(make_pg(), "price must be greater than 0", order_type=order_type, price=price)


@pytest.mark.parametrize("sl", [0, -5, -0.01])
def test_sl_must_be_greater_than_zero_when_given(sl):
    """7.1 / 13: `stop price must be greater than 0` (if sl given)."""
    refused(make_pg(), "stop price must be greater than 0", sl=sl)


@pytest.mark.parametrize("stop_price", [0, -5])
def test_stop_price_must_be_greater_than_zero_when_given(stop_price):
    """7.1 / D4: a stop order's trigger price must be > 0: `stop price must be greater than 0`."""
    text = refused(make_pg(), order_type="stop", stop_price=stop_price)
    assert "stop price must be greater than 0" in text


@pytest.mark.parametrize("duration", ["ioc", "DAY", "", "week"])
def test_invalid_duration_is_refused(duration):
    """7.1: `invalid duration: invalid order duration: %s`."""
    refused(make_pg(), startswith=f"invalid duration: invalid order duration: {duration}", duration=duration)


@pytest.mark.parametrize("duration", ["day", "gtc", "pre", "post"])
def test_all_original_durations_are_accepted(duration):
    """6.1: durations `day`, `gtc`, `pre`, `post` validate."""
    order = place(make_pg(), duration=duration)
    assert order.duration == duration and order.status == "pending"


@pytest.mark.parametrize("requested_price", [0, -1, -100.0, None])
def test_requested_price_must_be_greater_than_zero(requested_price):
    """7.2 row 5b: `requested price must be greater than 0`."""
    refused(make_pg(), "requested price must be greater than 0", requested_price=requested_price)


def test_tag_longer_than_255_characters_is_refused():
    """7.2 row 8: `invalid tag: tag is too long: %d`."""
    refused(make_pg(), "invalid tag: tag is too long: 256", tag="a" * 256)
    refused(make_pg(), "invalid tag: tag is too long: 300", tag="b" * 300)


def test_tag_of_255_characters_is_accepted():
    """7.2 row 8: at most 255 characters."""
    order = place(make_pg(), tag="a" * 255)
    assert order.tag == "a" * 255


@pytest.mark.parametrize("tag, char", [
    ("my_tag", "_"),
    ("a b", " "),
    ("sl--1.5", "."),
    ("x/y", "/"),
    ("ok-then!", "!"),
    ("café", "é"),
])
def test_tag_with_invalid_character_is_refused(tag, char):
    """7.2 row 8: only [A-Za-z0-9-]; `invalid tag: invalid character in tag: %c (%s)` names the first one."""
    refused(make_pg(), f"invalid tag: invalid character in tag: {char} ({tag})", tag=tag)


@pytest.mark.parametrize("tag", ["", "SupertrendStackSignal-3", "sl--99-5--tp--101-25", "ABC-xyz-019"])
def test_valid_tags_are_accepted(tag):
    """7.2 row 8 / 18.2: tags from letters, digits and dashes pass (e.g. `sl--<sl>--tp--<tp>` with . -> -)."""
    assert place(make_pg(), tag=tag).tag == tag


def test_symbol_without_a_repository_is_refused():
    """7.2 row 2: `symbol %s not found in repos`."""
    refused(make_pg(), "symbol MSFT not found in repos", symbol="MSFT")


def test_symbol_not_found_names_the_symbol_upper_case():
    """7.2 row 2 with D16: the error text shows the ticker upper-case."""
    refused(make_pg(), "symbol MSFT not found in repos", symbol="msft")


def test_refused_request_consumes_no_order_id():
    """7.1 (request validation at step 2, the id is allocated at step 6) with D8: a refused
    request creates no order, so the next one still gets id 1."""
    pg = make_pg()
    refused(pg, quantity=0)
    assert place(pg).id == 1


# --- order of the checks (7.1 before 7.2; 7.2 first failure wins) ---------------------------

def test_request_validation_precedes_symbol_lookup():
    """7.1 before 7.2: a bad request is reported before the missing repository."""
    refused(make_pg(), "quantity must be greater than 0", symbol="MSFT", quantity=0)


def test_symbol_lookup_precedes_side_rule():
    """7.2 rows 2 before 4."""
    refused(make_pg(), "symbol MSFT not found in repos", symbol="MSFT", side="sell")


def test_side_rule_precedes_requested_price():
    """7.2 rows 4 before 5b."""
    refused(make_pg(), SIDE + "cannot sell when no position exists: must sell short", side="sell",
            requested_price=0)


def test_requested_price_precedes_tag():
    """7.2 rows 5b before 8."""
    refused(make_pg(), "requested price must be greater than 0", requested_price=0, tag="bad tag")


def test_tag_precedes_close_feasibility():
    """7.2 rows 8 before 9."""
    pg = make_pg()
    fill(pg, "buy", 10)
    refused(pg, "invalid tag: invalid character in tag: _ (a_b)", side="sell", quantity=15, tag="a_b")


@pytest.mark.parametrize("other", [
    dict(tag="bad tag"),                  # 7.2 row 8
    dict(requested_price=0),              # 7.2 row 5b
    dict(symbol="MSFT"),                  # 7.2 row 2
])
def test_close_order_id_pre_check_precedes_engine_validation(other):
    """7.1 steps 5 before 7: the service's `checkPendingCloses` (9.4) runs before the engine's
    validation (7.2), so an unknown close_order_id is reported first."""
    pg = make_pg()
    fill(pg, "buy", 10)
    refused(pg, "failed to find order to close: 42", side="sell", quantity=1, close_order_id=42, **other)


def test_close_order_id_pre_check_precedes_side_rule():
    """7.1 steps 5 before 7: `failed to find order to close` comes before the side rule (7.2 row 4)."""
    pg = make_pg()
    refused(pg, "failed to find order to close: 42", side="sell", quantity=1, close_order_id=42)


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


# --- order types and their prices (D4) -----------------------------------------------------

def test_limit_order_needs_a_price():
    """D4 / 7.1: a limit order without a limit price is refused (`price must be greater than 0`)."""
    text = refused(make_pg(), order_type="limit")
    assert "price must be greater than 0" in text


def test_stop_order_needs_a_stop_price():
    """D4 / 7.1: a stop order without a stop price is refused (`stop price must be greater than 0`)."""
    text = refused(make_pg(), order_type="stop")
    assert "stop price must be greater than 0" in text


@pytest.mark.parametrize("prices, missing", [
    (dict(stop_price=101.0), "price must be greater than 0"),
    (dict(price=102.0), "stop price must be greater than 0"),
    (dict(), "price must be greater than 0"),
])
def test_stop_limit_order_needs_both_prices(prices, missing):
    """D4: a stop-limit order needs its stop and its limit price."""
    text = refused(make_pg(), order_type="stop_limit", **prices)
    assert missing in text


@pytest.mark.parametrize("order_type, prices", [
    ("market", {}),
    ("limit", dict(price=99.0)),
    ("stop", dict(stop_price=101.0)),
    ("stop_limit", dict(stop_price=101.0, price=102.0)),
])
def test_every_order_type_with_its_prices_is_accepted(order_type, prices):
    """6.1 / D4: market, limit, stop and stop_limit validate when given their prices."""
    order = place(make_pg(), order_type=order_type, **prices)
    assert order.order_type == order_type and order.status == "pending"
    assert order.price == prices.get("price") and order.stop_price == prices.get("stop_price")


def test_placed_order_records_the_request():
    """7.1 steps 4 and 6: status pending, creation time = playground current time, fields kept."""
    pg = make_pg()
    pg.tick(120)
    order = place(pg, "buy", 7, requested_price=101.5, sl=95.0, tag="my-tag", duration="gtc")
    assert order.status == "pending" and order.trades == []
    assert order.created_at == pg.current_time == T0 + 3 * M1
    assert (order.symbol, order.side, order.quantity, order.requested_price, order.sl, order.tag) == \
        ("AAPL", "buy", 7, 101.5, 95.0, "my-tag")
    assert pg.pending_orders() == [order] and pg.get_order(order.id) is order


# --- equity_fraction (extension, docs/engine.md Orders) ------------------------------------

def test_equity_fraction_with_quantity_is_refused():
    """docs/engine.md: `equity_fraction` sizes an order *instead of* a quantity."""
    refused(make_pg(), regex="either quantity or equity_fraction", quantity=10, equity_fraction=0.5)


@pytest.mark.parametrize("side", ["sell", "buy_to_cover"])
def test_equity_fraction_on_a_closing_side_is_refused(side):
    """docs/engine.md: `equity_fraction` is for opening sides only."""
    pg = make_pg()
    fill(pg, "buy" if side == "sell" else "sell_short", 10)
    refused(pg, regex="equity_fraction .*only for opening sides", side=side, quantity=None, equity_fraction=0.5)


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, math.nan, math.inf])
def test_equity_fraction_outside_zero_one_is_refused(fraction):
    """docs/engine.md: the fraction is in (0, 1]."""
    refused(make_pg(), regex=r"equity_fraction must be in \(0, 1\]", quantity=None, equity_fraction=fraction)


@pytest.mark.parametrize("side", ["buy", "sell_short"])
@pytest.mark.parametrize("fraction", [1, 0.25])
def test_equity_fraction_on_an_opening_side_is_accepted(side, fraction):
    """docs/engine.md: opening sides may be sized by equity_fraction in (0, 1]; the quantity is set at the fill."""
    order = place(make_pg(), side, quantity=None, equity_fraction=fraction)
    assert order.status == "pending" and order.equity_fraction == fraction


def test_neither_quantity_nor_equity_fraction_is_refused():
    """7.1: without equity_fraction the quantity is required: `quantity must be greater than 0`."""
    refused(make_pg(), "quantity must be greater than 0", quantity=None)
