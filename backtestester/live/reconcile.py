"""The reconcile account's rules, pure: the side mapping onto the aggregate position (spec §17.1)
with the cross-zero split made sequential, and the reconciliation report's differences.

The reconcile account of a broker account holds the *real* position: the sum of every live
playground of that account. A live order becomes broker orders whose sides agree with that
aggregate position ``P``:

* ``P`` flat or on the order's side: one leg, ``buy``/``buy_to_cover`` -> ``buy``,
  ``sell``/``sell_short`` -> ``sell_short`` (a short sale at the broker);
* ``P > 0`` and the order sells: ``sell min(P, q)`` first; the rest (``sell_short``) is a second
  leg, computed and sent only after the first has filled (the original sent both at once);
* ``P < 0`` and the order buys: ``buy_to_cover min(|P|, q)`` first, then ``buy`` the rest.

:func:`next_leg` computes one leg from the position *at the time it is sent*; the desk sends at
most one working broker order per (account, symbol), so ``P`` cannot move under it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.orders import side_sign
from .port import BrokerOrder

#: Quantities closer than this are equal (broker quantities are whole shares).
QTY_EPS = 1e-9


def next_leg(position: float, side: str, remaining: float) -> tuple[str, int]:
    """The broker side and whole-share quantity of the next leg of a live order of ``side`` with
    ``remaining`` unsigned quantity, given the account's aggregate ``position``.

    >>> next_leg(10, "sell", 15)
    ('sell', 10)
    >>> next_leg(0, "sell", 5)
    ('sell_short', 5)
    >>> next_leg(-4, "buy", 10)
    ('buy_to_cover', 4)
    """
    buying = side_sign(side) > 0
    qty = int(remaining + QTY_EPS)
    if position > QTY_EPS and not buying:
        return "sell", min(int(position + QTY_EPS), qty)
    if position < -QTY_EPS and buying:
        return "buy_to_cover", min(int(-position + QTY_EPS), qty)
    return ("buy" if buying else "sell_short"), qty


@dataclass
class Report:
    """The reconciliation report of one reconcile account (what the original listed, plus the
    differences it never computed). ``live_positions`` is keyed by live playground id."""

    broker_positions: dict[str, float] = field(default_factory=dict)
    reconcile_positions: dict[str, float] = field(default_factory=dict)
    live_positions: dict[str, dict[str, float]] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    unknown_broker_orders: list[BrokerOrder] = field(default_factory=list)
    unknown_intents: list[str] = field(default_factory=list)
    opens_blocked: bool = False
    checked_ns: int = 0


def _fmt(q: float) -> str:
    return f"{q:g}"


def position_differences(broker: dict[str, float], reconcile: dict[str, float],
                         live: dict[str, dict[str, float]]) -> list[str]:
    """One text per symbol where the broker, the reconcile account and the sum of the live
    playgrounds disagree, e.g. ``SPY: broker 10 vs reconcile 0 vs playgrounds 0``."""
    summed: dict[str, float] = {}
    for positions in live.values():
        for sym, q in positions.items():
            summed[sym] = summed.get(sym, 0.0) + q
    out = []
    for sym in sorted(set(broker) | set(reconcile) | set(summed)):
        b, r, s = broker.get(sym, 0.0), reconcile.get(sym, 0.0), summed.get(sym, 0.0)
        if abs(b - r) > QTY_EPS or abs(r - s) > QTY_EPS:
            out.append(f"{sym}: broker {_fmt(b)} vs reconcile {_fmt(r)} vs playgrounds {_fmt(s)}")
    return out


def order_differences(unknown_orders: list[BrokerOrder], unknown_intents: list[str]) -> list[str]:
    """Texts for working broker orders the journal does not know and journal intents the broker does not."""
    out = [f"unknown broker order {o.id}: {o.side} {_fmt(o.quantity)} {o.symbol} ({o.status}, tag {o.tag or 'none'})"
           for o in unknown_orders]
    out += [f"intent {key} is not known to the broker" for key in unknown_intents]
    return out


def unknown_broker_orders(orders: list[BrokerOrder], journal_tags: set[str]) -> list[BrokerOrder]:
    """Working broker orders that no journal intent names: a ``bt-`` tag the journal lacks, or no
    desk tag at all (an order placed by hand or by another program)."""
    return [o for o in orders if o.is_working and (o.tag is None or o.tag not in journal_tags)]
