"""The Alpaca adapter: :class:`AlpacaBroker` implements :class:`~.port.Broker` against Alpaca's
trading API v2 and its market-data API v2 (``shared/research/live-venues.md`` §4).

Polling is the truth: orders are read with one list call (``status=all`` since the start of the
US Eastern day, ``client_order_id`` as the tag); fills are each order's cumulative ``filled_qty``.
Placing is one JSON POST whose ``client_order_id`` is the intent's tag, an idempotency key Alpaca
enforces: a second POST with it is refused with 422. So after an ambiguous outcome (timeout,
dropped answer, 5xx) the adapter looks the order up by ``client_order_id`` at once, and a 422
duplicate is an order that exists: it is looked up too. Only when the lookup cannot answer is the
outcome :class:`~.port.Unresolved` (the desk then looks the tag up in :meth:`list_orders`; a
re-send is safe, Alpaca refuses a duplicate). The trade-updates stream
(:mod:`.alpaca_stream`) only makes polling run sooner.

Sides: Alpaca has only ``buy`` and ``sell`` (a sell with no position opens a short), so
``sell_short`` is sent as ``sell`` and ``buy_to_cover`` as ``buy``; ``pre``/``post`` durations
are ``day`` orders with ``extended_hours`` (limit orders only, Alpaca's rule).
"""
from __future__ import annotations

import calendar as _calendar
import time
from datetime import date, datetime, timezone

import requests

from ..symbols import normalize_symbol
from .alpaca_http import AlpacaHttp
from .alpaca_stream import TradeUpdates, stream_url
from .port import (
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    Ack,
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
    Rejected,
    SessionDay,
    Unresolved,
)
from .tradier import EASTERN, eastern_ns, iso_ns, number
from .tradier_http import OK, RATE, brief, never_sent, past_rate_limits

#: Trading hosts by ``options["environment"]``; market data has one host.
BASE_URLS = {"paper": "https://paper-api.alpaca.markets", "live": "https://api.alpaca.markets"}
DATA_URL = "https://data.alpaca.markets"
#: The ports' sides as Alpaca's two.
SIDES = {"buy": "buy", "buy_to_cover": "buy", "sell": "sell", "sell_short": "sell"}
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
#: Alpaca statuses in the port's vocabulary; anything unknown is ``pending`` (working).
STATUSES = {"new": "open", "accepted": "pending", "pending_new": "pending", "accepted_for_bidding": "pending",
            "pending_cancel": "open", "pending_replace": "open", "done_for_day": "open", "calculated": "open",
            "held": "pending", "stopped": "open", "suspended": "open", "replaced": "canceled"}
#: Bar timeframes by period in seconds.
TIMEFRAMES = {60: "1Min", 300: "5Min", 900: "15Min", 1800: "30Min", 3600: "1Hour", 86400: "1Day"}
NS = 1_000_000_000
#: Most orders one list call asks for (Alpaca's bound; ``options["page_limit"]``); more are read page after page.
PAGE_LIMIT = 500
MAX_PAGES = 100


def normal_status(status) -> str:
    """Alpaca's order status in the port's vocabulary."""
    text = str(status or "").strip().lower()
    if text in WORKING_STATUSES or text in TERMINAL_STATUSES:
        return text
    return STATUSES.get(text, "pending")


def price_text(value: float) -> str:
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def order_body(intent: OrderIntent) -> dict:
    """The JSON body of an equity order; ``client_order_id`` is the intent's tag."""
    if intent.order_type not in ORDER_TYPES:
        raise ValueError(f"Alpaca order type must be one of {', '.join(ORDER_TYPES)}, got {intent.order_type!r}")
    body = {"symbol": normalize_symbol(intent.symbol), "qty": str(int(intent.quantity)), "side": SIDES[intent.side],
            "type": intent.order_type, "time_in_force": "gtc" if intent.duration == "gtc" else "day",
            "client_order_id": intent.tag}
    if intent.duration in ("pre", "post"):
        if intent.order_type != "limit":
            raise ValueError(f"Alpaca takes extended-hours ({intent.duration}) orders as limit orders only, "
                             f"got {intent.order_type!r}")
        body["extended_hours"] = True
    if intent.order_type in ("limit", "stop_limit"):
        if intent.price is None:
            raise ValueError(f"a {intent.order_type} order needs a price")
        body["limit_price"] = price_text(intent.price)
    if intent.order_type in ("stop", "stop_limit"):
        if intent.stop is None:
            raise ValueError(f"a {intent.order_type} order needs a stop price")
        body["stop_price"] = price_text(intent.stop)
    return body


def parse_order(row: dict) -> BrokerOrder:
    """An Alpaca order object (numbers are strings, prices may be null) as a :class:`~.port.BrokerOrder`."""
    tag = row.get("client_order_id")
    return BrokerOrder(
        id=str(row.get("id")), symbol=normalize_symbol(str(row.get("symbol") or "?")), side=str(row.get("side", "")),
        quantity=number(row.get("qty")), status=normal_status(row.get("status")),
        exec_quantity=number(row.get("filled_qty")), avg_fill_price=number(row.get("filled_avg_price")),
        tag=str(tag) if tag else None, order_type=str(row.get("type") or row.get("order_type") or "market"),
        duration=str(row.get("time_in_force") or "day"), reason=str(row.get("reject_reason") or ""),
        created_ns=iso_ns(row.get("created_at")), updated_ns=iso_ns(row.get("updated_at")))


def iso_utc(ns: int) -> str:
    """RFC-3339 UTC text of ``ns`` (microseconds)."""
    moment = datetime.fromtimestamp(ns // NS, tz=timezone.utc).replace(microsecond=(ns % NS) // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def eastern_midnight_ns(now_ns: int) -> int:
    """UTC ns of the start of the US Eastern day at ``now_ns`` (the reach of :meth:`AlpacaBroker.list_orders`)."""
    day = datetime.fromtimestamp(now_ns / NS, tz=EASTERN).date()
    return eastern_ns(day.isoformat(), "00:00")


def month_days(year: int, month: int, rows: list[dict]) -> list[SessionDay]:
    """Every day of the month: Alpaca lists trading days only (``open``/``close`` HH:MM Eastern,
    ``session_open``/``session_close`` HHMM for the extended sessions); the rest are closed."""
    listed = {str(row.get("date")): row for row in rows if isinstance(row, dict)}
    out = []
    for number_of_day in range(1, _calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, number_of_day).isoformat()
        row = listed.get(day)
        if row is None or not row.get("open") or not row.get("close"):
            out.append(SessionDay(day, False))
            continue
        opens, closes = eastern_ns(day, row["open"]), eastern_ns(day, row["close"])
        pre, post = str(row.get("session_open") or "0400"), str(row.get("session_close") or "2000")
        out.append(SessionDay(day, True, regular=(opens, closes),
                              premarket=(eastern_ns(day, f"{pre[:2]}:{pre[-2:]}"), opens),
                              postmarket=(closes, eastern_ns(day, f"{post[:2]}:{post[-2:]}"))))
    return out


class AlpacaBroker:
    """An Alpaca account (paper by default) as a :class:`~.port.Broker`.

    ``config.options``: ``environment`` (``paper``/``live``: the default base URL), ``key_id`` and
    ``secret_key`` (the key pair; :mod:`actors.gateway.alpaca` reads them from environment
    variables or files), ``feed`` for data (``iex``, the free feed, or ``sip``), ``max_retries``
    (429 retries, 3), ``page_limit`` (orders per list call, 500), ``stream_url`` (the trade-updates WebSocket; default from ``base_url``),
    ``stream_backoff_s`` (first reconnect delay, 0.5). ``base_url`` defaults by environment, ``data_url`` to
    ``https://data.alpaca.markets``. ``now`` (int UTC ns) and ``sleep`` are injected."""

    def __init__(self, config: BrokerConfig, *, now=time.time_ns, sleep=time.sleep):
        options = config.options or {}
        environment = options.get("environment", "paper")
        if environment not in BASE_URLS:
            raise ValueError(f"Alpaca environment must be one of {', '.join(BASE_URLS)}, got {environment!r}")
        if not options.get("key_id") or not options.get("secret_key"):
            raise ValueError("Alpaca needs options key_id and secret_key (the APCA-API-KEY-ID and APCA-API-SECRET-KEY)")
        self.name = config.name or "alpaca"
        self.environment = environment
        self.account_id = config.account_id or environment
        self.base_url = (config.base_url or BASE_URLS[environment]).rstrip("/")
        self.data_url = (config.data_url or DATA_URL).rstrip("/")
        self.feed = str(options.get("feed", "iex"))
        self.page_limit = int(options.get("page_limit", PAGE_LIMIT))
        self.now = now
        self.http = AlpacaHttp(options["key_id"], options["secret_key"], config.timeout_s, now=now, sleep=sleep,
                               max_retries=int(options.get("max_retries", 3)))
        self.stream = TradeUpdates(options.get("stream_url") or stream_url(self.base_url), options["key_id"],
                                   options["secret_key"], backoff_s=float(options.get("stream_backoff_s", 0.5)),
                                   timeout_s=config.timeout_s)
        self.order_events = None  # the stream's order ids once it runs: the desk reads those orders at once

    def start_stream(self) -> TradeUpdates:
        """Start the trade-updates thread (:attr:`stream`); its order ids become :attr:`order_events`,
        which :meth:`~.desk.LiveDesk.poll_events` drains."""
        self.order_events = self.stream.events
        return self.stream.start()

    def close(self) -> None:
        """Stop the stream (joining its thread) and close the HTTP session."""
        self.stream.stop()
        self.http.close()

    def _get(self, url: str, what: str, params=None):
        reply = self.http.read("GET", url, params=params, what=what)
        if reply.kind != OK:
            raise BrokerError(f"Alpaca {what}: HTTP {reply.status} {reply.text}")
        return reply.body

    # -- orders -----------------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> PlaceOutcome:
        """POST the order once (again only after a 429, which Alpaca's limiter answers before the
        order system); an ambiguous outcome or a 422 duplicate is looked up by ``client_order_id``."""
        body, url = order_body(intent), self.base_url + "/v2/orders"
        try:
            reply, attempt = past_rate_limits(lambda: self.http.send("POST", url, body=body), self.http.sleep,
                                              self.http.max_retries)
        except requests.RequestException as exc:  # connection, timeout, dropped answer
            if never_sent(exc):
                raise BrokerUnavailable(f"Alpaca order POST was not sent: {brief(exc)}") from None
            return self.resolve(intent.tag, f"no answer to the order POST: {brief(exc)}")
        if reply.kind == RATE:
            return self.resolve(intent.tag, f"the order POST was rate limited (429) {attempt + 1} times")
        if reply.kind == OK and isinstance(reply.body, dict) and reply.body.get("id"):
            return Ack(str(reply.body["id"]))
        if reply.status == 401:
            raise BrokerAuthError(f"Alpaca order POST: HTTP 401 {reply.text} (check the API key id and secret)")
        if reply.status == 422 and "client_order_id" in reply.text.lower():
            return self.resolve(intent.tag, f"duplicate client_order_id: {reply.text}")
        if 400 <= reply.status < 500:
            return Rejected(reply.text)
        return self.resolve(intent.tag, f"order POST answered HTTP {reply.status}: {reply.text or 'no text'}")

    def resolve(self, tag: str, reason: str) -> PlaceOutcome:
        """After an ambiguous outcome: :class:`~.port.Ack` when the order carrying ``tag`` exists,
        else :class:`~.port.Unresolved` (not found yet, or the lookup failed)."""
        try:
            found = self.by_client_order_id(tag)
        except BrokerError as exc:
            return Unresolved(f"{reason}; the lookup by client_order_id failed: {exc}")
        if found is None:
            return Unresolved(f"{reason}; no order with this client_order_id (yet)")
        return Ack(found.id)

    def by_client_order_id(self, tag: str) -> BrokerOrder | None:
        """The order whose ``client_order_id`` is ``tag``, or ``None`` (Alpaca answers 404)."""
        reply = self.http.read("GET", self.base_url + "/v2/orders:by_client_order_id",
                               params={"client_order_id": tag}, what="order lookup by client_order_id")
        if reply.status == 404:
            return None
        if reply.kind != OK or not isinstance(reply.body, dict):
            raise BrokerError(f"Alpaca order lookup by client_order_id: HTTP {reply.status} {reply.text}")
        return parse_order(reply.body)

    def cancel(self, order_id: str) -> None:
        """Ask to cancel; an order no longer cancelable (422: filled, canceled) is no error."""
        what = f"cancel of order {order_id}"
        reply = self.http.read("DELETE", f"{self.base_url}/v2/orders/{order_id}", what=what)
        if reply.kind == OK or reply.status == 422:
            return None
        raise BrokerError(f"Alpaca {what}: HTTP {reply.status} {reply.text}")

    def get_order(self, order_id: str) -> BrokerOrder:
        """One order by Alpaca id."""
        body = self._get(f"{self.base_url}/v2/orders/{order_id}", f"order {order_id}")
        if not isinstance(body, dict) or not body.get("id"):
            raise BrokerUnavailable(f"Alpaca order {order_id}: an answer without an id: {brief(str(body))}")
        return parse_order(body)

    def list_orders(self) -> list[BrokerOrder]:
        """Every order since the start of today's US Eastern day, any status, oldest first, every
        page (the next page starts after the last one's ``created_at``, or a microsecond before it
        when several orders share it: they are read again and kept once; a whole page of one
        microsecond ends the listing). An answer that cannot be read raises; it is never taken
        for "no orders"."""
        orders: dict[str, BrokerOrder] = {}
        after = eastern_midnight_ns(self.now()) - 1000
        for _ in range(MAX_PAGES):
            params = {"status": "all", "direction": "asc", "limit": str(self.page_limit), "nested": "false",
                      "after": iso_utc(after)}
            body = self._get(self.base_url + "/v2/orders", "list of orders", params)
            if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
                raise BrokerUnavailable(f"Alpaca list of orders is not a list of orders: {brief(str(body))}")
            found = [parse_order(row) for row in body]
            fresh = [order for order in found if order.id not in orders]
            orders.update((order.id, order) for order in fresh)
            if len(found) < self.page_limit or not fresh:
                return list(orders.values())
            last = max(order.created_ns for order in found)
            tied = sum(order.created_ns == last for order in found) > 1
            after = last - 1000 if tied else last  # ties at the page's end are read again, kept once
        raise BrokerUnavailable(f"Alpaca list of orders: more than {MAX_PAGES} pages of {self.page_limit}")

    # -- account ----------------------------------------------------------------------------
    def positions(self) -> list[BrokerPosition]:
        """Signed positions (``side`` short is negative); ``cost_basis`` is the total cost, signed alike."""
        body = self._get(self.base_url + "/v2/positions", "positions")
        if not isinstance(body, list):
            raise BrokerUnavailable(f"Alpaca positions is not a list: {brief(str(body))}")
        out = []
        for row in body:
            sign = -1.0 if str(row.get("side", "long")).lower() == "short" else 1.0
            out.append(BrokerPosition(normalize_symbol(str(row.get("symbol"))), sign * abs(number(row.get("qty"))),
                                      sign * abs(number(row.get("cost_basis")))))
        return out

    def balances(self) -> Balances:
        """``equity`` and ``cash``; ``margin`` when ``multiplier`` > 1; long plus short market value."""
        body = self._get(self.base_url + "/v2/account", "account")
        if not isinstance(body, dict) or body.get("equity") in (None, ""):
            raise BrokerUnavailable(f"Alpaca account without equity: {brief(str(body))}")
        return Balances(equity=number(body.get("equity")), cash=number(body.get("cash")),
                        account_type="margin" if number(body.get("multiplier"), 1.0) > 1 else "cash",
                        market_value=number(body.get("long_market_value")) + number(body.get("short_market_value")))

    # -- market -----------------------------------------------------------------------------
    def clock(self) -> BrokerClock:
        """``open`` or ``closed`` (Alpaca's clock does not name the extended sessions) and its time."""
        body = self._get(self.base_url + "/v2/clock", "clock")
        server_ns = iso_ns(body.get("timestamp")) if isinstance(body, dict) else 0
        if not server_ns:
            raise BrokerUnavailable(f"Alpaca clock without a timestamp: {brief(str(body))}")
        return BrokerClock(state="open" if body.get("is_open") else "closed", server_ns=server_ns)

    def calendar(self, year: int, month: int) -> list[SessionDay]:
        """The days of one month (closed days included, with no windows)."""
        last = date(year, month, _calendar.monthrange(year, month)[1])
        body = self._get(self.base_url + "/v2/calendar", f"calendar {year}-{month:02d}",
                         {"start": date(year, month, 1).isoformat(), "end": last.isoformat()})
        if not isinstance(body, list):
            raise BrokerUnavailable(f"Alpaca calendar is not a list: {brief(str(body))}")
        return month_days(year, month, body)

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """The latest trade and quote of each symbol from the snapshots (unknown symbols left out)."""
        names = [normalize_symbol(symbol) for symbol in symbols]
        if not names:
            return []
        body = self._get(self.data_url + "/v2/stocks/snapshots", "snapshots",
                         {"symbols": ",".join(names), "feed": self.feed})
        out = []
        for name in names:
            snap = body.get(name) if isinstance(body, dict) else None
            if not isinstance(snap, dict):
                continue
            trade, quote = snap.get("latestTrade") or {}, snap.get("latestQuote") or {}
            out.append(Quote(name, last=number(trade.get("p")), bid=number(quote.get("bp")), ask=number(quote.get("ap")),
                             time_ns=iso_ns(trade.get("t"))))
        return out

    def bars(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """Bars starting in ``[start_ns, end_ns)`` (raw prices, every page), sorted by start."""
        if period_s not in TIMEFRAMES:
            raise ValueError(f"Alpaca bars come in periods of {', '.join(map(str, TIMEFRAMES))} seconds, got {period_s!r}")
        name = normalize_symbol(symbol)
        params = {"timeframe": TIMEFRAMES[period_s], "start": iso_utc(start_ns), "end": iso_utc(end_ns - 1000),
                  "limit": "10000", "adjustment": "raw", "feed": self.feed}
        out: dict[int, Bar] = {}
        for _ in range(MAX_PAGES):
            body = self._get(f"{self.data_url}/v2/stocks/{name}/bars", f"bars of {name}", params)
            for row in (body.get("bars") or []) if isinstance(body, dict) else []:
                bar_ns = iso_ns(row.get("t"))
                if start_ns <= bar_ns < end_ns and (period_s >= 86400 or bar_ns % (period_s * NS) == 0):
                    out[bar_ns] = Bar(name, period_s, bar_ns, number(row.get("o")), number(row.get("h")),
                                      number(row.get("l")), number(row.get("c")), number(row.get("v")))
            token = body.get("next_page_token") if isinstance(body, dict) else None
            if not token:
                break
            params = {**params, "page_token": token}
        return [out[key] for key in sorted(out)]
