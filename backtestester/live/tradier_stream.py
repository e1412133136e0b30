"""Tradier's streams (``shared/research/live-venues.md`` §2.11) as accelerators over polling.

* :class:`AccountStream`: the account-events WebSocket. ``POST /v1/accounts/events/session``
  gives ``{"stream": {"url", "sessionid"}}``; the client connects to the URL and sends
  ``{"events": ["order"], "sessionid", "excludeAccounts": []}``. Order events carry the order
  ``id`` (no symbol, no side) and its status; every id goes to :class:`~.streams.OrderEvents`,
  which the desk drains (:meth:`~.desk.LiveDesk.poll_events`: it reads those orders now).
  Heartbeats (``{"event": "heartbeat"}``, about once a minute) only prove the socket alive.
* :class:`MarketStream`: ``POST /v1/markets/events/session``, then the WebSocket with
  ``{"symbols", "sessionid", "filter", "linebreak": true, "validOnly": true}``; ``trade``,
  ``quote``, ``summary``, ``timesale`` (and ``tradex``) events are parsed defensively (dates are
  Unix ms as strings, prices may be strings) into :class:`MarketEvent` and buffered for
  :meth:`MarketStream.drain`.

Session ids expire (connect within 5 minutes) and may be single-use: every connection creates a
new session. A stream that closes (with or without a frame), answers ``{"error": ...}`` or stays
silent longer than ``silent_after_s`` is reconnected with back-off by :class:`~.streams.StreamLink`.
Polling stays the truth: nothing a stream misses is lost (the desk's next poll applies it).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from ..symbols import normalize_symbol
from .streams import OrderEvents, StreamClosed, StreamLink, websocket_connect
from .tradier import BASE_URLS, normal_status, number
from .tradier_http import MARKET, STANDARD, TradierHttp

log = logging.getLogger(__name__)

#: Market event kinds a market stream may ask for (Tradier's ``filter``).
MARKET_FILTERS = ("trade", "quote", "summary", "timesale", "tradex")
#: Stream options read from a ``[tradier]`` table / ``BrokerConfig.options`` (see :func:`stream_options`).
#: Tradier's WebSocket endpoints, used when a session answer names no ``ws(s)://`` URL (the market
#: session names the HTTP stream) and no ``stream_url`` is configured.
ACCOUNT_WS_URL = "wss://ws.tradier.com/v1/accounts/events"
MARKET_WS_URL = "wss://ws.tradier.com/v1/markets/events"
STREAM_OPTION_KEYS = ("streams", "stream_url", "silent_after_s", "backoff_s", "max_backoff_s", "recv_timeout_s")


@dataclass(frozen=True)
class OrderEvent:
    """One order event: Tradier's order ``id`` (the join key: events carry no symbol or side),
    its status in the port's vocabulary, cumulative ``exec_quantity`` and ``tag`` when sent."""

    order_id: str
    status: str
    exec_quantity: float
    tag: str | None = None


@dataclass(frozen=True)
class MarketEvent:
    """One market event: ``kind`` (trade, quote, summary, timesale, tradex), ``symbol``,
    ``price`` (trade/tradex/timesale: last; quote: mid; summary: prevClose), ``size``,
    ``time_ns`` (0 when the event has no date) and every field as sent in ``fields``."""

    kind: str
    symbol: str
    price: float
    size: float
    time_ns: int
    fields: dict = field(default_factory=dict, compare=False)


def decode(text: str) -> dict | None:
    """One frame as a JSON object, or ``None`` (blank lines, junk)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def parse_account_frame(frame: dict) -> OrderEvent | None:
    """An order event of the account stream, or ``None`` (heartbeats and other events).
    Raises :class:`~.streams.StreamClosed` for an ``{"error": ...}`` frame."""
    if "error" in frame:
        raise StreamClosed(f"Tradier account stream error: {str(frame['error'])[:300]}")
    if frame.get("event") != "order" or frame.get("id") in (None, "", "null"):
        return None
    executed = frame.get("exec_quantity", frame.get("executed_quantity"))
    tag = frame.get("tag")
    return OrderEvent(order_id=str(frame["id"]), status=normal_status(frame.get("status")),
                      exec_quantity=number(executed), tag=None if tag in (None, "", "null") else str(tag))


def ms_ns(value) -> int:
    """Unix ms (a number or a numeric string, as Tradier sends) as ns; 0 when absent or junk."""
    return int(number(value)) * 1_000_000


def parse_market_frame(frame: dict) -> MarketEvent | None:
    """A market event, or ``None`` (an unknown type, no symbol). Raises
    :class:`~.streams.StreamClosed` for an ``{"error": ...}`` frame (a rejected subscription)."""
    if "error" in frame:
        raise StreamClosed(f"Tradier market stream error: {str(frame['error'])[:300]}")
    kind, symbol = frame.get("type"), frame.get("symbol")
    if kind not in MARKET_FILTERS or not symbol:
        return None
    if kind == "quote":
        bid, ask = number(frame.get("bid")), number(frame.get("ask"))
        price, size = (bid + ask) / 2 if bid and ask else bid or ask, 0.0
        moment = max(ms_ns(frame.get("biddate")), ms_ns(frame.get("askdate")))
    elif kind == "summary":
        price, size, moment = number(frame.get("prevClose")), 0.0, 0
    else:
        price = number(frame.get("last", frame.get("price")))
        size, moment = number(frame.get("size")), ms_ns(frame.get("date"))
    return MarketEvent(kind, normalize_symbol(str(symbol)), price, size, moment, dict(frame))


def stream_options(table: dict, environment: str) -> dict:
    """The stream settings of a Tradier config table: ``streams`` (default on in production, off
    in the sandbox, whose accounts have no streams), ``stream_url`` (instead of the session's),
    ``silent_after_s`` (150: heartbeats come about once a minute), ``backoff_s`` (1),
    ``max_backoff_s`` (60), ``recv_timeout_s`` (0.5)."""
    unknown = sorted(set(table) - set(STREAM_OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown Tradier stream settings {unknown}: accepted: {', '.join(STREAM_OPTION_KEYS)}")
    enabled = table.get("streams", environment == "production")
    if not isinstance(enabled, bool):
        raise ValueError(f"Tradier 'streams' must be true or false, got {enabled!r}")
    out = {"streams": enabled, "stream_url": str(table.get("stream_url", ""))}
    for key, default in (("silent_after_s", 150.0), ("backoff_s", 1.0), ("max_backoff_s", 60.0),
                         ("recv_timeout_s", 0.5)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"Tradier {key} must be a number of seconds > 0, got {value!r}")
        out[key] = float(value)
    return out


class TradierSession:
    """Creates stream sessions (a POST each; safe to repeat: a new session each time) on its own
    HTTP session (the desk's thread keeps the broker's)."""

    def __init__(self, url: str, token: str, category: str, default_url: str, *, stream_url: str = "",
                 timeout_s: float = 10.0):
        self.url, self.token, self.category, self.stream_url = url, token, category, stream_url
        self.default_url = default_url
        self.http = TradierHttp(timeout_s, max_retries=1)
        self.ids: list[str] = []  # every session id created (a test checks each is used once)

    def __call__(self) -> tuple[str, str]:
        reply = self.http.read("POST", self.url, self.token, self.category, what="stream session")
        stream = reply.body.get("stream") if isinstance(reply.body, dict) else None
        if not isinstance(stream, dict) or not stream.get("sessionid"):
            raise StreamClosed(f"Tradier stream session without a sessionid: {str(reply.body)[:200]}")
        url = str(stream.get("url") or "")
        url = self.stream_url or (url if url.startswith(("ws://", "wss://")) else self.default_url)
        self.ids.append(str(stream["sessionid"]))
        return url, str(stream["sessionid"])

    def close(self) -> None:
        self.http.close()


def _link_kwargs(options: dict) -> dict:
    return {key: options[key] for key in ("silent_after_s", "backoff_s", "max_backoff_s", "recv_timeout_s")
            if key in options}


class AccountStream:
    """The account-events stream of ``broker`` (a :class:`~.tradier.TradierBroker`): order ids
    into ``self.events`` (also set as ``broker.order_events``, where the desk finds them).
    ``options``: :func:`stream_options`; ``now``/``sleep``/``connect`` are injected in tests."""

    def __init__(self, broker, options: dict | None = None, *, now=time.monotonic_ns, sleep=None,
                 connect=websocket_connect):
        options = dict(options or {})
        self.events = OrderEvents()
        self.last: dict[str, OrderEvent] = {}  # the newest event per order id (for health and tests)
        self.heartbeats = 0
        self.session = TradierSession(f"{broker.base_url}/accounts/events/session", broker.trading_token,
                                      STANDARD, ACCOUNT_WS_URL, stream_url=options.get("stream_url", ""),
                                      timeout_s=broker.http.timeout_s)
        self.link = StreamLink("tradier-account", self.session, self._subscribe, self._frame, connect=connect,
                               now=now, sleep=sleep, **_link_kwargs(options))
        broker.order_events = self.events

    @staticmethod
    def _subscribe(sessionid: str) -> str:
        return json.dumps({"events": ["order"], "sessionid": sessionid, "excludeAccounts": []})

    def _frame(self, text: str) -> None:
        for line in filter(None, (part.strip() for part in text.splitlines())):
            frame = decode(line)
            if frame is None:
                continue
            if frame.get("event") == "heartbeat":
                self.heartbeats += 1
            event = parse_account_frame(frame)
            if event is not None:
                self.last[event.order_id] = event
                self.events.put(event.order_id)

    def start(self) -> AccountStream:
        self.link.start()
        return self

    def stop(self) -> None:
        """Stop the thread (joined) and close the session's HTTP client."""
        self.link.stop()
        self.session.close()


class MarketStream:
    """The market-events stream of ``symbols``: parsed :class:`MarketEvent` s buffered until
    :meth:`drain`; ``filters`` from :data:`MARKET_FILTERS`. Uses the broker's data token."""

    def __init__(self, broker, symbols, filters=("trade", "timesale"), options: dict | None = None, *,
                 now=time.monotonic_ns, sleep=None, connect=websocket_connect):
        bad = [name for name in filters if name not in MARKET_FILTERS]
        if bad or not filters:
            raise ValueError(f"market stream filters must be some of {', '.join(MARKET_FILTERS)}, got {list(filters)}")
        self.symbols = [normalize_symbol(symbol) for symbol in symbols]
        if not self.symbols:
            raise ValueError("a market stream needs at least one symbol")
        self.filters = list(filters)
        options = dict(options or {})
        self._lock = threading.Lock()
        self._buffer: list[MarketEvent] = []
        #: called on the stream's thread with every batch of parsed events, after they are buffered
        #: (the Tradier bar feed's accelerator: :class:`~.tradier_bars.StreamedBarSource`)
        self.on_events = None
        self.session = TradierSession(f"{broker.data_url}/markets/events/session", broker.data_token, MARKET,
                                      MARKET_WS_URL, stream_url=options.get("stream_url", ""), timeout_s=broker.http.timeout_s)
        self.link = StreamLink("tradier-market", self.session, self._subscribe, self._frame, connect=connect,
                               now=now, sleep=sleep, **_link_kwargs(options))

    def _subscribe(self, sessionid: str) -> str:
        return json.dumps({"symbols": self.symbols, "sessionid": sessionid, "filter": self.filters,
                           "linebreak": True, "validOnly": True})

    def _frame(self, text: str) -> None:
        parsed = []
        for line in filter(None, (part.strip() for part in text.splitlines())):
            frame = decode(line)
            event = parse_market_frame(frame) if frame is not None else None
            if event is not None:
                parsed.append(event)
        if parsed:
            with self._lock:
                self._buffer.extend(parsed)
            if self.on_events is not None:
                self.on_events(parsed)

    def drain(self) -> list[MarketEvent]:
        """The events received since the previous drain, in arrival order."""
        with self._lock:
            out, self._buffer = self._buffer, []
            return out

    def start(self) -> MarketStream:
        self.link.start()
        return self

    def stop(self) -> None:
        self.link.stop()
        self.session.close()


def account_stream(broker, table: dict, environment: str) -> AccountStream | None:
    """The started account stream of ``broker`` when the config table enables streams, else ``None``
    (the gateway's hook: ``[tradier]`` ``streams = true``)."""
    options = stream_options({k: v for k, v in table.items() if k in STREAM_OPTION_KEYS}, environment)
    if not options["streams"]:
        return None
    if environment not in BASE_URLS:
        raise ValueError(f"Tradier environment must be one of {', '.join(BASE_URLS)}, got {environment!r}")
    return AccountStream(broker, options).start()
