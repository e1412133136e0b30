"""Orders, trades and position snapshots (spec sections 2.3-2.5 and 6)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .timeutil import from_ns

SIDES = ("buy", "sell", "buy_to_cover", "sell_short")
OPENING_SIDES = ("buy", "sell_short")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
DURATIONS = ("day", "gtc", "pre", "post")  # pre/post are accepted as in the original and expire like day
STATUSES = ("pending", "partially_filled", "filled", "rejected", "canceled", "expired")
OPEN_STATUSES = ("pending", "partially_filled")

_TAG_CHARS = re.compile(r"[A-Za-z0-9-]")


def side_sign(side: str) -> int:
    """+1 for buy and buy_to_cover, -1 for sell and sell_short."""
    return 1 if side in ("buy", "buy_to_cover") else -1


def validate_tag(tag: str) -> None:
    """Tags: at most 255 characters from ``[A-Za-z0-9-]`` (the original's ``ValidateTag``)."""
    if len(tag) > 255:
        raise ValueError(f"invalid tag: tag is too long: {len(tag)}")
    for ch in tag:
        if not _TAG_CHARS.fullmatch(ch):
            raise ValueError(f"invalid tag: invalid character in tag: {ch} ({tag})")


def side_rule_violation(side: str, q: float) -> str | None:
    """The original's side rule (spec 7.3) for a position (plus pending) quantity ``q``."""
    if q > 0:
        if side == "buy_to_cover":
            return f"cannot buy to cover when long position of {q:.2f} exists: must sell to close"
        if side == "sell_short":
            return f"cannot sell short when long position of {q:.2f} exists: must sell to close"
    elif q < 0:
        if side == "buy":
            return f"cannot buy when short position of {q:.2f} exists: must buy to cover"
        if side == "sell":
            return f"cannot sell to close when short position of {q:.2f} exists: must buy to cover"
    else:
        if side == "sell":
            return "cannot sell when no position exists: must sell short"
        if side == "buy_to_cover":
            return "cannot buy to cover when no position exists"
    return None


class Trade:
    """One fill: signed ``quantity`` (buys positive) at ``price``; ids start at 1 per playground.

    Inside ``Order.closed_by`` a trade's quantity is the part allocated to that open order.
    """

    __slots__ = ("id", "time_ns", "quantity", "price", "order_id", "commission")

    def __init__(self, id: int, time_ns: int, quantity: float, price: float, order_id: int, commission: float = 0.0):
        self.id, self.time_ns, self.quantity, self.price = id, time_ns, quantity, price
        self.order_id, self.commission = order_id, commission

    @property
    def time(self):
        return from_ns(self.time_ns)

    def _key(self):
        return (self.id, self.time_ns, self.quantity, self.price, self.order_id, self.commission)

    def __eq__(self, other):
        return isinstance(other, Trade) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"Trade(id={self.id}, time={self.time.isoformat()}, quantity={self.quantity}, price={self.price}, "
                f"order_id={self.order_id}, commission={self.commission})")


@dataclass(frozen=True)
class Position:
    """A symbol's position: signed ``quantity``, average ``cost_basis`` since it was last flat,
    unrealised ``pl``, ``maintenance_margin`` (of the current quantity, D11) and ``current_price``."""

    quantity: float = 0.0
    cost_basis: float = 0.0
    pl: float = 0.0
    maintenance_margin: float = 0.0
    current_price: float = 0.0

    @classmethod
    def trusted(cls, quantity: float, cost_basis: float, pl: float, maintenance_margin: float,
                current_price: float) -> "Position":
        """The same snapshot as the constructor's, built without a frozen dataclass's
        attribute-by-attribute ``__init__`` (the ledger takes one at each order's first fill)."""
        position = object.__new__(cls)
        position.__dict__.update(quantity=quantity, cost_basis=cost_basis, pl=pl, maintenance_margin=maintenance_margin,
                                 current_price=current_price)
        return position


FLAT = Position()


class Order:
    """An order and everything that happened to it. Outcomes are data: a rejected order has
    ``status == "rejected"`` and a ``reject_reason``; an expired day order ``status == "expired"``."""

    __slots__ = ("id", "symbol", "side", "quantity", "order_type", "duration", "price", "requested_price",
                 "stop_price", "sl", "tp", "tag", "status", "reject_reason", "trades", "closes", "closed_by",
                 "close_order_id", "created_ns", "previous_position", "client_request_id", "equity_fraction",
                 "protects", "expires_ns", "eligible_ns", "triggered", "filled_quantity",
                 "closed_quantity")

    def __init__(self, id, symbol, side, quantity, order_type, duration, price, requested_price, stop_price,
                 sl, tp, tag, close_order_id, created_ns, client_request_id=None, equity_fraction=None,
                 protects=None, expires_ns=None):
        self.id, self.symbol, self.side, self.quantity = id, symbol, side, quantity
        self.order_type, self.duration, self.price, self.requested_price = order_type, duration, price, requested_price
        self.stop_price, self.sl, self.tp, self.tag = stop_price, sl, tp, tag
        self.status, self.reject_reason = "pending", ""
        self.trades: list[Trade] = []
        self.closes: list[int] = []
        self.closed_by: list[Trade] = []
        self.close_order_id, self.created_ns = close_order_id, created_ns
        self.previous_position: Position | None = None
        self.client_request_id, self.equity_fraction = client_request_id, equity_fraction
        self.protects = protects          # id of the open order a protective sl/tp order guards (D5)
        self.expires_ns = expires_ns      # day orders: the session close they expire at
        self.eligible_ns = created_ns     # candles starting before this cannot fill the order
        self.triggered = False            # stop-limit: the stop has been touched
        self.filled_quantity = 0.0        # unsigned filled quantity (the ledger books fills)
        self.closed_quantity = 0.0        # signed sum of closed_by quantities

    @property
    def created_at(self):
        return from_ns(self.created_ns)

    @property
    def signed_quantity(self) -> float:
        return self.quantity * side_sign(self.side)

    @property
    def avg_fill_price(self) -> float:
        """Quantity-weighted average fill price (D11); 0 before any fill; a single fill's price exactly."""
        if len(self.trades) == 1:
            return self.trades[0].price
        q = sum(abs(t.quantity) for t in self.trades)
        return sum(abs(t.quantity) * t.price for t in self.trades) / q if q else 0.0

    @property
    def commission(self) -> float:
        return sum(t.commission for t in self.trades)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining_open_quantity(self) -> float:
        """Signed quantity of a filled buy/sell_short not yet closed (spec 9.1)."""
        if self.side == "buy":
            return max(0.0, self.filled_quantity + self.closed_quantity)
        left = self.filled_quantity * side_sign(self.side) + self.closed_quantity
        return min(0.0, left)

    def __repr__(self):
        extra = f", reject_reason={self.reject_reason!r}" if self.reject_reason else ""
        return (f"Order(id={self.id}, {self.side} {self.quantity:g} {self.symbol} {self.order_type}/{self.duration}, "
                f"status={self.status}{extra})")


def positive_or_none(value, message: str):
    """``None`` stays ``None``; anything else must be a finite number > 0 or ``ValueError(message)``."""
    if value is None:
        return None
    if value.__class__ is float and 0.0 < value < math.inf:  # the common case, decided at once
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(message)
    return float(value)


def check_order_arguments(side, quantity, equity_fraction, order_type, price, stop_price, sl, tp, duration, tag):
    """The checks of a placement that need no account state, in the original's order; a refusal
    is a ``ValueError``. Returns ``(quantity, equity_fraction, price, stop_price, sl, tp)`` as floats
    or ``None`` (quantity ``0.0`` while ``equity_fraction`` sizes the order at its fill)."""
    if side not in SIDES:
        raise ValueError(f"invalid side: invalid order side: {side} (accepted: {', '.join(SIDES)})")
    if equity_fraction is None:
        quantity = positive_or_none(quantity, "quantity must be greater than 0")
        if quantity is None:
            raise ValueError("quantity must be greater than 0")
    else:
        if quantity is not None:
            raise ValueError("give either quantity or equity_fraction, not both")
        if side not in OPENING_SIDES:
            raise ValueError(f"equity_fraction sizing is only for opening sides {OPENING_SIDES}, not {side}")
        equity_fraction = positive_or_none(equity_fraction, "equity_fraction must be in (0, 1]")
        if equity_fraction > 1:
            raise ValueError("equity_fraction must be in (0, 1]")
        quantity = 0.0
    if (order_type == "market" and price is None and stop_price is None and sl is None and tp is None
            and duration in DURATIONS and isinstance(tag, str)):  # the common case: nothing more to check
        return quantity, equity_fraction, None, None, None, None
    if order_type not in ORDER_TYPES:
        raise ValueError(f"invalid order type: invalid order type: {order_type} (accepted: {', '.join(ORDER_TYPES)})")
    price = positive_or_none(price, "price must be greater than 0")
    stop_price = positive_or_none(stop_price, "stop price must be greater than 0")
    sl = positive_or_none(sl, "stop price must be greater than 0")
    tp = positive_or_none(tp, "take profit must be greater than 0")
    if duration not in DURATIONS:
        raise ValueError(f"invalid duration: invalid order duration: {duration} (accepted: {', '.join(DURATIONS)})")
    if order_type in ("limit", "stop_limit") and price is None:
        raise ValueError(f"{order_type} orders need a limit price: price must be greater than 0")
    if order_type in ("stop", "stop_limit") and stop_price is None:
        raise ValueError(f"{order_type} orders need a stop_price: stop price must be greater than 0")
    if not isinstance(tag, str):
        raise ValueError(f"tag must be a string, got {type(tag).__name__}")
    return quantity, equity_fraction, price, stop_price, sl, tp
