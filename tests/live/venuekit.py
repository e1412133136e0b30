"""Desk rigs over the venue fakes (tests/live/fake_tradier.py, tests/live/fake_alpaca.py): a LiveDesk
over one real adapter talking HTTP to the fake, pushed 1-minute bars and an injected clock, on
``tmp_path``. The contract matrices (test_contract_tradier.py, test_contract_alpaca.py) and the
stream tests drive them."""
from __future__ import annotations

from backtestester.live.alpaca import AlpacaBroker
from backtestester.live.bars import LiveBars, PushSource
from backtestester.live.desk import LiveDesk
from backtestester.live.port import Bar
from backtestester.live.sessions import MarketSessions
from backtestester.live.tradier import TradierBroker

from .deskkit import MIN, T0, Clock


class TradierRig:
    """A desk over one TradierBroker (the fake server) and pushed 1-minute bars, on ``tmp_path``.
    ``NAME`` is the broker's name at the desk (the Alpaca rig of test_contract_alpaca reuses this one)."""

    NAME = "tradier"

    def __init__(self, tmp_path, fake, *, sessions=False, timeout_s=5.0):
        self.tmp, self.fake = tmp_path, fake
        fake.set(fill_mode="tick", time_ns=T0)
        self.clock = Clock()
        self.slept: list[float] = []
        self.broker = self.make_broker(timeout_s)
        self.sessions = {self.NAME: MarketSessions(self.broker, now=self.clock)} if sessions else None
        self.open()

    def make_broker(self, timeout_s: float):
        return TradierBroker(self.fake.config(timeout_s=timeout_s), now=self.clock, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.clock.t += int(seconds * 1e9)

    def open(self):
        """A (new) desk and LiveBars on the same files: what a restarted gateway builds."""
        self.push = PushSource()
        self.bars = LiveBars(str(self.tmp / "bars.sqlite3"), [self.push], settle_s=0, now=self.clock)
        self.desk = LiveDesk(str(self.tmp / "desk"), {self.NAME: self.broker}, self.bars, now=self.clock,
                             sessions=self.sessions)
        return self.desk

    def bar(self, i, close, symbol="SPY"):
        """Bar ``i`` closes at ``close``: the broker's price moves there, working orders fill, the desk polls."""
        start = T0 + i * MIN
        self.push.push([Bar(symbol, 60, start, close, close + 1.0, close - 1.0, close, 1000.0)])
        self.clock.t = max(self.clock.t, start + MIN)
        self.fake.price(**{symbol: close})
        self.fake.tick()
        self.desk.poll()

    def playground(self, symbols=("SPY",), balance=100_000.0, **kw):
        return self.desk.create_playground(broker=self.NAME, account_type="margin",
                                           repositories=[(s, 60) for s in symbols], balance=balance, **kw)

    def broker_orders(self):
        """What the fake server accepted: (side, quantity, status)."""
        return [(o["side"], o["quantity"], o["status"]) for o in self.fake.orders()]


class AlpacaRig(TradierRig):
    """The Tradier contract rig over AlpacaBroker; the fake's clock follows the rig's."""

    NAME = "alpaca"

    def make_broker(self, timeout_s: float):
        return AlpacaBroker(self.fake.config(), now=self.clock, sleep=self.sleep)

    def bar(self, i, close, symbol="SPY"):
        self.fake.set(time_ns=max(self.clock.t, T0 + i * MIN + MIN))
        super().bar(i, close, symbol)

    def broker_orders(self):
        """What the fake server accepted: (side, quantity, Alpaca status)."""
        return [(o["side"], int(o["qty"]), o["status"]) for o in self.fake.orders()]

    def posts(self) -> int:
        return sum(sent["method"] == "POST" for sent in self.fake.requests())
