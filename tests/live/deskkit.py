"""Shared pieces of the live desk tests: an injected clock, bars pushed into LiveBars, the real
SimulatedBroker, and a desk on a temporary data_dir."""
from __future__ import annotations

from backtestester.live.bars import LiveBars, PushSource
from backtestester.live.desk import LiveDesk
from backtestester.live.port import Bar, BrokerConfig
from backtestester.live.simbroker import SimulatedBroker

T0 = 1_796_000_040 * 10**9  # a fixed instant (UTC ns), a multiple of a minute (a Saturday)
MIN = 60 * 10**9


class Clock:
    """The injected clock: ``t`` in UTC ns, moved by the test."""

    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


class Rig:
    """A desk over one simulated broker and pushed 1-minute bars, all on ``tmp_path``."""

    def __init__(self, tmp_path, *, broker=None, sessions=None, reconcile_every_s=60, **options):
        self.tmp = tmp_path
        self.clock = Clock()
        self.sim = broker or SimulatedBroker(BrokerConfig("sim", options=options), path=str(tmp_path / "sim.sqlite3"),
                                             now=self.clock)
        self.sessions = sessions
        self.reconcile_every_s = reconcile_every_s
        self.open()

    def open(self, broker=None):
        """A (new) desk and LiveBars on the same files: what a restarted gateway builds."""
        self.push = PushSource()
        self.bars = LiveBars(str(self.tmp / "bars.sqlite3"), [self.push], settle_s=0, now=self.clock)
        self.desk = LiveDesk(str(self.tmp / "desk"), {"sim": broker or self.sim}, self.bars, now=self.clock,
                             sessions=self.sessions, reconcile_every_s=self.reconcile_every_s)
        return self.desk

    def bar(self, i, close, symbol="SPY", period=60, spread=1.0):
        """Push the bar of minute ``i`` and move the clock to its end, then poll."""
        start = T0 + i * MIN
        self.push.push([Bar(symbol, period, start, close, close + spread, close - spread, close, 1000.0)])
        self.clock.t = max(self.clock.t, start + period * 10**9)
        self.desk.poll()

    def playground(self, symbols=("SPY",), balance=100_000.0, **kw):
        return self.desk.create_playground(broker="sim", account_type="margin",
                                           repositories=[(s, 60) for s in symbols], balance=balance, **kw)


class FaultyBroker:
    """The real simulated broker behind a faulty line: ``place_fault`` is ``None`` (pass through),
    ``"lost"`` (the broker takes the order, the answer is lost: Unresolved), ``"timeout"`` (the
    request never arrived: Unresolved), ``"die"`` (the broker takes the order, then this
    process "dies": SystemExit, as a SIGKILL between the broker call and the commit would), or
    ``"die-before"`` (the process dies before the request leaves);
    ``list_fault`` makes list_orders fail (BrokerUnavailable). Counts the place calls."""

    def __init__(self, sim):
        self.sim, self.place_fault, self.list_fault, self.places = sim, None, False, []
        self.frozen = False  # True: match() does nothing (the broker's state stands still)

    def __getattr__(self, name):
        return getattr(self.sim, name)

    def place(self, intent):
        from backtestester.live.port import Unresolved
        self.places.append(intent.tag)
        fault, self.place_fault = self.place_fault, None
        if fault == "timeout":
            return Unresolved("read timeout")
        if fault == "die-before":
            raise SystemExit("killed before the request left")
        outcome = self.sim.place(intent)
        if fault == "lost":
            return Unresolved("connection dropped after the request was sent")
        if fault == "die":
            raise SystemExit("killed between the broker call and the commit")
        return outcome

    def match(self):
        return [] if self.frozen else self.sim.match()

    def list_orders(self):
        from backtestester.live.port import BrokerUnavailable
        if self.list_fault:
            raise BrokerUnavailable("503 Service Unavailable")
        return self.sim.list_orders()
