"""A live playground's account: the engine's orders, ledger and side rules, with prices from the
newest live bar and fills that come from the broker instead of from matching.

What is the engine's, reused (not copied): :func:`~backtestester.engine.orders.check_order_arguments`
(argument texts), :func:`~backtestester.engine.orders.side_rule_violation` (spec §7.3, position plus
the open orders' remaining quantity), :func:`~backtestester.engine.orders.validate_tag`, the
:class:`~backtestester.engine.ledger.Ledger` (average cost, FIFO or ``close_order_id`` closes, realised
P/L into the balance, margins) and :class:`~backtestester.engine.orders.Order` / ``Trade``.
What differs, as in the original's live playgrounds (§17.4-17.5): fills are booked without the
pre-trade margin check (the broker already filled them), the pricing repository of a symbol is its
smallest period's newest bar (D15), and there is no clock to advance.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.errors import OrderRejected, PlaceOrderError
from ..engine.ledger import EPS, Ledger, Reject
from ..engine.orders import (
    OPENING_SIDES,
    Order,
    Position,
    Trade,
    check_order_arguments,
    positive_or_none,
    side_rule_violation,
    side_sign,
    validate_tag,
)
from ..symbols import normalize_symbol
from .bars import check_period
from .port import Bar


class LivePrice:
    """The pricing 'repository' the engine's ledger reads: ``close_values[position]`` is the close
    of the newest bar of the symbol's smallest period (``position`` -1 before the first bar)."""

    __slots__ = ("close_values", "position", "start_ns", "period_s")

    def __init__(self, period_s: int):
        self.close_values, self.position, self.start_ns, self.period_s = [0.0], -1, -1, period_s

    def update(self, start_ns: int, close: float) -> bool:
        if start_ns < self.start_ns:
            return False
        self.close_values[0], self.position, self.start_ns = float(close), 0, start_ns
        return True

    @property
    def known(self) -> bool:
        return self.position >= 0


@dataclass(frozen=True)
class LiveAccount:
    """A live playground's account: the engine's numbers at the newest bars, and every order."""

    balance: float
    equity: float
    free_margin: float
    positions: dict[str, Position] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)


def parse_repositories(repositories) -> list[tuple[str, int]]:
    """``[(symbol, period_s), ...]`` checked and normalised; a ``ValueError`` names what is accepted."""
    if not repositories:
        raise ValueError("repositories must name at least one (symbol, period_s) pair")
    out, seen = [], set()
    for item in repositories:
        try:
            symbol, period_s = item
        except (TypeError, ValueError):
            raise ValueError(f"repositories must be (symbol, period_s) pairs, got {item!r}") from None
        key = (normalize_symbol(symbol), check_period(period_s))
        if key in seen:
            raise ValueError(f"duplicate repository {key[0]} {key[1]}s")
        seen.add(key)
        out.append(key)
    return out


class LivePlayground:
    """One live playground's state in memory (the desk persists and restores it)."""

    def __init__(self, pid: str, doc: dict):
        self.pid, self.doc = pid, doc
        self.repositories = [tuple(r) for r in doc["repositories"]]
        self.reconcile_id: str = doc["reconcile_id"]
        self.pricing: dict[str, LivePrice] = {}
        for sym, period_s in self.repositories:
            best = self.pricing.get(sym)
            if best is None or period_s < best.period_s:
                self.pricing[sym] = LivePrice(period_s)
        self.ledger = Ledger(float(doc["balance"]), self.pricing, "cost")
        self.orders: dict[int, Order] = {}
        self.by_request_id: dict[str, Order] = {}

    @property
    def symbols(self) -> list[str]:
        return list(self.pricing)

    def on_bar(self, bar: Bar) -> bool:
        """Take a due bar; ``True`` when it belongs to one of this playground's repositories."""
        if (bar.symbol, bar.period_s) not in self.repositories:
            return False
        price = self.pricing[bar.symbol]
        if price.period_s == bar.period_s:
            price.update(bar.start_ns, bar.close)
        return True

    def open_orders_of(self, symbol: str | None = None) -> list[Order]:
        """Orders still working (pending or partially filled), in id order."""
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def check(self, *, order_id: int, symbol, side, quantity, order_type, duration, price, stop_price,
              requested_price, tag, close_order_id, sl, tp, now_ns: int) -> Order:
        """The order the arguments describe, validated as the engine validates a placement (its
        texts); ``ValueError``/:class:`PlaceOrderError` for a refusal. Not yet added."""
        quantity, _, price, stop_price, sl, tp = check_order_arguments(
            side, quantity, None, order_type, price, stop_price, sl, tp, duration, tag)
        if quantity != int(quantity):
            raise ValueError(f"live orders need a whole number of shares (the broker's unit), got {quantity:g}")
        sym = normalize_symbol(symbol)
        if close_order_id is not None:
            self._check_close_target(sym, close_order_id)
        if sym not in self.pricing:
            raise PlaceOrderError(f"symbol {sym} not found in repos")
        q = self.ledger.quantity(sym) + sum((o.quantity - o.filled_quantity) * side_sign(o.side)
                                            for o in self.open_orders_of(sym))
        rule = side_rule_violation(side, q)
        if rule:
            raise OrderRejected(f"PlaceOrder: side not allowed: {rule}")
        requested = positive_or_none(requested_price, "requested price must be greater than 0") \
            if requested_price else None
        if requested is None:  # live default: the newest price (the broker fills at its own)
            if not self.pricing[sym].known:
                raise PlaceOrderError("requested price must be greater than 0")
            requested = self.pricing[sym].close_values[0]
        validate_tag(tag)
        order = Order(order_id, sym, side, quantity, order_type, duration, price, requested, stop_price, sl, tp,
                      tag, close_order_id, now_ns)
        pos = self.ledger.quantity(sym)
        if pos != 0 and (pos > 0) != (side_sign(side) > 0):  # a close: is there enough open volume?
            try:
                self.ledger.allocate(order, quantity)
            except Reject as exc:
                raise OrderRejected(f"error getting close by requests: {exc}") from None
        return order

    def _check_close_target(self, sym: str, close_order_id: int) -> None:
        """Spec 9.4: the target is a filled open order of this playground, not over-claimed."""
        target = self.orders.get(close_order_id)
        if target is None or target.symbol != sym or target.side not in OPENING_SIDES \
                or abs(target.remaining_open_quantity) <= EPS:
            raise OrderRejected(f"failed to find order to close: {close_order_id}")
        pending = sum(o.quantity - o.filled_quantity for o in self.open_orders_of(sym)
                      if o.close_order_id == close_order_id)
        remaining = abs(target.remaining_open_quantity)
        if pending > remaining + EPS:
            raise OrderRejected(f"pending close quantity {pending:.2f} is greater than remaining open quantity "
                                f"{remaining:.2f}")

    def add(self, order: Order) -> None:
        self.orders[order.id] = order
        if order.client_request_id is not None:
            self.by_request_id[order.client_request_id] = order

    def fill(self, order: Order, quantity: float, price: float, time_ns: int) -> Trade:
        """Book a broker fill of signed ``quantity`` at ``price`` (no pre-trade checks, spec §17.4):
        reducing fills close lots FIFO or ``close_order_id``. A partly filled order is
        ``partially_filled`` (open, as in the engine: one vocabulary for backtests and live; the
        original kept it ``pending``, spec §17.4) until its fills reach its quantity."""
        led = self.ledger
        mark = self.pricing[order.symbol]
        if not mark.known:  # filled before any bar arrived: price at the fill until one does
            mark.close_values[0], mark.position = float(price), 0
        pos = led.quantity(order.symbol)
        allocations = []
        if pos != 0 and (pos > 0) != (quantity > 0):
            try:
                allocations = led.allocate(order, min(abs(quantity), abs(pos)))
            except Reject:
                allocations = led.allocate(_fifo(order), min(abs(quantity), abs(pos)))
        return led.apply(order, quantity, price, time_ns, 0.0, allocations)

    def equity(self) -> float:
        return self.ledger.equity()

    def account(self) -> LiveAccount:
        led = self.ledger
        return LiveAccount(led.balance, led.equity(), led.free_margin(),
                           {s: led.position(s) for s in led.positions}, list(self.orders.values()))

    def positions(self) -> dict[str, float]:
        return {s: p.qty for s, p in self.ledger.positions.items()}


def _fifo(order: Order) -> Order:
    """A stand-in of ``order`` without its ``close_order_id`` (its target closed meanwhile: FIFO)."""
    probe = Order(order.id, order.symbol, order.side, order.quantity, order.order_type, order.duration, order.price,
                  order.requested_price, order.stop_price, None, None, order.tag, None, order.created_ns)
    return probe
