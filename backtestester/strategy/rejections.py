"""Rejections are data: a run's tally of rejected orders, and the rule for placement refusals.

The rule (for every order verb of the context: ``ctx.buy``, ``ctx.sell``, ``ctx.place``...):

* a placement the account's state refuses (the engine's
  :class:`~backtestester.engine.OrderRejected`: the side rule, e.g. ``ctx.sell`` with no
  position; more volume to close than is open; the order to close not open; through the gateway
  also free margin for ``fraction=``) is a **trading outcome**: the verb returns an order with
  ``status == "rejected"``, ``id == 0`` (it never entered the book) and ``reject_reason`` (the
  engine's wording), the strategy's ``on_reject(ctx, order)`` is called at once, and the run
  counts it (``BacktestResult.rejections``);
* rejections at fill time (e.g. insufficient free margin) come to ``on_reject`` on the next tick,
  as always, and are counted too;
* bad arguments (side, order type, quantity, prices, tag, an unknown symbol, an option the broker
  does not have) stay exceptions: they are programming errors, and the message says what is
  accepted.

The first rejection of a run is logged once as a warning (logger ``backtestester.strategy``).
``strict=True`` (``run_backtest(..., strict=True)`` and the other runners) raises the refusal as
an :class:`~backtestester.engine.OrderRejected` instead, as the engine does.
"""
from __future__ import annotations

import logging

from ..engine import Order

LOG = logging.getLogger("backtestester.strategy")


class Rejections:
    """The rejected orders of one run, in the order they happened; warns on the first."""

    __slots__ = ("strict", "orders")

    def __init__(self, strict: bool = False):
        self.strict = bool(strict)
        self.orders: list[Order] = []

    def __len__(self) -> int:
        return len(self.orders)

    def record(self, order: Order) -> None:
        if not self.orders:
            LOG.warning("order rejected: %s %s %s: %s (later rejections of this run are counted, not logged; "
                        "on_reject receives each; strict=True raises instead)",
                        order.side, order.quantity, order.symbol, order.reject_reason)
        self.orders.append(order)


def refused_order(reason: str, now_ns: int, symbol: str, side: str, quantity, order_type: str, price, stop_price,
                  requested_price, sl, tp, duration: str, tag: str, close_order_id, client_request_id,
                  equity_fraction) -> Order:
    """The rejected order of a refused placement: id 0 (it never entered the book), the
    arguments it was placed with, ``status == "rejected"`` and the refusal's ``reject_reason``."""
    order = Order(0, symbol, side, 0.0 if quantity is None else quantity, order_type, duration, price,
                  requested_price, stop_price, sl, tp, tag, close_order_id, now_ns,
                  client_request_id=client_request_id, equity_fraction=equity_fraction)
    order.status, order.reject_reason = "rejected", reason
    return order
