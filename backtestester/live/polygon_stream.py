"""Polygon/Massive's per-minute aggregates WebSocket (``AM``) as a live bar source, REST backfilled.

:class:`PolygonStreamSource` owns one thread that connects to the stocks WebSocket
(``shared/research/live-venues.md`` §3.2), authenticates (``{"action":"auth","params":KEY}``,
then ``auth_success``), subscribes ``AM.SYM,...`` and puts every ``AM`` event of its symbols in a
thread-safe buffer keyed by (symbol, start): a minute bar sent again when late trades change it
replaces the buffered version (last version wins). :meth:`~PolygonStreamSource.fetch` (the
desk's poll, on the caller's thread) drains the buffer; :class:`~.bars.LiveBars` stores, settles
and delivers the bars:

* **late corrections**: a re-sent bar that arrives before its settle delay has passed
  (``end + settle``) is the version delivered; one that arrives after delivery updates the store
  (GetCandles shows it, ``LiveBars.corrections`` counts it) and is *not* delivered again: a
  strategy sees each minute once, and ``LiveBars.delivered_version`` keeps what it saw. Massive
  re-sends within 15 minutes; later trades only reach the end-of-day data;
* **gaps**: Massive sends no bar for a minute without trades, and neither does REST: the strategy
  gets no candle for that minute (its next candle starts later than the last one's end), never a
  zero-volume filler;
* **polling stays the truth**: the stream is an accelerator. The first fetch, every fetch while
  the stream is not connected, the first fetch after each (re)connect and, while connected, every
  ``rest_poll_s`` seconds, REST aggregates are asked
  (:func:`~.polygon.rest_source`, from the newest bar seen before the outage; while connected,
  from ``RESEND_WINDOW_S`` before the newest streamed bar), so a bar sent while the stream was
  down, or lost without a drop, still arrives; a backfill that failed is asked again next fetch;
* **reconnects**: a closed or failed connection (a close without a frame included) is opened
  again after a back-off doubling from ``backoff_s`` to ``max_backoff_s``, reset once a
  connection authenticates; ``auth_failed`` stops the thread and the next fetch raises
  :class:`~.port.BrokerAuthError`.

:meth:`~PolygonStreamSource.close` stops the thread and joins it. The key is never logged.
Pure: standard library and the ``websockets`` client (its synchronous API).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterable

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from .polygon import MS, NS, PolygonConfig, PolygonRest, rest_source
from .port import Bar, BrokerAuthError
from .tradier_http import brief

log = logging.getLogger(__name__)

#: How long after a minute Massive may still re-send it: the REST poll while connected re-reads this much.
RESEND_WINDOW_S = 900
#: The ``AM`` channel sends one-minute bars.
STREAM_PERIOD_S = 60


def am_bar(event, symbols) -> Bar | None:
    """The :class:`Bar` of one ``AM`` event of one of ``symbols`` (``s``: the window start in
    Unix **ms**), ``None`` for another event or symbol; ``ValueError`` when a field is missing."""
    if not isinstance(event, dict) or event.get("ev") != "AM" or event.get("sym") not in symbols:
        return None
    try:
        return Bar(event["sym"], STREAM_PERIOD_S, int(event["s"]) * MS,
                   *(float(event[k]) for k in ("o", "h", "l", "c", "v")))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"malformed AM event: {brief(event)}") from None


class PolygonStreamSource:
    """One-minute bars of ``symbols`` from the ``AM`` stream at ``url``, REST (``rest``) filling
    every gap (see the module docstring). ``connect`` is the WebSocket opener (default:
    ``websockets.sync.client.connect``). Counters for health and tests: ``connections``
    (authenticated sessions), ``drops``, ``received`` (AM bars), ``backoffs`` (each wait, seconds),
    ``last_error``, ``auth_error`` (set when the stream refused the key)."""

    final = False

    def __init__(self, rest: PolygonRest, symbols: Iterable[str], period_s: int = STREAM_PERIOD_S, *, url: str,
                 api_key: str, rest_poll_s: float = 60.0, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 lookback_s: float | None = None, open_timeout_s: float = 10.0, connect: Callable = connect):
        if period_s != STREAM_PERIOD_S:
            raise ValueError(f"the AM stream sends one-minute bars (period 60 s), got {period_s}; for other "
                             f"periods poll REST (stream = false)")
        self.rest = rest
        self.rest_source = rest_source(rest, symbols, STREAM_PERIOD_S, lookback_s=lookback_s)
        self.symbols = self.rest_source.symbols
        self.url, self._key = url, api_key
        self.rest_poll_ns = int(rest_poll_s * NS)
        self.backoff_s, self.max_backoff_s, self.open_timeout_s = backoff_s, max_backoff_s, open_timeout_s
        self._connect = connect
        self._cond = threading.Condition()
        self._buffer: dict[tuple[str, int], Bar] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws = None
        self._gap = True  # REST catches up at the first fetch and after every (re)connect
        self._connected = False  # while not connected every fetch asks REST
        self._next_rest_ns = 0
        self.auth_error: BrokerAuthError | None = None
        self.connections = self.drops = self.received = 0
        self.backoffs: list[float] = []
        self.last_error = ""
        self._session_authenticated = False

    # --- the caller's side -------------------------------------------------------------------
    def start(self) -> None:
        """Start the receiving thread (idempotent; :meth:`fetch` starts it too)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="polygon-am", daemon=True)
            self._thread.start()

    def resume(self, newest: dict[tuple[str, int], int]) -> None:
        """The newest stored bar per ``(symbol, period_s)``: REST catches up from there."""
        self.rest_source.resume(newest)

    def fetch(self, now_ns: int) -> list[Bar]:
        """The streamed bars received since the last fetch (latest version of each), and the REST
        bars of a backfill or a periodic poll when one is due (see the module docstring).
        Raises :class:`~.port.BrokerAuthError` once the stream was refused its key."""
        self.start()
        with self._cond:
            if self.auth_error is not None:
                raise self.auth_error
            streamed, self._buffer = list(self._buffer.values()), {}
            gap, self._gap = self._gap or not self._connected, False
        if not gap and streamed:  # contiguous since the last fetch: REST need only re-read the resend window
            newest: dict[tuple[str, int], int] = {}
            for bar in streamed:
                newest[(bar.symbol, bar.period_s)] = max(newest.get((bar.symbol, bar.period_s), 0), bar.start_ns)
            self.rest_source.resume({k: v - RESEND_WINDOW_S * NS for k, v in newest.items()})
        if not gap and not (self.rest_poll_ns and now_ns >= self._next_rest_ns):
            return streamed
        failures = self.rest_source.failures
        polled = self.rest_source.fetch(int(now_ns))
        if self.rest_source.failures != failures:
            with self._cond:
                self._gap = self._gap or gap  # a failed backfill is asked again next fetch
        else:
            self._next_rest_ns = int(now_ns) + self.rest_poll_ns
        return streamed + polled  # REST was read after the buffer was drained: a bar in both keeps REST's version

    def history(self, symbol: str, period_s: int, start_ns: int, end_ns: int) -> list[Bar]:
        """Older bars, from REST."""
        return self.rest_source.history(symbol, period_s, start_ns, end_ns)

    def wait(self, predicate: Callable[["PolygonStreamSource"], bool], timeout_s: float) -> bool:
        """Block until ``predicate(self)`` holds (checked at every change of the counters or the
        buffer) or ``timeout_s`` passes; returns whether it holds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout=timeout_s)

    @property
    def running(self) -> bool:
        """Whether the receiving thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def pending(self) -> int:
        """How many bars the buffer holds (received, not yet fetched)."""
        with self._cond:
            return len(self._buffer)

    def close(self) -> None:
        """Stop the thread (closing the connection) and join it; close the REST session."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except (OSError, WebSocketException):
                pass
        if self._thread is not None:
            self._thread.join(timeout=self.open_timeout_s + 5)
        self.rest.close()

    # --- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.backoff_s
        while not self._stop.is_set():
            self._session_authenticated = False
            try:
                self._session()
            except BrokerAuthError as exc:
                log.error("Polygon stream refused the key; stream stopped: %s", exc)
                with self._cond:
                    self.auth_error = exc
                    self._cond.notify_all()
                return
            except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
                self.last_error = brief(f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                return
            if self._session_authenticated:  # it worked: the back-off starts again from the first step
                delay = self.backoff_s
            with self._cond:
                self.drops += 1
                self._gap = True
                self.backoffs.append(delay)
                self._cond.notify_all()
            log.info("Polygon stream closed (%s); reconnecting in %.3g s", self.last_error, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def _session(self) -> None:
        """One connection: auth, subscribe, receive until it closes."""
        self.last_error = "closed by the server"
        with self._connect(self.url, open_timeout=self.open_timeout_s, close_timeout=2) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            ws.send(json.dumps({"action": "auth", "params": self._key}))
            self._await_auth(ws)
            ws.send(json.dumps({"action": "subscribe", "params": ",".join(f"AM.{s}" for s in self.symbols)}))
            self._session_authenticated = True
            with self._cond:
                self.connections += 1
                self._connected = self._gap = True  # what was sent before this connection: REST has it
                self._cond.notify_all()
            try:
                for message in ws:
                    self._take(message)
            finally:
                with self._cond:
                    self._connected = False

    def _await_auth(self, ws) -> None:
        while True:
            for event in self._events(ws.recv(timeout=self.open_timeout_s)):
                status = event.get("status") if isinstance(event, dict) and event.get("ev") == "status" else None
                if status == "auth_success":
                    return
                if status in ("auth_failed", "auth_timeout"):
                    raise BrokerAuthError(f"Polygon stream: {status}: {brief(event.get('message', ''))} (check the key "
                                          f"and that the plan includes WebSockets)")

    @staticmethod
    def _events(message) -> list:
        try:
            events = json.loads(message)
        except ValueError:
            log.warning("Polygon stream sent a message that is not JSON: %s", brief(message))
            return []
        return events if isinstance(events, list) else [events]

    def _take(self, message) -> None:
        bars = []
        for event in self._events(message):
            try:
                bar = am_bar(event, self.symbols)
            except ValueError as exc:
                log.warning("Polygon stream: %s", exc)
                continue
            if bar is not None:
                bars.append(bar)
            elif isinstance(event, dict) and event.get("ev") == "status":
                log.info("Polygon stream status %s: %s", event.get("status"), brief(event.get("message", "")))
        if bars:
            with self._cond:
                for bar in bars:
                    self._buffer[(bar.symbol, bar.start_ns)] = bar
                self.received += len(bars)
                self._cond.notify_all()


def live_source(config: PolygonConfig, symbols: Iterable[str], period_s: int, *, now=time.time_ns):
    """The bar source a gateway configured for Polygon uses: the ``AM`` stream with REST
    backfill (:class:`PolygonStreamSource`) when ``config.stream`` (one-minute
    bars only: the stream sends minutes), else REST polling (:func:`~.polygon.rest_source`)."""
    rest = PolygonRest(config, now=now)
    if config.stream:
        return PolygonStreamSource(rest, symbols, period_s, url=config.stream_url, api_key=config.api_key,
                                   rest_poll_s=config.rest_poll_s, backoff_s=config.backoff_s,
                                   max_backoff_s=config.max_backoff_s)
    return rest_source(rest, symbols, period_s)
