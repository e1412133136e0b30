"""Gateway latency and throughput: a real gateway (grpc.aio in a Ray actor; playgrounds in its
process, or on N host actors with ``--playground-hosts N``) on an OS-chosen loopback port, driven
by grpc.aio clients in this process.

Prints p50/p99 latency of NextTick and PlaceOrder for one client, then requests per second with
N concurrent clients (each on its own playground), side by side with the gRPC floor: the
standard health Check RPC answered by the same server without touching a playground. The ratio
to that floor is the cost of reaching the playground and running it.

Then gRPC beside Twirp (the gateway's ``--twirp-port``): GetAppVersion and NextTick p50/p99 over
gRPC, over Twirp with a new connection per call (``requests.post``, what the original's clients
do through the ``twirp`` package), with a keep-alive ``requests.Session``, and with a keep-alive
``http.client`` connection (the thinnest Python client: closest to the server's own cost).

With ``--streams K`` it measures fairness instead: GetAppVersion p50/p99 alone, then while K
unbounded StreamTicks (each on its own playground, with a ``request_id``) run flat out.

Then bars per second of the reference strategy (SmaCross) run through the gateway with
``run_on_gateway`` (what ``backtest --gateway`` does), over the unary calls (one NextTick per bar)
and over the Session RPC (full answers, one TickDelta per tick, and compact ones, the default),
side by side with the same run locally (``run_on_catalog``); each run's
final equity is checked equal; the last column is this process's CPU time per bar (the client's
own work, grpc's threads included: less disturbed by other load than the wall time). Two cases: the strategy decides on every 1-minute candle (one
Session message per bar), and on 15-minute candles over 1-minute ticks (``period_seconds=900``:
a Session advance runs until the next 15-minute candle; a Session run is compact: its quiet ticks
come as columns). ``--strategy-only`` runs just this part; ``--repeats R``: best of R. Last, the
gateway's own cost per tick of the 15-minute case in this process (``answers.advance``, no gRPC):
full answers vs compact ones.

Usage: ``python benchmarks/bench_gateway.py [--calls N] [--clients 1,4,16] [--seconds S]
[--playground-hosts N] [--streams K] [--strategy-only] [--strategy-days D] [--repeats R]``.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import statistics
import tempfile
import time
import uuid

import grpc
import requests
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from actors.cluster import init_ray
from actors.gateway.server import spawn
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.playgrounds import run_on_catalog
from backtestester.remote.broker import run_on_gateway
from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.strategy.reference import SmaCross

START, STOP = "2024-01-02", "2024-03-29"


def create_request(tag: str) -> pb.CreatePolygonPlaygroundRequest:
    return pb.CreatePolygonPlaygroundRequest(
        balance=1_000_000, start_date=START, stop_date=STOP, environment="simulator", tags=[tag],
        repositories=[pb.Repository(symbol="BENCH", timespan_multiplier=1, timespan_unit="minute")])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.99 * (len(ordered) - 1))] * 1e3


async def latencies(stub, health, calls: int) -> dict[str, tuple[float, float]]:
    pid = (await stub.CreatePlayground(create_request("latency"))).id
    out = {}

    async def timed(name, make_call):  # the warm-up calls warm the channel and both actors
        out[name] = await _async_latency(make_call, calls)

    check = health_pb2.HealthCheckRequest(service="")
    await timed("health Check (gRPC floor)", lambda: health.Check(check))
    await timed("NextTick 60 s", lambda: stub.NextTick(pb.NextTickRequest(
        playground_id=pid, seconds=60, request_id=uuid.uuid4().hex)))
    await timed("NextTick preview", lambda: stub.NextTick(pb.NextTickRequest(
        playground_id=pid, seconds=60, is_preview=True, request_id=uuid.uuid4().hex)))
    # A limit order far below the market rests in the book: every call does the full placement path.
    await timed("PlaceOrder (resting limit)", lambda: stub.PlaceOrder(pb.PlaceOrderRequest(
        playground_id=pid, symbol="BENCH", asset_class="equity", quantity=1, side="buy", type="limit",
        duration="gtc", price=1.0, requested_price=1.0, client_request_id=uuid.uuid4().hex)))
    await stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid))
    return out


async def throughput(stub, health, clients: int, seconds: float, what: str) -> float:
    """Requests per second of ``clients`` concurrent loops (one playground each) for ``seconds``."""
    pids = []
    if what == "NextTick":
        pids = [(await stub.CreatePlayground(create_request("rps"))).id for _ in range(clients)]
    check = health_pb2.HealthCheckRequest(service="")
    done = 0
    deadline = 0.0

    async def loop(i):
        nonlocal done
        while time.perf_counter() < deadline:
            if what == "NextTick":
                await stub.NextTick(pb.NextTickRequest(playground_id=pids[i], seconds=60,
                                                       request_id=uuid.uuid4().hex))
            else:
                await health.Check(check)
            done += 1

    deadline = time.perf_counter() + 0.5  # warm-up
    await asyncio.gather(*(loop(i) for i in range(clients)))
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(*(loop(i) for i in range(clients)))
    rate = done / (time.perf_counter() - t0)
    for pid in pids:
        await stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid))
    return rate


async def _async_latency(make_call, calls: int) -> tuple[float, float]:
    """p50/p99 (ms) of an awaited call over ``calls`` calls, after 50 to warm up."""
    for _ in range(50):
        await make_call()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await make_call()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


async def version_latency(stub, calls: int) -> tuple[float, float]:
    """GetAppVersion p50/p99 (ms) over ``calls`` calls, after 50 to warm up."""
    return await _async_latency(lambda: stub.GetAppVersion(empty_pb2.Empty()), calls)


def twirp_poster(base: str, how: str):
    """``post(method, request) -> bytes`` over Twirp (protobuf): ``new`` a connection per call,
    ``session`` a keep-alive ``requests.Session``, ``http.client`` one keep-alive connection."""
    headers = {"Content-Type": "application/protobuf"}
    if how == "http.client":
        host, port = base.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port))

        def post(method, request):
            conn.request("POST", f"/twirp/playground.PlaygroundService/{method}", request.SerializeToString(), headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, body
            return body
        return post
    sender = requests.Session() if how == "session" else requests

    def post(method, request):
        resp = sender.post(f"{base}/twirp/playground.PlaygroundService/{method}", data=request.SerializeToString(),
                           headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.content
    return post


def timed_sync(call, calls: int) -> tuple[float, float]:
    for _ in range(50):
        call()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


async def transports(stub, base: str, calls: int, console: Console):
    """GetAppVersion and NextTick p50/p99 over gRPC and over Twirp's three client kinds."""
    pid = (await stub.CreatePlayground(create_request("twirp"))).id
    tick = lambda: pb.NextTickRequest(playground_id=pid, seconds=60, request_id=uuid.uuid4().hex)  # noqa: E731
    rows = {"gRPC (one channel)": (await version_latency(stub, calls),
                                   await _async_latency(lambda: stub.NextTick(tick()), calls))}
    for label, how in (("Twirp, new connection per call", "new"), ("Twirp, keep-alive requests.Session", "session"),
                       ("Twirp, keep-alive http.client", "http.client")):
        post = twirp_poster(base, how)
        rows[label] = (timed_sync(lambda: post("GetAppVersion", empty_pb2.Empty()), calls),
                       timed_sync(lambda: post("NextTick", tick()), calls))
    await stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid))
    table = Table(title=f"gRPC and Twirp, one client, {calls:,} calls each (ms)")
    for col in ("transport", "GetAppVersion p50", "p99", "NextTick 60 s p50", "p99"):
        table.add_column(col, justify="right" if col != "transport" else "left")
    for label, ((v50, v99), (t50, t99)) in rows.items():
        table.add_row(label, f"{v50:.3f}", f"{v99:.3f}", f"{t50:.3f}", f"{t99:.3f}")
    console.print(table)


def feed_streams(address: str, pids: list[str], ready, delivered) -> None:
    """In a child process: one unbounded StreamTicks per playground, consumed until killed; puts
    ``True`` on ``ready`` once every stream has delivered 100 deltas, counts all in ``delivered``."""
    async def run():
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.PlaygroundServiceStub(channel)
            counts = [0] * len(pids)

            async def consume(i):
                call = stub.StreamTicks(pb.StreamTicksRequest(playground_id=pids[i], seconds=60,
                                                              request_id=uuid.uuid4().hex))
                async for _ in call:
                    counts[i] += 1
                    delivered.value += 1
                    if counts[i] == 100 and min(counts) >= 100:
                        ready.put(True)
            await asyncio.gather(*(consume(i) for i in range(len(pids))))
    asyncio.run(run())


async def fairness(address: str, calls: int, streams: int, console: Console):
    """GetAppVersion alone, then beside ``streams`` unbounded StreamTicks (one playground each),
    consumed by a child process so that only the server is shared."""
    context = multiprocessing.get_context("spawn")
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.PlaygroundServiceStub(channel)
        alone = await version_latency(stub, calls)
        pids = [(await stub.CreatePlayground(create_request("stream"))).id for _ in range(streams)]
        ready, delivered = context.Queue(), context.RawValue("q", 0)
        feeder = context.Process(target=feed_streams, args=(address, pids, ready, delivered), daemon=True)
        feeder.start()
        try:
            await asyncio.to_thread(ready.get, True, 120)  # every stream is running
            t0, before = time.perf_counter(), delivered.value
            busy = await version_latency(stub, calls)
            rate = (delivered.value - before) / (time.perf_counter() - t0)
        finally:
            feeder.terminate()
            feeder.join()
        for pid in pids:
            await stub.DeletePlayground(pb.DeletePlaygroundRequest(playground_id=pid))
    table = Table(title=f"GetAppVersion latency beside {streams} unbounded StreamTicks, {calls:,} calls (ms)")
    for col in ("case", "p50", "p99", "stream deltas/s"):
        table.add_column(col, justify="right" if col != "case" else "left")
    table.add_row("alone", f"{alone[0]:.3f}", f"{alone[1]:.3f}", "")
    table.add_row(f"{streams} streams running", f"{busy[0]:.3f}", f"{busy[1]:.3f}", f"{rate:,.0f}")
    console.print(table)


async def drive(address: str, calls: int, client_counts: list[int], seconds: float, console: Console,
                twirp: str | None = None):
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.PlaygroundServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        if twirp:
            await transports(stub, twirp, calls, console)
        lat = await latencies(stub, health, calls)
        table = Table(title=f"latency, one client, {calls:,} calls each (ms)")
        for col in ("RPC", "p50", "p99", "p50 / floor"):
            table.add_column(col, justify="right" if col != "RPC" else "left")
        floor = lat["health Check (gRPC floor)"][0]
        for name, (p50, p99) in lat.items():
            table.add_row(name, f"{p50:.3f}", f"{p99:.3f}", f"{p50 / floor:.1f}x")
        console.print(table)

        table = Table(title=f"requests per second, {seconds:g} s per row")
        for col in ("clients", "NextTick req/s", "health Check req/s", "NextTick / floor"):
            table.add_column(col, justify="right")
        for n in client_counts:
            ticks = await throughput(stub, health, n, seconds, "NextTick")
            checks = await throughput(stub, health, n, seconds, "Check")
            table.add_row(str(n), f"{ticks:,.0f}", f"{checks:,.0f}", f"{ticks / checks:.2f}")
        console.print(table)


def strategy_runs(address: str, data_dir: str, days: int, repeats: int, console: Console) -> None:
    """Bars per second of SmaCross through the gateway, unary vs Session, beside the local run."""
    import datetime  # noqa: PLC0415

    stop = (datetime.date.fromisoformat(START) + datetime.timedelta(days=days)).isoformat()
    window = dict(start_date=START, stop_date=stop, balance=100_000.0)
    cases = [("every 1m candle", SmaCross, {}, [("BENCH", "1m")]),
             ("15m decisions, 1m ticks", SmaCross, {"period_seconds": 900}, [("BENCH", "1m"), ("BENCH", "15m")])]
    table = Table(title=f"SmaCross through the gateway, {START} to {stop}: 1m bars (ticks) per second, best of {repeats}")
    for col in ("case", "run", "1m bars", "seconds", "bars/s", "vs unary", "client CPU µs/bar"):
        table.add_column(col, justify="left" if col in ("case", "run") else "right")
    with PlaygroundClient(address, timeout=600) as client, PlaygroundClient(address, timeout=600) as full:
        full.compact = False  # the Session with one TickDelta per tick (before compact advances)
        for name, cls, params, repos in cases:
            runs = {"local": lambda: run_on_catalog(cls(**params), data_dir, repos, **window),
                    "unary": lambda: run_on_gateway(cls(**params), client, repos, transport="unary", **window),
                    "session full": lambda: run_on_gateway(cls(**params), full, repos, transport="session", **window),
                    "session": lambda: run_on_gateway(cls(**params), client, repos, transport="session", **window)}
            best, cpu, equity, ticks = {}, {}, {}, {}
            for _ in range(repeats):
                for run, go in runs.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    result = go()
                    best[run] = min(best.get(run, float("inf")), time.perf_counter() - t0)
                    cpu[run] = min(cpu.get(run, float("inf")), time.process_time() - c0)
                    equity[run], ticks[run] = result.final_equity, result.ticks
            if len(set(equity.values())) != 1 or len(set(ticks.values())) != 1:
                raise AssertionError(f"{name}: the runs disagree: final equity {equity}, ticks {ticks}")
            bars = ticks["local"]  # one 1-minute tick per 1-minute bar
            for run, seconds in best.items():
                table.add_row(name, run, f"{bars:,}", f"{seconds:.2f}", f"{bars / seconds:,.0f}",
                              f"{best['unary'] / seconds:.1f}x", f"{cpu[run] / bars * 1e6:,.0f}")
            console.print(f"{name}: " + ", ".join(f"{run} {bars / s:,.0f} bars/s" for run, s in best.items()))
    console.print(table)


def advance_loop(data_dir: str, days: int, repeats: int, console: Console) -> None:
    """The gateway's own cost per tick of the 15-minute case, in process (no gRPC): Session advances
    to the next 15-minute candle (``answers.advance``, with the account after each tick) over a
    whole run, full (one TickDelta and account per tick) vs compact (columns), best of R."""
    import datetime  # noqa: PLC0415

    from backtestester.wire import answers  # noqa: PLC0415
    from backtestester.wire.requests import create_config  # noqa: PLC0415

    stop = (datetime.date.fromisoformat(START) + datetime.timedelta(days=days)).isoformat()
    req = pb.CreatePolygonPlaygroundRequest(balance=100_000.0, start_date=START, stop_date=stop, environment="simulator",
                                            repositories=[pb.Repository(symbol="BENCH", timespan_multiplier=m,
                                                                        timespan_unit="minute") for m in (1, 15)])
    per_tick = {}
    for _ in range(repeats):
        for compact in (False, True):
            session = answers.created("bench", create_config(req), data_dir)
            ticks = k = 0
            t0 = time.perf_counter()
            while not session.pg.is_backtest_complete:
                out, _ = answers.advance(session, 60, 1024, frozenset({900}), f"a{k}", True, compact=compact)
                ticks, k = ticks + len(out.deltas) + len(out.quiet.times), k + 1
            us = (time.perf_counter() - t0) / ticks * 1e6
            per_tick[compact] = min(per_tick.get(compact, us), us)
    console.print(f"answers.advance in process, {ticks:,} ticks in {k} advances, best of {repeats}: "
                  f"full {per_tick[False]:.1f} µs/tick, compact {per_tick[True]:.1f} µs/tick "
                  f"({per_tick[False] / per_tick[True]:.1f}x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--playground-hosts", type=int, default=0, help="0: in the gateway's process (default)")
    parser.add_argument("--streams", type=int, default=0, help="K > 0: the fairness case with K streams instead")
    parser.add_argument("--no-twirp", action="store_true", help="skip the gRPC and Twirp table")
    parser.add_argument("--strategy-only", action="store_true", help="only SmaCross unary vs Session")
    parser.add_argument("--strategy-days", type=int, default=75, help="calendar days of the SmaCross runs")
    parser.add_argument("--repeats", type=int, default=3, help="SmaCross runs: best of R")
    args = parser.parse_args()
    console = Console()
    ray = init_ray()
    with tempfile.TemporaryDirectory() as data_dir:
        Catalog(data_dir).write("BENCH", "1m", generate_bars("BENCH", start=START, end="2024-03-30", seed=1))
        gateway = spawn(data_dir, name=None, hosts=args.playground_hosts)
        try:
            address = ray.get(gateway.start.remote("127.0.0.1", 0, 0))
            twirp = ray.get(gateway.twirp_address.remote())
            where = f"on {args.playground_hosts} host actors" if args.playground_hosts else "in the gateway's process"
            console.print(f"gateway on {address}, playgrounds {where}; client and server share this machine's cores")
            if args.streams:
                asyncio.run(fairness(address, args.calls, args.streams, console))
            elif not args.strategy_only:
                asyncio.run(drive(address, args.calls, [int(n) for n in args.clients.split(",")], args.seconds,
                                  console, None if args.no_twirp else twirp))
            if not args.streams:
                strategy_runs(address, data_dir, args.strategy_days, args.repeats, console)
                advance_loop(data_dir, args.strategy_days, max(args.repeats, 3), console)
        finally:
            ray.get(gateway.stop.remote(0.5))
            ray.kill(gateway)
    ray.shutdown()


if __name__ == "__main__":
    main()
