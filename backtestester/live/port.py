"""The broker port: what live trading needs from a broker, and the values that cross it.

Every adapter (:mod:`~backtestester.live.simbroker`, :mod:`~backtestester.live.tradier`) implements
:class:`Broker`; the live desk (:mod:`~backtestester.live.desk`) and the live bar sources speak
only this module's types. Pure: standard library only.

Outcomes of placing an order are data (:class:`Ack`, :class:`Rejected`, :class:`Unresolved`);
exceptions are for a broker that cannot be used (:class:`BrokerAuthError`: fail fast) or cannot
be reached now (:class:`BrokerUnavailable`: try the read again later). An order POST is never
retried blindly: after :class:`Unresolved` the caller looks the intent up by its tag
(:func:`find_by_tag`) before anything is sent again.

Times are integer UTC nanoseconds; quantities of equity orders are whole shares.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: Broker order sides (Tradier's equity vocabulary; the reconcile account maps live sides onto them).
BROKER_SIDES = ("buy", "sell", "sell_short", "buy_to_cover")
#: Normalised broker order statuses. ``pending``/``open``/``partially_filled`` are working.
WORKING_STATUSES = ("pending", "open", "partially_filled")
TERMINAL_STATUSES = ("filled", "canceled", "rejected", "expired", "error")
#: Order durations: ``pre``/``post`` may trade outside the regular session.
DURATIONS = ("day", "gtc", "pre", "post")
#: The longest tag Tradier accepts, of ``[A-Za-z0-9-]`` only (a bad tag rejects a real order with 400).
MAX_TAG_LENGTH = 255
_TAG_ALPHABET = re.compile(r"[^A-Za-z0-9]+")


def intent_tag(key: str) -> str:
    """The broker tag of an order intent: deterministic, unique per ``key``, and valid by
    construction (``[A-Za-z0-9-]``, at most :data:`MAX_TAG_LENGTH` characters).

    A readable prefix of the key (other characters folded to ``-``) followed by 32 hex digits of
    its SHA-256, so two keys that fold alike still get different tags."""
    readable = _TAG_ALPHABET.sub("-", key).strip("-")[:80]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"bt-{readable}-{digest}" if readable else f"bt-{digest}"


@dataclass(frozen=True)
class OrderIntent:
    """One order the desk wants at the broker. ``key`` names it in the intent journal; ``tag`` is
    :func:`intent_tag` of the key, sent with the order so a lookup can find it again."""

    key: str
    symbol: str
    side: str
    quantity: int
    order_type: str = "market"
    duration: str = "day"
    price: float | None = None
    stop: float | None = None
    tag: str = ""

    def __post_init__(self):
        if not self.tag:
            object.__setattr__(self, "tag", intent_tag(self.key))
        if self.side not in BROKER_SIDES:
            raise ValueError(f"broker side must be one of {', '.join(BROKER_SIDES)}, got {self.side!r}")
        if int(self.quantity) != self.quantity or self.quantity <= 0:
            raise ValueError(f"broker quantity must be a positive whole number of shares, got {self.quantity!r}")


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it. ``exec_quantity`` is cumulative (a partial fill is seen
    only as its growth); ``quantity`` and ``exec_quantity`` are unsigned."""

    id: str
    symbol: str
    side: str
    quantity: float
    status: str
    exec_quantity: float = 0.0
    avg_fill_price: float = 0.0
    tag: str | None = None
    order_type: str = "market"
    duration: str = "day"
    reason: str = ""
    created_ns: int = 0
    updated_ns: int = 0

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.exec_quantity, 0.0)


@dataclass(frozen=True)
class Ack:
    """The broker accepted the order and named it ``order_id`` (its state comes from polling)."""

    order_id: str


@dataclass(frozen=True)
class Rejected:
    """The broker refused the order outright (nothing was placed): ``reason`` in its words."""

    reason: str


@dataclass(frozen=True)
class Unresolved:
    """The outcome is unknown (timeout, 5xx, dropped response, HTML page): the order may or may not
    exist. Look it up by tag before sending anything again."""

    reason: str


PlaceOutcome = Ack | Rejected | Unresolved


@dataclass(frozen=True)
class BrokerPosition:
    """A position at the broker: signed ``quantity``; ``cost_basis`` is the *total* cost."""

    symbol: str
    quantity: float
    cost_basis: float = 0.0


@dataclass(frozen=True)
class Balances:
    equity: float
    cash: float
    account_type: str = ""
    market_value: float = 0.0


@dataclass(frozen=True)
class BrokerClock:
    """The broker's clock: ``state`` is ``premarket``/``open``/``postmarket``/``closed``; ``server_ns``
    is the broker's time, a free probe of the local clock's skew."""

    state: str
    server_ns: int


@dataclass(frozen=True)
class SessionDay:
    """One calendar day: ``date`` is ``YYYY-MM-DD``; each window is ``(start_ns, end_ns)`` UTC or
    ``None`` (a closed day has none; an early close shows as a shorter ``regular``)."""

    date: str
    is_open: bool
    regular: tuple[int, int] | None = None
    premarket: tuple[int, int] | None = None
    postmarket: tuple[int, int] | None = None


@dataclass(frozen=True)
class Quote:
    symbol: str
    last: float
    bid: float = 0.0
    ask: float = 0.0
    time_ns: int = 0


@dataclass(frozen=True)
class Bar:
    """One bar: ``start_ns`` is the start of its window (UTC ns), ``period_s`` its length in seconds."""

    symbol: str
    period_s: int
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.symbol, self.period_s, self.start_ns)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.period_s * 1_000_000_000


class BrokerError(Exception):
    """A broker call that cannot give an answer. ``retry_after_s`` is a hint (from a 429's
    headers, say), 0 when none."""

    def __init__(self, message: str, retry_after_s: float = 0.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BrokerAuthError(BrokerError):
    """Permanent: bad or expired token, account not entitled. Fail fast; never retry."""


class BrokerUnavailable(BrokerError):
    """Transient: connection refused, timeout, 5xx, 429, an HTML page instead of JSON. Retry reads later."""


@runtime_checkable
class Broker(Protocol):
    """What the live desk needs from a broker account. Every call may raise :class:`BrokerError`;
    only :meth:`place` never raises for an ambiguous outcome (it answers :class:`Unresolved`)."""

    name: str
    account_id: str

    def place(self, intent: OrderIntent) -> PlaceOutcome: ...
    def cancel(self, order_id: str) -> None: ...
    def get_order(self, order_id: str) -> BrokerOrder: ...
    def list_orders(self) -> list[BrokerOrder]: ...
    def positions(self) -> list[BrokerPosition]: ...
    def balances(self) -> Balances: ...
    def clock(self) -> BrokerClock: ...
    def calendar(self, year: int, month: int) -> list[SessionDay]: ...
    def quotes(self, symbols: list[str]) -> list[Quote]: ...
    def bars(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]: ...


def find_by_tag(orders: list[BrokerOrder], tag: str) -> BrokerOrder | None:
    """The order carrying ``tag`` among ``orders`` (a broker's :meth:`Broker.list_orders`), or ``None``."""
    for order in orders:
        if order.tag == tag:
            return order
    return None


@dataclass
class BrokerConfig:
    """How to reach a broker account; every URL and token configurable (tests point them at loopback).

    ``trading_token`` places orders; ``data_token`` (defaults to it) reads quotes, bars, clock and
    calendar: Tradier's sandbox has delayed data, so production data with a sandbox account is common."""

    name: str
    account_id: str = ""
    base_url: str = ""
    data_url: str = ""
    trading_token: str = ""
    data_token: str = ""
    timeout_s: float = 10.0
    options: dict = field(default_factory=dict)
