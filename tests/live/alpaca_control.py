"""The test side of the fake Alpaca server (tests/live/fake_alpaca.py): start it in its own process
(``python -m tests.live.fake_alpaca`` from the repository root), its URLs and broker config, and
the control API it shares with the fake Tradier server (:class:`~tests.live.tradier_control.FakeTradier`)."""
from __future__ import annotations

import sys
from pathlib import Path

from backtestester.live.port import BrokerConfig

from .fake_alpaca import ACCOUNT, KEY_ID, SECRET_KEY
from .tradier_control import FakeTradier

ROOT = Path(__file__).resolve().parents[2]


class FakeAlpaca(FakeTradier):
    """A running fake Alpaca server: trading, data and stream on one loopback port."""

    COMMAND = (sys.executable, "-m", "tests.live.fake_alpaca")
    CWD = str(ROOT)

    def __init__(self, proc, port: int):
        super().__init__(proc, port)
        self.base_url = self.url
        self.stream_url = f"ws://127.0.0.1:{port}/stream"

    def config(self, **options) -> BrokerConfig:
        """An :class:`~backtestester.live.alpaca.AlpacaBroker` config for this server (``options`` override)."""
        values = {"environment": "paper", "key_id": KEY_ID, "secret_key": SECRET_KEY, "stream_backoff_s": 0.001}
        values.update(options)
        return BrokerConfig("alpaca", account_id=ACCOUNT, base_url=self.base_url, data_url=self.base_url,
                            timeout_s=30.0, options=values)  # generous: the machine is shared

    def drop_streams(self) -> None:
        """Close every trade-updates connection without a close frame."""
        self.control("drop_streams")

    def stream_info(self) -> dict:
        """``connects`` (connections that reached listening), ``listening`` (open now), ``events`` (sent)."""
        return self.control("stream_info")
