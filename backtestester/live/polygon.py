"""Polygon/Massive market data for live bars: REST aggregates and the daily open/close.

Massive (formerly Polygon.io; both hosts answer) serves the bars a live playground trades on
(``shared/research/live-venues.md`` §3):

* :class:`PolygonRest` reads ``GET /v2/aggs/ticker/{sym}/range/{mult}/{timespan}/{from}/{to}``
  (``adjusted``, ``sort=asc``, ``limit=50000``; ``next_url`` pages followed, on the configured host
  only, so the key is never sent elsewhere) and ``GET /v1/open-close/{sym}/{date}`` (the daily
  summary GetDailyTickerSummaryFromPolygon answers). Its :meth:`PolygonRest.bars` is what
  :class:`~.barsources.BrokerBarSource` polls, so the REST bar source is that class over it
  (:func:`rest_source`): completed bars since the newest one seen, history backfill, a failure is
  asked again next poll, never taken for "no bars".
* The HTTP rules are :class:`~.tradier_http.TradierHttp`'s read path (one keep-alive session,
  ``Authorization: Bearer <key>``, 429 waited out with a bounded back-off and retried, 5xx /
  HTML / dropped connections :class:`~.port.BrokerUnavailable`, 401/403
  :class:`~.port.BrokerAuthError`).
* No bar is produced for a window without trades: a gap is a missing bar, never a zero bar.
* The per-minute WebSocket (``AM``) is :mod:`.polygon_stream`.

Times: ``t`` is the Unix **ms** start of the window (ET windows, extended hours included).
Keys come from an environment variable or a file named in the configuration, never from the file
itself and never logged. Pure: standard library and ``requests``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Iterable
from urllib.parse import urlsplit

from ..symbols import normalize_symbol
from ..texts import shown
from .barsources import BrokerBarSource
from .keys import read_key
from .port import Bar, BrokerUnavailable
from .tradier_http import MARKET, OK, TradierHttp, brief

#: The REST host (``https://api.polygon.io`` answers too).
BASE_URL = "https://api.massive.com"
#: The real-time and the 15-minute-delayed stock WebSocket hosts.
STREAM_URL = "wss://socket.massive.com/stocks"
DELAYED_STREAM_URL = "wss://delayed.massive.com/stocks"
#: Bar periods served (seconds): minute multiples up to a day's worth of minutes, whole hours.
PERIODS = (60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 14400)
#: Most pages of one aggregates request followed through ``next_url``.
MAX_PAGES = 100
NS, MS = 1_000_000_000, 1_000_000
CONFIG_KEYS = ("api_key_env", "api_key_file", "base_url", "stream_url", "timeout_s", "adjusted", "stream",
               "max_retries", "rest_poll_s", "backoff_s", "max_backoff_s")


@dataclass(frozen=True)
class PolygonConfig:
    """Where and how to reach Polygon/Massive. ``api_key``: the key itself (read by
    :func:`read_api_key`, never from a config file's text); ``adjusted``: split-adjusted bars
    (Massive's default); ``stream``: use the ``AM`` WebSocket as well as REST; ``rest_poll_s``:
    how often the stream source polls REST anyway (0: only after a reconnect); ``backoff_s`` and
    ``max_backoff_s``: the stream's reconnect back-off (doubling from the first to the second)."""

    api_key: str
    base_url: str = BASE_URL
    stream_url: str = STREAM_URL
    timeout_s: float = 10.0
    adjusted: bool = True
    stream: bool = False
    max_retries: int = 3
    rest_poll_s: float = 60.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def __repr__(self) -> str:  # the key is never shown
        return f"PolygonConfig(base_url={self.base_url!r}, stream_url={self.stream_url!r}, stream={self.stream})"


def read_api_key(table: dict, where: str) -> str:
    """The API key named by a config table: the file ``api_key_file`` (its first line) or the
    environment variable ``api_key_env`` (default ``POLYGON_API_KEY``), by :func:`~.keys.read_key`."""
    return read_key(table, "api_key", "POLYGON_API_KEY", where, "the Polygon/Massive API key")


def config_from_table(table: dict, where: str) -> PolygonConfig:
    """A :class:`PolygonConfig` from a TOML table (keys :data:`CONFIG_KEYS`); ``ValueError`` for
    an unknown key or a bad value, naming what is accepted."""
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)}; accepted: {', '.join(CONFIG_KEYS)}")
    numbers = {}
    for name in ("timeout_s", "rest_poll_s", "backoff_s", "max_backoff_s"):
        if name in table:
            value = table[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{where}: {name} must be a number of seconds >= 0, got {shown(value)}")
            numbers[name] = float(value)
    for name in ("adjusted", "stream"):
        if name in table and not isinstance(table[name], bool):
            raise ValueError(f"{where}: {name} must be true or false, got {shown(table[name])}")
    return PolygonConfig(api_key=read_api_key(table, where), base_url=str(table.get("base_url", BASE_URL)).rstrip("/"),
                         stream_url=str(table.get("stream_url", STREAM_URL)), adjusted=table.get("adjusted", True),
                         stream=table.get("stream", False), max_retries=int(table.get("max_retries", 3)), **numbers)


def span_of(period_s: int) -> tuple[int, str]:
    """``(multiplier, timespan)`` of a bar period: whole hours as ``hour``, else ``minute``;
    ``ValueError`` for a period not in :data:`PERIODS`."""
    if period_s not in PERIODS:
        raise ValueError(f"Polygon bars come in periods of {', '.join(map(str, PERIODS))} seconds, "
                         f"got {shown(period_s)}")
    return (period_s // 3600, "hour") if period_s % 3600 == 0 else (period_s // 60, "minute")


def bar_of(symbol: str, period_s: int, row: dict) -> Bar:
    """One ``results`` row (``t`` ms start, ``o h l c v``) as a :class:`Bar`; ``BrokerUnavailable``
    when a field is missing or not a number (an answer of another shape is never guessed at)."""
    try:
        start = int(row["t"]) * MS
        o, h, l, c, v = (float(row[k]) for k in ("o", "h", "l", "c", "v"))
    except (KeyError, TypeError, ValueError):
        raise BrokerUnavailable(f"Polygon aggregate row of {symbol} is malformed: {brief(row)}") from None
    return Bar(symbol, period_s, start, o, h, l, c, v)


class PolygonRest:
    """Polygon/Massive's REST market data (see the module docstring). ``now`` (int UTC ns) and
    ``sleep`` are injected (the 429 back-off)."""

    def __init__(self, config: PolygonConfig, *, now=time.time_ns, sleep=time.sleep):
        self.config = config
        self.http = TradierHttp(config.timeout_s, now=now, sleep=sleep, max_retries=config.max_retries,
                                venue="Polygon", auth_hint="check the API key and that the plan covers this data")
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def _get(self, url: str, params: dict | None, what: str):
        self.requests += 1
        return self.http.read("GET", url, self.config.api_key, MARKET, params=params, what=what)

    def _same_host(self, url: str) -> bool:
        mine, theirs = urlsplit(self.config.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def bars(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """The aggregates of ``symbol`` at ``period_s`` starting in ``[start_ns, end_ns)``, oldest
        first, every ``next_url`` page followed. Raises :class:`~.port.BrokerUnavailable` (the
        vendor cannot be reached or answered oddly, or a refusal such as 400) and
        :class:`~.port.BrokerAuthError` (401/403: the key or the plan)."""
        symbol = normalize_symbol(symbol)
        multiplier, timespan = span_of(int(period_s))
        if end_ns <= start_ns:
            return []
        url = (f"{self.config.base_url}/v2/aggs/ticker/{symbol}/range/{multiplier}/{timespan}/"
               f"{int(start_ns) // MS}/{(int(end_ns) - 1) // MS}")
        params = {"adjusted": "true" if self.config.adjusted else "false", "sort": "asc", "limit": 50000}
        out: list[Bar] = []
        for _ in range(MAX_PAGES):
            reply = self._get(url, params, f"aggregates of {symbol}")
            if reply.kind != OK or str(reply.body.get("status", "OK")).upper() == "ERROR":
                raise BrokerUnavailable(f"Polygon aggregates of {symbol}: HTTP {reply.status} "
                                        f"{reply.text or brief(reply.body.get('error', ''))}")
            rows = reply.body.get("results") or []
            if not isinstance(rows, list):
                raise BrokerUnavailable(f"Polygon aggregates of {symbol}: results is not a list")
            out.extend(bar_of(symbol, int(period_s), row) for row in rows)
            url, params = reply.body.get("next_url"), None  # next_url carries the cursor and the query
            if not url:
                return [b for b in out if start_ns <= b.start_ns < end_ns]
            if not self._same_host(url):
                raise BrokerUnavailable(f"Polygon aggregates of {symbol}: next_url points to another host "
                                        f"({urlsplit(url).netloc}); not followed (the key would go there)")
        raise BrokerUnavailable(f"Polygon aggregates of {symbol}: more than {MAX_PAGES} pages")

    def daily_summary(self, symbol: str, day: date) -> dict | None:
        """``GET /v1/open-close/{symbol}/{day}``: ``{"open", "high", "low", "close", "volume",
        "after_hours_close", "premarket_open"}`` (0 for a missing extended-hours value), or
        ``None`` when Polygon has no such day (404: a holiday, a weekend, an unknown ticker)."""
        symbol = normalize_symbol(symbol)
        url = f"{self.config.base_url}/v1/open-close/{symbol}/{day.isoformat()}"
        reply = self._get(url, {"adjusted": "true" if self.config.adjusted else "false"},
                          f"open/close of {symbol} on {day}")
        if reply.status == 404:
            return None
        if reply.kind != OK:
            raise BrokerUnavailable(f"Polygon open/close of {symbol} on {day}: HTTP {reply.status} {reply.text}")
        body = reply.body
        try:
            out = {k: float(body[k]) for k in ("open", "high", "low", "close")}
            out["volume"] = int(float(body["volume"]))
        except (KeyError, TypeError, ValueError):
            raise BrokerUnavailable(f"Polygon open/close of {symbol} on {day} is malformed: {brief(body)}") from None
        out["after_hours_close"] = float(body.get("afterHours") or 0.0)
        out["premarket_open"] = float(body.get("preMarket") or 0.0)
        return out


def rest_source(rest: PolygonRest, symbols: Iterable[str], period_s: int, *,
                lookback_s: float | None = None) -> BrokerBarSource:
    """The REST bar source: :class:`~.barsources.BrokerBarSource` polling :meth:`PolygonRest.bars`."""
    return BrokerBarSource(rest, symbols, period_s, lookback_s=lookback_s, periods=PERIODS)
