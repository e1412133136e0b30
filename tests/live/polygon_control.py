"""The test side of the fake Polygon/Massive server (tests/live/fake_polygon.py): start it in its
own process (stopped by its pid), drive its control API, and build sources on it."""
from __future__ import annotations

import sys
from pathlib import Path

import requests

from backtestester.live.polygon import PolygonConfig, PolygonRest
from backtestester.live.polygon_stream import PolygonStreamSource

from .fake_polygon import KEY
from .tradier_control import FakeTradier

MINUTE_MS = 60_000


class FakePolygon(FakeTradier):
    """A running fake Polygon server (started and stopped as the fake Tradier server is)."""

    COMMAND = (sys.executable, str(Path(__file__).with_name("fake_polygon.py")))

    def __init__(self, proc, port: int):
        self.proc, self.pid = proc, proc.pid
        self.url = f"http://127.0.0.1:{port}"
        self.stream_url = f"ws://127.0.0.1:{port}/stocks"
        self.http = requests.Session()

    def polygon_config(self, **overrides) -> PolygonConfig:
        values = dict(api_key=KEY, base_url=self.url, stream_url=self.stream_url, timeout_s=30.0)
        values.update(overrides)
        return PolygonConfig(**values)

    def rest(self, clock=None, **overrides) -> PolygonRest:
        """A REST client of this fake; ``clock`` (a StepClock) makes its 429 waits instant and recorded."""
        kwargs = {} if clock is None else {"now": clock.now, "sleep": clock.sleep}
        return PolygonRest(self.polygon_config(**overrides), **kwargs)

    def stream_source(self, symbols, clock=None, **kwargs) -> PolygonStreamSource:
        """A stream source of this fake with a fast back-off (tests run many reconnects)."""
        options = dict(rest_poll_s=0.0, backoff_s=0.01, max_backoff_s=0.05, open_timeout_s=30.0)
        options.update(kwargs)
        return PolygonStreamSource(self.rest(clock), symbols, url=self.stream_url, api_key=KEY, **options)

    def bars(self, symbol: str, rows: list[dict], span: str = "1/minute") -> None:
        self.control("bars", {"symbol": symbol, "rows": rows, "span": span})

    def emit(self, events: list[dict], rest: bool = False) -> int:
        """Send AM events to the subscribed sockets; returns how many sockets got them."""
        return self.control("emit", {"events": events, "rest": rest})["sockets"]

    def drop_stream(self) -> int:
        return self.control("drop_stream")["dropped"]

    def wait_subscribed(self, count: int, timeout: float = 60.0) -> bool:
        answer = self.http.post(f"{self.url}/_control/wait_subscribed", json={"count": count, "timeout": timeout},
                                timeout=timeout + 10)
        answer.raise_for_status()
        return answer.json()["ok"]

    def stream_faults(self, *entries: dict) -> None:
        self.control("stream_faults", list(entries))


def row(t_ms: int, close: float, volume: float = 100.0) -> dict:
    """A REST aggregate row at ``t_ms`` (its open one cent under the close)."""
    return {"t": t_ms, "o": close - 0.01, "h": close + 0.05, "l": close - 0.05, "c": close, "v": volume}


def am(symbol: str, s_ms: int, close: float, volume: float = 100.0) -> dict:
    """An AM event of ``symbol`` for the minute starting at ``s_ms``."""
    return {"sym": symbol, "s": s_ms, "e": s_ms + MINUTE_MS, "o": close - 0.01, "h": close + 0.05,
            "l": close - 0.05, "c": close, "v": volume}
