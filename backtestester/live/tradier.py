"""The Tradier adapter: :class:`TradierBroker` implements :class:`~.port.Broker` against Tradier's
REST API v1 (``shared/research/live-venues.md`` §2).

Polling is the truth: orders are read with one paged list call (``includeTags=true``), fills are
the cumulative ``exec_quantity`` of each order. Placing is one form POST carrying the intent's
tag; an ambiguous outcome is :class:`~.port.Unresolved` and is never retried here (the desk
looks the tag up in :meth:`TradierBroker.list_orders`). The HTTP rules (tokens, rate limits,
200 + ``errors``, HTML pages, faults) live in :mod:`.tradier_http`.

Times: account objects carry ISO-8601 UTC; the calendar's ``HH:MM`` and time-sales' ``start``/
``end`` are Eastern time; time-sales' ``timestamp`` is the Unix second of the bar's *start*.
"""
from __future__ import annotations

import calendar as _calendar
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from ..symbols import normalize_symbol
from .port import (
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    Balances,
    Bar,
    BrokerAuthError,
    BrokerClock,
    BrokerConfig,
    BrokerError,
    BrokerOrder,
    BrokerPosition,
    BrokerUnavailable,
    OrderIntent,
    PlaceOutcome,
    Quote,
    SessionDay,
)
from .tradier_http import MARKET, OK, STANDARD, TRADING, TradierHttp, rows

#: REST hosts by ``options["environment"]``.
BASE_URLS = {"sandbox": "https://sandbox.tradier.com/v1", "production": "https://api.tradier.com/v1"}
#: Time-sales intervals by bar period in seconds.
INTERVALS = {60: "1min", 300: "5min", 900: "15min"}
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
#: Statuses of Tradier's account stream folded into the port's vocabulary; any other unknown
#: status is read as ``pending`` too (still working: never mistaken for a terminal one).
STATUS_ALIASES = {"calculated": "pending", "accepted_for_bidding": "pending", "held": "pending"}
EASTERN = ZoneInfo("America/New_York")
NS = 1_000_000_000
#: Longest paged listing of today's orders (pages x page_limit orders) before it is refused.
MAX_PAGES = 100


def normal_status(status) -> str:
    """Tradier's order status in the port's vocabulary (``open`` ... ``error``)."""
    text = str(status or "").strip().lower()
    if text in WORKING_STATUSES or text in TERMINAL_STATUSES:
        return text
    return STATUS_ALIASES.get(text, "pending")


def iso_ns(text) -> int:
    """UTC ns of an ISO-8601 time such as ``2018-06-01T12:02:29.682Z``; 0 when absent or unreadable."""
    if not text or not isinstance(text, str):
        return 0
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return _calendar.timegm(moment.utctimetuple()) * NS + moment.microsecond * 1000


def eastern_ns(date: str, hhmm: str) -> int:
    """UTC ns of ``HH:MM`` Eastern time on ``YYYY-MM-DD``."""
    year, month, day = (int(part) for part in date.split("-"))
    hour, minute = (int(part) for part in hhmm.split(":")[:2])
    moment = datetime(year, month, day, hour, minute, tzinfo=EASTERN)
    return _calendar.timegm(moment.utctimetuple()) * NS


def eastern_text(ns: int) -> str:
    """``YYYY-MM-DD HH:MM`` Eastern time of UTC ``ns`` (time-sales' ``start``/``end``)."""
    return datetime.fromtimestamp(ns // NS, tz=EASTERN).strftime("%Y-%m-%d %H:%M")


def number(value, default: float = 0.0) -> float:
    """A JSON number (or a numeric string, as streams send) as float; ``default`` for null/"null"/junk."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def order_form(intent: OrderIntent) -> dict:
    """The form body of an equity order (§2.2)."""
    if intent.order_type not in ORDER_TYPES:
        raise ValueError(f"Tradier order type must be one of {', '.join(ORDER_TYPES)}, got {intent.order_type!r}")
    form = {"class": "equity", "symbol": normalize_symbol(intent.symbol), "side": intent.side,
            "quantity": str(int(intent.quantity)), "type": intent.order_type, "duration": intent.duration,
            "tag": intent.tag}
    if intent.order_type in ("limit", "stop_limit"):
        if intent.price is None:
            raise ValueError(f"a {intent.order_type} order needs a price")
        form["price"] = f"{float(intent.price):.6f}".rstrip("0").rstrip(".")
    if intent.order_type in ("stop", "stop_limit"):
        if intent.stop is None:
            raise ValueError(f"a {intent.order_type} order needs a stop price")
        form["stop"] = f"{float(intent.stop):.6f}".rstrip("0").rstrip(".")
    return form


def parse_order(row: dict) -> BrokerOrder:
    """A Tradier order object as a :class:`~.port.BrokerOrder` (``exec_quantity`` or the older
    ``executed_quantity``; ``reason_description`` as the reason)."""
    executed = row.get("exec_quantity", row.get("executed_quantity"))
    tag = row.get("tag")
    return BrokerOrder(
        id=str(row.get("id")), symbol=normalize_symbol(str(row.get("symbol") or "?")),
        side=str(row.get("side", "")), quantity=number(row.get("quantity")),
        status=normal_status(row.get("status")), exec_quantity=number(executed),
        avg_fill_price=number(row.get("avg_fill_price")), tag=None if tag in (None, "", "null") else str(tag),
        order_type=str(row.get("type") or "market"), duration=str(row.get("duration") or "day"),
        reason=str(row.get("reason_description") or ""), created_ns=iso_ns(row.get("create_date")),
        updated_ns=iso_ns(row.get("transaction_date")))


def parse_day(row: dict) -> SessionDay:
    """One ``calendar.days.day`` entry: ``HH:MM`` ET windows as UTC ns; a closed day has none."""
    date = str(row.get("date"))
    if str(row.get("status", "")).lower() != "open":
        return SessionDay(date=date, is_open=False)

    def window(key):
        span = row.get(key)
        if not isinstance(span, dict) or not span.get("start") or not span.get("end"):
            return None
        return (eastern_ns(date, span["start"]), eastern_ns(date, span["end"]))

    return SessionDay(date=date, is_open=True, regular=window("open"), premarket=window("premarket"),
                      postmarket=window("postmarket"))


class TradierBroker:
    """A Tradier brokerage account (sandbox by default) as a :class:`~.port.Broker`.

    ``config.options``: ``environment`` (``sandbox``/``production``: the default base URL),
    ``session_filter`` for bars (``all``, Tradier's default, or ``open``), ``page_limit`` (orders
    per page, 100), ``max_retries`` (429 retries, 3). ``now`` (int UTC ns) and ``sleep`` are
    injected for the rate-limit waits."""

    def __init__(self, config: BrokerConfig, *, now=time.time_ns, sleep=time.sleep):
        options = dict(config.options or {})
        environment = options.get("environment", "sandbox")
        if environment not in BASE_URLS:
            raise ValueError(f"Tradier environment must be one of {', '.join(BASE_URLS)}, got {environment!r}")
        if not config.account_id:
            raise ValueError("Tradier needs an account_id (the account number, e.g. VA12345678 in the sandbox)")
        if not config.trading_token:
            raise ValueError("Tradier needs a trading_token (an access token of the account)")
        self.name = config.name or "tradier"
        self.account_id = config.account_id
        self.base_url = (config.base_url or BASE_URLS[environment]).rstrip("/")
        self.data_url = (config.data_url or self.base_url).rstrip("/")
        self.trading_token = config.trading_token
        self.data_token = config.data_token or config.trading_token
        self.session_filter = options.get("session_filter", "all")
        self.page_limit = int(options.get("page_limit", 100))
        self.http = TradierHttp(config.timeout_s, now=now, sleep=sleep, max_retries=int(options.get("max_retries", 3)))

    def close(self) -> None:
        """Close the keep-alive session."""
        self.http.close()

    def _account_url(self, path: str = "") -> str:
        return f"{self.base_url}/accounts/{self.account_id}{path}"

    def _get(self, url: str, token: str, category: str, params: dict, what: str):
        reply = self.http.read("GET", url, token, category, params=params, what=what)
        if reply.kind != OK:
            raise BrokerError(f"Tradier {what}: HTTP {reply.status} {reply.text}")
        return reply.body

    def _account_get(self, path: str, what: str, params: dict | None = None):
        return self._get(self._account_url(path), self.trading_token, STANDARD, params or {}, what)

    def _market_get(self, path: str, what: str, params: dict):
        return self._get(f"{self.data_url}/markets{path}", self.data_token, MARKET, params, what)

    # -- orders -----------------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> PlaceOutcome:
        """POST the intent as an equity order with its tag: :class:`~.port.Ack` with Tradier's
        order id, :class:`~.port.Rejected` (400 with a reason, 200 + ``errors``) or
        :class:`~.port.Unresolved` (timeout, dropped connection, 5xx, HTML, no id)."""
        return self.http.place(self._account_url("/orders"), self.trading_token, order_form(intent))

    def cancel(self, order_id: str) -> None:
        """Ask Tradier to cancel: only an acknowledgement (the poll decides). An order already
        terminal (400 ``order already in finalized state``) is no error."""
        what = f"cancel of order {order_id}"
        try:
            reply = self.http.read("DELETE", self._account_url(f"/orders/{order_id}"), self.trading_token,
                                   TRADING, what=what)
        except BrokerAuthError as exc:
            raise BrokerAuthError(self._unknown_or_unauthorised(order_id, exc)) from None
        if reply.kind == OK or "finalized" in reply.text.lower():
            return None
        raise BrokerError(f"Tradier {what}: HTTP {reply.status} {reply.text}")

    def _unknown_or_unauthorised(self, order_id: str, exc: BrokerAuthError) -> str:
        if "unauthorized account" not in str(exc).lower():
            return str(exc)  # a token fault: plainly the credentials
        return (f"{exc} -- Tradier gives the same 401 for an order id unknown to account {self.account_id} "
                f"and for a token not valid for it: either order {order_id} does not exist or the token is bad")

    def get_order(self, order_id: str) -> BrokerOrder:
        """One order by Tradier id, with its tag."""
        try:
            body = self._account_get(f"/orders/{order_id}", f"order {order_id}", {"includeTags": "true"})
        except BrokerAuthError as exc:
            raise BrokerAuthError(self._unknown_or_unauthorised(order_id, exc)) from None
        order = body.get("order") if isinstance(body, dict) else None
        if not isinstance(order, dict):
            raise BrokerError(f"Tradier has no order {order_id} in account {self.account_id}: {str(body)[:200]}")
        return parse_order(order)

    def list_orders(self) -> list[BrokerOrder]:
        """Today's orders (Tradier's default ``intraday`` filter) with their tags, every page.

        An answer that cannot be read raises; it is never taken for "no orders" (only the
        ``"null"`` envelope is)."""
        orders: dict[str, BrokerOrder] = {}
        for page in range(1, MAX_PAGES + 1):
            body = self._account_get("/orders", "list of orders",
                                     {"includeTags": "true", "page": str(page), "limit": str(self.page_limit)})
            found = [parse_order(row) for row in rows(body, "orders", "order")]
            fresh = [order for order in found if order.id not in orders]
            orders.update((order.id, order) for order in fresh)
            if len(found) < self.page_limit or not fresh:
                return list(orders.values())
        raise BrokerUnavailable(f"Tradier list of orders: more than {MAX_PAGES} pages of {self.page_limit}")

    # -- account ----------------------------------------------------------------------------
    def positions(self) -> list[BrokerPosition]:
        """Signed positions; ``cost_basis`` is the total cost (§2.6)."""
        body = self._account_get("/positions", "positions")
        return [BrokerPosition(normalize_symbol(str(row.get("symbol"))), number(row.get("quantity")),
                               number(row.get("cost_basis"))) for row in rows(body, "positions", "position")]

    def balances(self) -> Balances:
        """``total_equity``, ``total_cash``, ``account_type`` and ``market_value`` (§2.7)."""
        body = self._account_get("/balances", "balances")
        values = body.get("balances") if isinstance(body, dict) else None
        if not isinstance(values, dict) or "total_equity" not in values:
            raise BrokerUnavailable(f"Tradier balances without total_equity: {str(body)[:200]}")
        return Balances(equity=number(values.get("total_equity")), cash=number(values.get("total_cash")),
                        account_type=str(values.get("account_type") or ""),
                        market_value=number(values.get("market_value")))

    # -- market -----------------------------------------------------------------------------
    def clock(self) -> BrokerClock:
        """The market state and Tradier's time (its ``timestamp`` in Unix seconds)."""
        body = self._market_get("/clock", "clock", {})
        values = body.get("clock") if isinstance(body, dict) else None
        if not isinstance(values, dict) or values.get("timestamp") in (None, "", "null"):
            raise BrokerUnavailable(f"Tradier clock without a timestamp: {str(body)[:200]}")
        return BrokerClock(state=str(values.get("state", "")), server_ns=int(number(values["timestamp"])) * NS)

    def calendar(self, year: int, month: int) -> list[SessionDay]:
        """The days of one month; windows from Tradier's ``HH:MM`` Eastern times (§2.10)."""
        body = self._market_get("/calendar", f"calendar {year}-{month:02d}", {"month": str(month), "year": str(year)})
        values = body.get("calendar") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            raise BrokerUnavailable(f"Tradier calendar without 'calendar': {str(body)[:200]}")
        return [parse_day(row) for row in rows(values, "days", "day")]

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """Quotes of the symbols Tradier knows (unknown ones are left out)."""
        names = [normalize_symbol(symbol) for symbol in symbols]
        if not names:
            return []
        body = self._market_get("/quotes", "quotes", {"symbols": ",".join(names)})
        return [Quote(symbol=normalize_symbol(str(row.get("symbol"))), last=number(row.get("last")),
                      bid=number(row.get("bid")), ask=number(row.get("ask")),
                      time_ns=int(number(row.get("trade_date"))) * 1_000_000)
                for row in rows(body, "quotes", "quote") if row.get("symbol")]

    def bars(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """Bars starting in ``[start_ns, end_ns)`` from time-sales (1, 5 or 15 minutes), aligned to
        the period, complete or not, sorted by start."""
        if period_s not in INTERVALS:
            raise ValueError(f"Tradier bars come in periods of {', '.join(map(str, INTERVALS))} seconds "
                             f"(time-sales 1min, 5min, 15min), got {period_s!r}")
        name = normalize_symbol(symbol)
        params = {"symbol": name, "interval": INTERVALS[period_s], "start": eastern_text(start_ns),
                  "end": eastern_text(end_ns + 59 * NS), "session_filter": self.session_filter}
        body = self._market_get("/timesales", f"time-sales of {name}", params)
        out = {}
        for row in rows(body, "series", "data"):
            start = int(number(row.get("timestamp"), -1))
            bar_ns = start * NS
            if start < 0 or start % period_s or not start_ns <= bar_ns < end_ns:
                continue
            out[bar_ns] = Bar(name, period_s, bar_ns, number(row.get("open")), number(row.get("high")),
                              number(row.get("low")), number(row.get("close")), number(row.get("volume")))
        return [out[key] for key in sorted(out)]
