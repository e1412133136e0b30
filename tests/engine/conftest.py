"""Helpers of the engine tests: playgrounds, repositories and placements."""
from __future__ import annotations

import re
from datetime import timedelta, timezone

import pytest

from backtestester.engine import Candle, PlaceOrderError, Playground, Repository

from ..conftest import MINUTE, T0

UTC = timezone.utc
M1 = MINUTE
M5 = timedelta(minutes=5)
H1 = timedelta(hours=1)
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


def candles(n, start=T0, period=M1, base=100.0, available_after=None):
    """n candles of ``period`` from ``start``; candle i has close base + i (open = close - 0.5).

    ``available_after`` (a timedelta) sets explicit availability = start + that delay."""
    out = []
    for i in range(n):
        c = base + i
        s = start + i * period
        out.append(Candle(s, c - 0.5, c + 1, c - 1, c, 1000 + i,
                          available_at=None if available_after is None else s + available_after))
    return out


def repo(symbol="AAPL", n=10, period=M1, start=T0, base=100.0, available_after=None):
    return Repository(symbol, period, candles(n, start, period, base, available_after))
