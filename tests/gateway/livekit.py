"""Shared pieces of the live gateway tests: a data directory with a catalog, a real gateway trading
live (embedded Ray, OS-chosen port) on an accelerated replay, and waits on observable conditions
(a deadline, never a sleep that stands for synchronisation)."""
from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager

import grpc

from actors.gateway.live import LiveConfig
from actors.gateway.server import spawn
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import DEADLINE, write_catalog

NO_FILTERS = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}


def live_config(start="2024-01-03T09:29:00-05:00", speed=60.0, poll=0.05, **extra) -> LiveConfig:
    """A replay of AAA's one-minute bars from ``start`` (New York), ``speed`` times the wall clock
    (``extra``: other :class:`LiveConfig` fields, e.g. ``feed="push"`` with ``start=None``)."""
    return LiveConfig(replay_start=start, replay_speed=speed, replay_symbols=("AAA",), poll_seconds=poll,
                      **{"settle_seconds": 0.0, **extra}).validate()


class LiveGateways:
    """Gateways a test starts (and kills, restarts); every one is stopped by handle at the end."""

    def __init__(self, ray):
        self.ray, self.started = ray, []

    def start(self, data_dir, config: LiveConfig):
        gw = spawn(str(data_dir), name=f"live-{uuid.uuid4().hex[:8]}", live=config)
        address = self.ray.get(gw.start.remote("127.0.0.1", 0), timeout=120)
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=DEADLINE)
        self.started.append((gw, channel))
        return gw, pb_grpc.PlaygroundServiceStub(channel), address

    def close(self):
        for gw, channel in self.started:
            channel.close()
            try:
                self.ray.get(gw.stop.remote(0.5), timeout=30)
            except Exception:  # noqa: BLE001  (killed by the test already)
                pass
            self.ray.kill(gw, no_restart=True)


@contextmanager
def live_gateways(ray):
    g = LiveGateways(ray)
    try:
        yield g
    finally:
        g.close()


def data_dir(tmp_path):
    """A fresh data directory holding the AAA/BBB catalog (each live gateway needs its own)."""
    path = tmp_path / "data"
    path.mkdir(parents=True)
    return write_catalog(path)


def until(condition, what: str, timeout: float = DEADLINE, every: float = 0.05):
    """``condition()`` once it is truthy (its value); AssertionError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    done = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        done.wait(every)


def repo(symbol="AAA"):
    return pb.Repository(symbol=symbol, timespan_multiplier=1, timespan_unit="minute")


def create_live(stub, *, broker="sim", client_id="c1", balance=100_000.0, symbols=("AAA",)) -> str:
    req = pb.CreateLivePlaygroundRequest(balance=balance, broker=broker, repositories=[repo(s) for s in symbols],
                                         environment="live", account_type="paper", client_id=client_id)
    return stub.CreateLivePlayground(req, timeout=DEADLINE).id


def buy(stub, pid, qty=10, **extra) -> pb.Order:
    return stub.PlaceOrder(pb.PlaceOrderRequest(playground_id=pid, symbol="AAA", asset_class="equity", quantity=qty,
                                                side="buy", type="market", duration="day", requested_price=100.0, **extra),
                          timeout=DEADLINE)


def tick(stub, pid) -> pb.TickDelta:
    return stub.NextTick(pb.NextTickRequest(playground_id=pid, request_id=uuid.uuid4().hex), timeout=DEADLINE)


def account(stub, pid, fetch_orders=True) -> pb.GetAccountResponse:
    return stub.GetAccount(pb.GetAccountRequest(playground_id=pid, fetch_orders=fetch_orders), timeout=DEADLINE)


class Ticks:
    """NextTick's deltas of one playground, gathered while a test waits for something in them."""

    def __init__(self, stub, pid):
        self.stub, self.pid = stub, pid
        self.trades, self.candles, self.invalid = [], [], []

    def pull(self):
        d = tick(self.stub, self.pid)
        self.trades.extend(d.new_trades)
        self.candles.extend(d.new_candles)
        self.invalid.extend(d.invalid_orders)
        return d
