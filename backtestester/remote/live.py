"""Run a strategy live through the gateway, unchanged: ``backtestester live``.

:class:`LiveClient` adds the live RPCs to :class:`~backtestester.remote.client.PlaygroundClient`
(CreateLivePlayground, the reports, MockFillOrder, PushBars, GetBrokerHealth).
:class:`LiveGatewayBroker` is a :class:`~backtestester.remote.broker.GatewayBroker` over a live
playground: the one strategy loop (:func:`~backtestester.strategy.runner.run_on_broker`) drives it
as it drives a backtest, but a tick waits on the wall clock for the next bar: it asks the gateway
(``NextTick``, which never blocks) every ``poll_s`` seconds until something arrived (a bar, a fill,
a rejection, an event). A ``stop`` event (SIGTERM or SIGINT under :func:`run_live`) ends the run
at once, cleanly: the strategy's ``on_stop`` runs and the result is collected; the live playground
stays on the gateway (live playgrounds are durable), and a new run with the same ``client_id``
picks it up.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from contextlib import nullcontext

import numpy as np

from ..engine import PlaceOrderError
from ..engine.timeutil import NS_PER_SECOND
from ..rpc import playground_pb2 as pb
from ..stop_signals import stop_on_signals
from ..strategy.base import Strategy
from ..strategy.runner import BacktestResult, run_on_broker
from ..wire.times import TIMESPANS, UNIT_SECONDS, rfc3339_ns
from .broker import GatewayBroker, MirrorRepository
from .client import PlaygroundClient

NS = NS_PER_SECOND
EPOCH = "1970-01-01T00:00:00Z"


class LiveClient(PlaygroundClient):
    """A :class:`PlaygroundClient` with the live RPCs (docs/live.md)."""

    def create_live_playground(self, *, broker: str, repositories: Iterable[tuple[str, str]], balance: float,
                               account_type: str = "paper", client_id: str | None = None,
                               tags: Iterable[str] = ()) -> str:
        """CreateLivePlayground; ``repositories``: ``(symbol, timeframe)`` pairs such as ``("SPY", "1m")``.
        Idempotent on ``client_id`` (generated when not given, so retries never create two)."""
        repos = [pb.Repository(symbol=s, timespan_multiplier=TIMESPANS[tf][0], timespan_unit=TIMESPANS[tf][1])
                 for s, tf in repositories]
        req = pb.CreateLivePlaygroundRequest(balance=balance, broker=broker, repositories=repos, environment="live",
                                             account_type=account_type, tags=list(tags),
                                             client_id=client_id or f"live-{uuid.uuid4()}")
        return self._call("CreateLivePlayground", req).id

    def reconciliation_report(self, reconcile_playground_id: str) -> pb.GetReconciliationReportResponse:
        return self._call("GetReconciliationReport",
                          pb.GetReconciliationReportRequest(reconcile_playground_id=reconcile_playground_id))

    def settle_intent(self, reconcile_playground_id: str, key: str, note: str = "") -> pb.GetReconciliationReportResponse:
        """Settle an intent of unknown outcome (the report's ``unknown_intents``) after checking the broker."""
        return self._call("SettleIntent", pb.SettleIntentRequest(reconcile_playground_id=reconcile_playground_id,
                                                                 key=key, note=note))

    def equity_report(self, reconcile_playground_id: str) -> list[pb.LiveAccountPlot]:
        return list(self._call("GetEquityReport",
                               pb.GetEquityReportRequest(playground_id=reconcile_playground_id)).items)

    def mock_fill(self, order_id: int, price: float, status: str = "filled", broker: str = "mock") -> None:
        """MockFillOrder: fill (or reject, cancel) a live order at a manual-fill sim broker."""
        self._call("MockFillOrder", pb.MockFillOrderRequest(order_id=order_id, price=price, status=status,
                                                            broker=broker))

    def broker_health(self) -> list[pb.BrokerHealth]:
        return list(self._call("GetBrokerHealth", pb.GetBrokerHealthRequest()).accounts)

    def push_bars(self, batches: Iterable[Iterable[pb.Candle]]) -> int:
        """PushBars: send batches of candles (``--live-feed push``); returns the count received."""
        requests = (pb.PushBarsRequest(candles=list(batch)) for batch in batches)
        return self._stub.PushBars(requests, timeout=self.timeout).received


class LiveGatewayBroker(GatewayBroker):
    """A :class:`GatewayBroker` over the live playground ``playground_id`` (see the module docstring).
    ``max_bars``: complete after that many new candles (None: until ``stop``)."""

    def __init__(self, client, playground_id: str, *, stop: threading.Event | None = None,
                 max_bars: int | None = None, poll_s: float = 0.25, session=None, transport: str | None = None):
        self.stop, self.max_bars, self.poll_s = stop or threading.Event(), max_bars, poll_s
        self.bars = 0
        super().__init__(client, playground_id, session=session, enforce_stop_loss=True, transport=transport)

    def quiet_ticks(self, step_ns: int, on_candle, ctx, max_ticks: int, deliver=None) -> int:
        """None: a live tick is a poll of the market (:meth:`step`), one Session advance each."""
        return 0

    @staticmethod
    def _clock(session) -> tuple[int, int, int]:
        """A live clock has no stop: start and end are now (the end moves with each tick)."""
        now = rfc3339_ns(session.clock.current_time)
        return now, now, now

    def _load_history(self, repo: MirrorRepository) -> None:
        """The bars so far (``GetCandles``): indicators start warm."""
        for bar in self.client.get_candles(self.playground_id, repo.symbol, repo.period_ns // NS, EPOCH):
            repo.append_bar(bar)

    def step(self, step_ns: int):
        """Wait for the next bar (or fill, rejection, event): NextTick every ``poll_s`` seconds until
        something arrived; ``stop`` or ``max_bars`` completes the run."""
        while True:
            if self.stop.is_set():
                return [], [], [], [], self._now, True
            trades, candles, invalid, events, now, _ = super().step(0)  # a live tick ignores seconds
            self.end_ns = now
            self.bars += len(candles)
            done = self.max_bars is not None and self.bars >= self.max_bars
            if trades or candles or invalid or events or done:
                return trades, candles, invalid, events, now, done
            self.stop.wait(self.poll_s)

    def place_order(self, *, equity_fraction=None, quantity=None, **kwargs):
        """As :meth:`GatewayBroker.place_order`; ``fraction=`` sizing is done here, at placement:
        ``floor(fraction x uninvested cash / newest close)`` whole shares, the engine's rule at the
        price a market order fills at under fill model ``close`` (a live desk places whole shares)."""
        if equity_fraction is not None:
            if quantity is not None:
                raise PlaceOrderError("give either quantity or equity_fraction, not both")
            acc = self.account()
            uninvested = acc.equity - sum(abs(p.quantity) * p.current_price for p in acc.positions.values())
            quantity = float((uninvested * equity_fraction) // self.price(kwargs["symbol"]))
            if quantity < 1:
                raise PlaceOrderError(f"equity_fraction {equity_fraction:g} of {uninvested:.2f} buys no whole share")
        return super().place_order(quantity=quantity, **kwargs)

    def equity_arrays(self):
        """One point per tick, as the gateway records it; the wire's times are whole seconds, so the
        last point of each second stands for it (a result's curve needs increasing times after
        the start)."""
        times, equity = super().equity_arrays()
        ns = times.astype(np.int64)
        keep = np.append(ns[1:] != ns[:-1], True) & (ns > self.start_ns) if len(ns) else ns.astype(bool)
        times, equity = times[keep], equity[keep]
        if not len(times):  # nothing recorded after the start: the account as it stands
            times = np.array([max(self._now, self.start_ns + NS)], dtype="datetime64[ns]")
            equity = np.array([self.account().equity], dtype=np.float64)
        return times, equity


def run_live(strategy: Strategy, client: LiveClient, *, broker: str, symbols: Iterable[str], timeframe: str = "1m",
             balance: float = 100_000.0, client_id: str | None = None, account_type: str = "paper",
             max_bars: int | None = None, poll_s: float = 0.25, stop: threading.Event | None = None,
             tags: Iterable[str] = (), handle_signals: bool = True,
             transport: str | None = None) -> tuple[str, BacktestResult]:
    """Create (or pick up by ``client_id``) a live playground and run ``strategy`` on it until
    ``stop`` is set (SIGTERM and SIGINT set it when ``handle_signals``) or ``max_bars`` new bars
    arrived. Returns ``(playground id, result)``; the playground stays on the gateway. ``transport``:
    ``"session"`` (ticks, orders and account reads on one Session stream; the default over gRPC) or ``"unary"``."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    if timeframe not in TIMESPANS:
        raise ValueError(f"timeframe {timeframe!r}: accepted: {', '.join(TIMESPANS)}")
    stop = stop or threading.Event()
    with stop_on_signals(stop) if handle_signals else nullcontext():  # before anything is created
        pid = client.create_live_playground(broker=broker, repositories=[(s, timeframe) for s in symbols],
                                            balance=balance, account_type=account_type, client_id=client_id,
                                            tags=tags)
        live = LiveGatewayBroker(client, pid, stop=stop, max_bars=max_bars, poll_s=poll_s, transport=transport)
        step = TIMESPANS[timeframe][0] * UNIT_SECONDS[TIMESPANS[timeframe][1]]
        try:
            return pid, run_on_broker(strategy, live, step)
        finally:
            if live.transport == "session":
                live.client.close()
