"""The test side of the fake Tradier server (tests/live/fake_tradier.py): start it in its own
process, drive its control API, and a step clock for the adapter's injected ``now``/``sleep``."""
from __future__ import annotations

import selectors
import subprocess
import sys
from pathlib import Path

import requests

from backtestester.live.port import BrokerConfig

from .fake_tradier import ACCOUNT, DATA_TOKEN, TRADING_TOKEN

SERVER = Path(__file__).with_name("fake_tradier.py")
#: 2026-12-08 15:00 UTC (10:00 ET), a Tuesday in the regular session: the fake's time in tests.
T0 = 1_796_742_000 * 1_000_000_000


class StepClock:
    """``now`` reads a fixed ns that only ``sleep`` moves; ``slept`` lists every wait in seconds."""

    def __init__(self, ns: int = T0):
        self.ns = ns
        self.slept: list[float] = []

    def now(self) -> int:
        return self.ns

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.ns += int(seconds * 1e9)


class FakeTradier:
    """A running fake server: its URLs, its pid, and its control API (``SERVER``: the script a
    subclass starts instead, e.g. the fake Polygon server's)."""

    SERVER = SERVER

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc = proc
        self.pid = proc.pid
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        self.http = requests.Session()

    @classmethod
    def start(cls, deadline_s: float = 60.0) -> "FakeTradier":
        """Start the server (port 0) and wait for its ``READY <port>`` line, at most ``deadline_s``."""
        proc = subprocess.Popen([sys.executable, str(cls.SERVER), "--port", "0"], stdout=subprocess.PIPE, text=True)
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=deadline_s)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{cls.__name__} server did not start (said {line!r})")
        return cls(proc, int(line.split()[1]))

    def stop(self) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL after 10 s)."""
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def config(self, **overrides) -> BrokerConfig:
        values = dict(name="tradier", account_id=ACCOUNT, base_url=self.base_url, trading_token=TRADING_TOKEN,
                      data_token=DATA_TOKEN, timeout_s=5.0)
        values.update(overrides)
        return BrokerConfig(**values)

    def control(self, verb: str, body=None):
        answer = self.http.post(f"{self.url}/_control/{verb}", json={} if body is None else body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def reset(self, **settings) -> None:
        self.control("reset", settings)

    def faults(self, *entries: dict) -> None:
        """Append fault-script entries (see the server's module doc)."""
        self.control("faults", list(entries))

    def set(self, **settings) -> None:
        self.control("set", settings)

    def price(self, **prices: float) -> None:
        self.control("price", prices)

    def position(self, symbol: str, quantity: float, cost_basis: float = 0.0) -> None:
        self.control("position", {"symbol": symbol, "quantity": quantity, "cost_basis": cost_basis})

    def partial(self, fractions: list[float]) -> None:
        self.control("partial", {"fractions": fractions})

    def reject(self, reason: str) -> None:
        self.control("reject", {"reason": reason})

    def series(self, symbol: str, interval: str, rows: list[dict]) -> None:
        self.control("series", {"symbol": symbol, "interval": interval, "rows": rows})

    def new_day(self) -> None:
        """Tradier's intraday list rolls over: orders accepted so far are no longer listed by default."""
        self.control("new_day")

    def tick(self) -> None:
        self.control("tick")

    def wait_blocked(self) -> bool:
        """Block until a request is held inside a handler by a ``block`` fault (False after 30 s)."""
        answer = self.http.post(f"{self.url}/_control/wait_blocked", json={}, timeout=40)
        answer.raise_for_status()
        return answer.json()["blocked"]

    def release(self) -> None:
        self.control("release")

    def orders(self) -> list[dict]:
        """Every order the server ever accepted (with tags): the count for no-duplicate tests."""
        return self.control("orders")

    def requests(self) -> list[dict]:
        """Every /v1 request: method, path, token, accept, query, form."""
        return self.control("requests")

    def positions(self) -> dict[str, float]:
        return self.control("positions")
