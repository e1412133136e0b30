"""Placing orders, the request: spec 7.1 (request validation) and 7.2 (engine validation), the
order of the checks, order types and their prices, and ``equity_fraction`` sizing (D10: the
original's texts)."""
from __future__ import annotations

import math

import pytest

from backtestester.engine import PlaceOrderError, PlaygroundError

from .conftest import M1, SIDE, T0, fill, make_pg, place, refused

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
