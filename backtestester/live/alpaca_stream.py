"""Alpaca's trade-updates stream as an accelerator over polling (``shared/research/live-venues.md`` §4).

:class:`TradeUpdates` owns one thread that connects to ``wss://…/stream``, authenticates with the
key pair, listens to ``trade_updates`` and records each event (``new``, ``fill``,
``partial_fill``, ``canceled``, ``rejected`` ...: the order id, the event, the order's
``client_order_id``) in a thread-safe buffer, then sets :attr:`TradeUpdates.activity` so a poller
waiting on it runs now instead of at its next period. Nothing is applied from an event: the desk's
poll (``list_orders``, cumulative ``filled_qty``) is the truth, so an event lost while the stream
is down loses nothing; it only delays the poll to its period.

A stream that closes (with or without a frame), fails to connect or sends something unreadable is
reconnected after a back-off: ``backoff_s`` doubling to ``max_backoff_s``, back to ``backoff_s``
once a connection is listening again. Paper sends binary frames, live text frames: both are read.
Keys are sent in the first frame only and never logged. :meth:`TradeUpdates.stop` closes the
connection and joins the thread.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

#: Most events kept between two drains (the oldest go first: they only ever meant "poll now").
MAX_BUFFERED = 10_000


@dataclass(frozen=True)
class TradeEvent:
    """One ``trade_updates`` event: ``event`` (``fill`` ...), the Alpaca ``order_id`` and its ``client_order_id``."""

    event: str
    order_id: str
    client_order_id: str


def stream_url(base_url: str) -> str:
    """The trade-updates URL of a trading host: ``https://h`` -> ``wss://h/stream`` (``http`` -> ``ws``)."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/stream"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/stream"
    return base + "/stream"


def decode(data) -> dict | None:
    """A frame (text or binary JSON) as a dict; ``None`` when it is not one."""
    try:
        message = json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


class StreamRefused(Exception):
    """The server refused the keys or the listen request (kept apart from a dropped connection)."""


class TradeUpdates:
    """The trade-updates stream in its own thread (see the module docstring).

    ``on_event`` (settable: a no-argument callable) is called from the stream's thread after each
    event is buffered: a shell rings its poll loop with it. Counters for health and tests: ``connects`` (connections that reached ``listening``),
    ``drops`` (connections lost or refused), ``events`` (events received); ``last_error``."""

    def __init__(self, url: str, key_id: str, secret_key: str, *, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, timeout_s: float = 10.0):
        self.url, self._key_id, self._secret = url, key_id, secret_key
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self.activity = threading.Event()
        self.on_event = None
        self.listening = threading.Event()
        self.connects = self.drops = self.events = 0
        self.last_error = ""
        self._buffer: deque[TradeEvent] = deque(maxlen=MAX_BUFFERED)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- the caller's side -------------------------------------------------------------------
    def start(self) -> TradeUpdates:
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(ready,), name="alpaca-trade-updates", daemon=True)
            self._thread.start()
            ready.wait(self.timeout_s)
        return self

    def stop(self) -> None:
        """Close the connection and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self.timeout_s + 5)
        if not self._thread.is_alive():
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the stream's thread is alive (false again once :meth:`stop` has joined it)."""
        return self._thread is not None and self._thread.is_alive()

    def drain(self) -> list[TradeEvent]:
        """The events received since the last drain (and clears :attr:`activity`)."""
        with self._lock:
            out = list(self._buffer)
            self._buffer.clear()
            self.activity.clear()
        return out

    def wait_for(self, predicate, timeout_s: float) -> bool:
        """Block until ``predicate(self)`` holds (checked on every change) or ``timeout_s`` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout_s)

    # -- the thread ----------------------------------------------------------------------------
    def _note(self, **changes) -> None:
        with self._changed:
            for key, value in changes.items():
                setattr(self, key, value)
            self._changed.notify_all()

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main(ready))
        finally:
            self._loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        ready.set()
        delay = self.backoff_s
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping.is_set():
                try:
                    await self._session(session)
                    reason = "closed by the server"
                except StreamRefused as exc:
                    reason = str(exc)
                    delay = self.max_backoff_s  # refused keys do not get better by hammering
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self._stopping.is_set():
                    break
                if self.listening.is_set():
                    delay = self.backoff_s  # it was listening: the next drop starts the back-off again
                self.listening.clear()
                self._note(drops=self.drops + 1, last_error=reason)
                log.info("Alpaca trade updates lost (%s); reconnecting in %.3g s", reason, delay)
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, self.max_backoff_s)

    async def _session(self, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(self.url, heartbeat=None) as ws:
            await ws.send_str(json.dumps({"action": "authenticate",
                                          "data": {"key_id": self._key_id, "secret_key": self._secret}}))
            await self._expect(ws, "authorization", lambda data: data.get("status") == "authorized")
            await ws.send_str(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            await self._expect(ws, "listening", lambda data: "trade_updates" in (data.get("streams") or []))
            self.listening.set()
            self._note(connects=self.connects + 1)
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                while True:
                    receive = asyncio.ensure_future(ws.receive())
                    await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop.done():
                        receive.cancel()
                        return
                    frame = receive.result()
                    if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        return  # closed, closing or an error: the caller reconnects
                    self._event(decode(frame.data))
            finally:
                stop.cancel()

    async def _expect(self, ws, stream: str, accepted) -> None:
        frame = await asyncio.wait_for(ws.receive(), self.timeout_s)
        if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise aiohttp.ClientError(f"closed before {stream}")
        message = decode(frame.data) or {}
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        if message.get("stream") != stream or not accepted(data):
            raise StreamRefused(f"Alpaca refused the stream at {stream}: {str(message)[:200]}")

    def _event(self, message: dict | None) -> None:
        if not message or message.get("stream") != "trade_updates" or not isinstance(message.get("data"), dict):
            return
        data = message["data"]
        order = data.get("order") if isinstance(data.get("order"), dict) else {}
        event = TradeEvent(str(data.get("event", "")), str(order.get("id", "")), str(order.get("client_order_id", "")))
        with self._changed:
            self._buffer.append(event)
            self.events += 1
            self.activity.set()
            self._changed.notify_all()
        if self.on_event is not None:
            self.on_event()
