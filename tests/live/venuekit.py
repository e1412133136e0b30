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

from .deskkit import MIN, T0, Clock, FaultyBroker, Rig


class TradierRig:
    """A desk over one TradierBroker (the fake server) and pushed 1-minute bars, on ``tmp_path``.
    ``NAME`` is the broker's name at the desk; :class:`AlpacaRig` changes the adapter. The fake
    fills in ``tick`` mode: :meth:`bar` sets the bar's close as the price, ticks and polls."""

    NAME, ORDERS_PATH, FILLS_NEXT_BAR = "tradier", "/orders", True

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

    # -- the shared contract matrix's verbs (SimVenue has the same) --------------------------
    def partial(self, fractions):
        self.fake.partial(fractions)

    def reject(self, reason):
        self.fake.reject(reason)

    def position(self, symbol, quantity, cost_basis):
        self.fake.position(symbol, quantity, cost_basis)

    def lose_next_answer(self):
        """The fake takes the next order and drops the connection before answering."""
        self.fake.faults({"method": "POST", "path": self.ORDERS_PATH, "action": "drop", "commit": True})

    def broker_order_count(self):
        return len(self.fake.orders())

    def polls_without_the_market_moving(self, n: int):
        for _ in range(n):  # the fake only fills on a tick
            self.desk.poll()

    def close(self):
        self.broker.close()


class AlpacaRig(TradierRig):
    """The Tradier contract rig over AlpacaBroker; the fake's clock follows the rig's."""

    NAME, ORDERS_PATH = "alpaca", "/v2/orders"

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


class SimVenue(Rig):
    """The desk kit's rig on the simulated broker behind a faulty line, with the venue rigs' verbs
    (the shared contract matrix drives all three alike). It fills at the close current when an
    order is placed (``FILLS_NEXT_BAR`` false), the fakes at the next bar."""

    NAME, FILLS_NEXT_BAR = "sim", False

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.line = FaultyBroker(self.sim)
        self.open(broker=self.line)

    def partial(self, fractions):
        self.sim.script_partial("next", fractions)

    def reject(self, reason):
        self.sim.script_reject(reason)

    def position(self, symbol, quantity, cost_basis):
        self.sim.set_position(symbol, quantity, cost_basis)

    def lose_next_answer(self):
        self.line.place_fault = "lost"

    def broker_order_count(self):
        return len(self.sim.list_orders())

    def polls_without_the_market_moving(self, n: int):
        self.line.frozen = True  # the simulated broker matches on every poll; not these
        for _ in range(n):
            self.desk.poll()
        self.line.frozen = False

    def close(self):
        pass



def fill_between_polls(gw_dir, config, now_ns: int, broker: str, fake, listening, deadline_s: float):
    """A LiveShell on ``config`` (a poll period of an hour) places a 1-share SPY buy on ``broker``
    once ``listening()`` returned (the venue's stream is up), the fake fills it, and only the
    stream's event can get the fill to the desk within ``deadline_s``: returns the order as the
    desk has it then. The shell is stopped (its brokers' streams with it)."""
    import asyncio  # noqa: PLC0415

    from actors.gateway.live import LiveShell  # noqa: PLC0415

    async def scenario():
        gw_dir.mkdir()
        shell = LiveShell(str(gw_dir), config, now=lambda: now_ns)
        await shell.start()
        try:
            await asyncio.to_thread(listening)
            pid = await shell.run(shell.desk.create_playground, broker=broker, account_type="margin",
                                  repositories=[("SPY", 60)], balance=1000.0)
            order = await shell.run(shell.desk.place_order, pid, symbol="SPY", side="buy", quantity=1,
                                    requested_price=10.0)
            await asyncio.to_thread(fake.tick)
            for _ in range(int(deadline_s / 0.05)):  # a condition with a deadline: the order fills
                if not shell.desk.get_order(order.id).is_open:
                    break
                await asyncio.sleep(0.05)
            return shell.desk.get_order(order.id)
        finally:
            await shell.stop()
    return asyncio.run(scenario())
