"""Fill prices of resting orders against one candle (D3, D4).

Gap handling: when the candle opens beyond the order's price, a limit fills at the (better)
open and a stop at the (worse) open; otherwise a touched limit or stop fills at its own price.
A stop-limit triggers like a stop; it fills at the trigger price when that satisfies its limit,
else it rests as a limit from the next candle on.
"""
from __future__ import annotations


def limit_price(buying: bool, limit: float, o: float, h: float, l: float) -> float | None:
    if buying:
        return o if o <= limit else (limit if l <= limit else None)
    return o if o >= limit else (limit if h >= limit else None)


def stop_price(buying: bool, stop: float, o: float, h: float, l: float) -> float | None:
    if buying:
        return o if o >= stop else (stop if h >= stop else None)
    return o if o <= stop else (stop if l <= stop else None)


def match(order, buying: bool, o: float, h: float, l: float) -> tuple[float | None, bool]:
    """(fill price or None, whether slippage applies) of ``order`` on a candle (market: the open)."""
    kind = order.order_type
    if kind == "market":
        return o, True
    if kind == "limit":
        return limit_price(buying, order.price, o, h, l), False
    if kind == "stop":
        return stop_price(buying, order.stop_price, o, h, l), True
    # stop_limit
    if order.triggered:
        return limit_price(buying, order.price, o, h, l), False
    trigger = stop_price(buying, order.stop_price, o, h, l)
    if trigger is None:
        return None, False
    order.triggered = True
    ok = trigger <= order.price if buying else trigger >= order.price
    return (trigger if ok else None), False
