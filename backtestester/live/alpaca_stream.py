"""Alpaca's trade-updates stream as an accelerator over polling (``shared/research/live-venues.md`` §4).

:class:`TradeUpdates` keeps ``wss://…/stream`` up with a :class:`~.streams.StreamLink` (its
thread, reconnects, back-off: ``docs/live/desk.md``, Streams): the handshake authenticates with the key
pair (``authorization``) and listens to ``trade_updates`` (``listening``); every event (``new``,
``fill``, ``partial_fill``, ``canceled``, ``rejected`` ...) puts its order id in
:class:`~.streams.OrderEvents` (``broker.order_events`` once the stream is started), which the
desk drains (:meth:`~.desk.LiveDesk.poll_events`: it reads those orders now). Nothing is applied
from an event: the desk's poll (``list_orders``, cumulative ``filled_qty``) is the truth, so an
event lost while the stream is down loses nothing. Paper sends binary frames, live text frames:
both are read. Keys are sent in the first frame only and never logged. Refused keys wait
``max_backoff_s`` before the next try.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .streams import OrderEvents, StreamLink, StreamRefused, websocket_connect


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


def trade_event(message: dict | None) -> TradeEvent | None:
    """The :class:`TradeEvent` of a ``trade_updates`` message, ``None`` for anything else."""
    if not message or message.get("stream") != "trade_updates" or not isinstance(message.get("data"), dict):
        return None
    data = message["data"]
    order = data.get("order") if isinstance(data.get("order"), dict) else {}
    return TradeEvent(str(data.get("event", "")), str(order.get("id", "")), str(order.get("client_order_id", "")))


class TradeUpdates:
    """The trade-updates stream (see the module docstring): order ids into ``self.events``; the
    newest event per order id in ``self.last``; ``self.link`` (its ``stats``: connects, drops,
    refused, last_error) for health and tests. ``connect``/``now``/``sleep`` are injected in tests."""

    def __init__(self, url: str, key_id: str, secret_key: str, *, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, timeout_s: float = 10.0, connect=websocket_connect,
                 now=time.monotonic_ns, sleep=None):
        self.url, self._key_id, self._secret, self.timeout_s = url, key_id, secret_key, timeout_s
        self.events = OrderEvents()
        self.last: dict[str, TradeEvent] = {}
        self.link = StreamLink("alpaca-trade-updates", lambda: (self.url, ""), None, self._frame,
                               handshake=self._handshake, connect=connect, now=now, sleep=sleep,
                               silent_after_s=None,  # quiet while no order changes: pings find a dead socket
                               backoff_s=backoff_s, max_backoff_s=max_backoff_s, connect_timeout_s=timeout_s)

    def start(self) -> TradeUpdates:
        self.link.start()
        return self

    def stop(self) -> None:
        """Close the connection and join the thread."""
        self.link.stop(self.timeout_s + 5)

    @property
    def running(self) -> bool:
        """Whether the stream's thread is alive (false again once :meth:`stop` has joined it)."""
        return self.link.running

    def _handshake(self, socket, _sessionid: str) -> None:
        keys = {"key_id": self._key_id, "secret_key": self._secret}
        socket.send(json.dumps({"action": "authenticate", "data": keys}))
        self._expect(socket, "authorization", lambda data: data.get("status") == "authorized")
        socket.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        self._expect(socket, "listening", lambda data: "trade_updates" in (data.get("streams") or []))

    def _expect(self, socket, stream: str, accepted) -> None:
        message = decode(socket.recv(self.timeout_s)) or {}
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        if message.get("stream") != stream or not accepted(data):
            raise StreamRefused(f"Alpaca refused the stream at {stream}: {str(message)[:200]}")

    def _frame(self, text: str) -> None:
        event = trade_event(decode(text))
        if event is None or not event.order_id:
            return
        self.last[event.order_id] = event
        self.events.put(event.order_id)
