"""Limit, stop and stop-limit orders, day/gtc expiry (D4) and stop-loss enforcement (D5)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backtestester.engine import Candle, Playground, Repository

from ..conftest import MINUTE, T0, make_playground


def place(pg, side, qty, order_type, **kw):
    return pg.place_order(symbol="AAPL", side=side, quantity=qty, requested_price=100, order_type=order_type, **kw)


def run(pg, ticks):
    deltas = [pg.tick(60) for _ in range(ticks)]
    return deltas


@pytest.mark.parametrize("candle,limit,expected", [
    ((100, 101, 98, 99), 99, 99),      # touched: fills at the limit
    ((97, 99, 96, 98), 99, 97),        # gapped below: fills at the better open
    ((100, 101, 99.5, 100), 99, None),  # not reached
])
def test_buy_limit(candle, limit, expected):
    pg = make_playground({"AAPL": [100, candle, 100]})
    pg.tick(60)
    order = place(pg, "buy", 1, "limit", price=limit)
    run(pg, 2)
    assert (order.trades[0].price if order.trades else None) == expected


@pytest.mark.parametrize("candle,stop,expected", [
    ((100, 101, 94, 95), 95, 95),      # touched: fills at the stop
    ((90, 92, 89, 91), 95, 90),        # gapped below: fills at the worse open
    ((100, 101, 96, 100), 95, None),
])
def test_sell_stop(candle, stop, expected):
    pg = make_playground({"AAPL": [100, 100, candle, 100]})
    pg.tick(60)
    place(pg, "buy", 1, "market")
    pg.tick(60)
    order = place(pg, "sell", 1, "stop", stop_price=stop, duration="gtc")
    run(pg, 2)
    assert (order.trades[0].price if order.trades else None) == expected


def test_sell_limit_and_buy_stop():
    pg = make_playground({"AAPL": [100, 100, (100, 106, 99, 105), 100]})
    pg.tick(60)
    place(pg, "buy", 1, "market")
    pg.tick(60)
    sell_limit = place(pg, "sell", 1, "limit", price=105)
    run(pg, 1)
    assert sell_limit.trades[0].price == 105
    pg2 = make_playground({"AAPL": [100, (100, 106, 99, 105), 100]})
    pg2.tick(60)
    buy_stop = pg2.place_order(symbol="AAPL", side="buy", quantity=1, requested_price=100, order_type="stop",
                               stop_price=103)
    run(pg2, 1)
    assert buy_stop.trades[0].price == 103


def test_stop_limit_triggers_then_rests_as_limit():
    """A buy stop-limit gapping above its limit triggers but rests; it fills later at the limit."""
    pg = make_playground({"AAPL": [100, (106, 107, 105.5, 106), (104, 105, 103, 104), 100]})
    pg.tick(60)
    order = place(pg, "buy", 1, "stop_limit", stop_price=103, price=104.5, duration="gtc")
    run(pg, 1)
    assert order.triggered and order.trades == []
    run(pg, 1)
    assert order.trades[0].price == 104


def test_limit_orders_match_every_candle_of_a_long_tick():
    """D4 + docs: a tick spanning several candles matches each in time order, not only the newest."""
    pg = make_playground({"AAPL": [100, 100, (100, 100, 95, 96), 100, 100]})
    pg.tick(60)
    order = place(pg, "buy", 1, "limit", price=97)
    pg.tick(240)
    assert order.trades[0].price == 97 and order.trades[0].time == T0 + 2 * MINUTE


def test_limit_never_fills_on_a_candle_visible_when_it_was_placed():
    pg = make_playground({"AAPL": [(100, 100, 90, 100), 100]})
    pg.tick(60)  # the candle with low 90 is visible now
    order = place(pg, "buy", 1, "limit", price=95)
    pg.tick(60)
    assert order.trades == [] and order.status == "pending"


def test_day_limit_expires_at_the_session_close_and_gtc_does_not():
    """D4 with the XNYS calendar: a day order expires at its session's close (event 'expired')."""
    ny_open = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
    candles = [Candle(ny_open + i * MINUTE, 100, 100, 100, 100) for i in range(390)]
    candles += [Candle(ny_open + timedelta(days=1) + i * MINUTE, 100, 100, 100, 100) for i in range(390)]
    pg = Playground(balance=10_000, start=ny_open, end=ny_open + timedelta(days=2), calendar="XNYS",
                    repositories=[Repository("AAPL", MINUTE, candles)])
    pg.tick(60)
    day = pg.place_order(symbol="AAPL", side="buy", quantity=1, requested_price=100, order_type="limit", price=90)
    gtc = pg.place_order(symbol="AAPL", side="buy", quantity=1, requested_price=100, order_type="limit", price=90,
                         duration="gtc")
    expired = []
    while pg.current_time.hour != 16:
        expired += [e for e in pg.tick(60).events if e.type == "expired"]
    assert [o.id for e in expired for o in e.orders] == [day.id]
    assert day.status == "expired" and gtc.status == "pending"
    assert pg.current_time == datetime(2024, 1, 2, 21, 0, tzinfo=timezone.utc)


def test_day_order_placed_at_the_close_is_for_the_next_session():
    ny_open = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
    candles = [Candle(ny_open + i * MINUTE, 100, 100, 100, 100) for i in range(390)]
    candles += [Candle(ny_open + timedelta(days=1) + i * MINUTE, 99, 99, 99, 99) for i in range(390)]
    pg = Playground(balance=10_000, start=ny_open + 389 * MINUTE, end=ny_open + timedelta(days=2), calendar="XNYS",
                    repositories=[Repository("AAPL", MINUTE, candles)], fill_model="next_open")
    pg.tick(60)  # 16:00: the day's last candle is revealed at the close
    order = pg.place_order(symbol="AAPL", side="buy", quantity=1, requested_price=100)
    assert pg.tick(60).new_trades == []  # the next session's open: no candle of it yet
    assert order.status == "pending"
    pg.tick(60)  # its first candle: the order fills at that candle's open
    assert order.status == "filled" and order.trades[0].price == 99


def test_stop_loss_is_stored_but_not_enforced_by_default():
    """D5 default: the original stores sl and never acts on it."""
    pg = make_playground({"AAPL": [100, 100, (100, 100, 80, 80), 80]})
    pg.tick(60)
    order = place(pg, "buy", 1, "market", sl=90)
    run(pg, 3)
    assert order.sl == 90 and len(pg.orders()) == 1 and pg.position("AAPL").quantity == 1


def test_enforced_stop_loss_closes_the_lot_and_cancels_take_profit():
    """D5 option: sl/tp become a protective stop/limit pair; one filling cancels the other."""
    pg = make_playground({"AAPL": [100, 100, (100, 101, 89, 89), 89]}, enforce_stop_loss=True)
    pg.tick(60)
    entry = place(pg, "buy", 5, "market", sl=90, tp=120)
    pg.tick(60)
    stop, take = pg.pending_orders()
    assert (stop.order_type, stop.stop_price, stop.side, stop.close_order_id, stop.tag) == ("stop", 90, "sell", entry.id, "sl")
    assert (take.order_type, take.price, take.tag) == ("limit", 120, "tp")
    delta = pg.tick(60)
    assert stop.trades[0].price == 90 and pg.position("AAPL").quantity == 0
    assert take.status == "canceled" and [e.type for e in delta.events] == ["canceled"]
    assert entry.closed_by == stop.trades


def test_protective_orders_do_not_block_a_manual_close():
    """D5: protective orders are not pending orders for the side rule; closing the lot cancels them."""
    pg = make_playground({"AAPL": [100, 100, 100, 100]}, enforce_stop_loss=True)
    pg.tick(60)
    place(pg, "buy", 5, "market", sl=90)
    pg.tick(60)
    close = place(pg, "sell", 5, "market")
    pg.tick(60)
    assert close.status == "filled" and pg.pending_orders() == []
    assert pg.orders()[1].status == "canceled"
