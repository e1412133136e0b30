"""The gateway end to end: a real grpc.aio server (OS-chosen port) in the session's embedded Ray,
playgrounds as named actors, a catalog written from the synthetic generator."""
from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.gateway.server import spawn
from backtestester import __version__
from backtestester.data.catalog import Catalog
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import DEADLINE, call, create, error_of, order_req, repo, rfc, running_gateway, session, tick


@pytest.fixture(scope="module")
def gateway(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir) as (gw, address):
        yield gw, address


@pytest.fixture(scope="module")
def channel(gateway):
    ch = grpc.insecure_channel(gateway[1])
    grpc.channel_ready_future(ch).result(timeout=DEADLINE)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel):
    return pb_grpc.PlaygroundServiceStub(channel)


# ---------------------------------------------------------------------------------------------
def test_health_serving_and_version(channel, stub):
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        assert health.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE).status == \
            health_pb2.HealthCheckResponse.SERVING
    assert call(stub, "GetAppVersion", empty_pb2.Empty()).version == __version__


def test_the_full_simulator_flow(stub):
    pid = create(stub, symbols=("AAA", "BBB"))
    start = session(stub, pid).clock.current_time
    assert start == "2024-01-03T09:30:00-05:00"

    # preview: the next time, nothing moves
    preview = tick(stub, pid, 60, preview=True)
    assert preview.current_time == "2024-01-03T09:31:00-05:00" and not preview.new_candles
    assert session(stub, pid).clock.current_time == start

    # tick(0) first (the Python client's idiom): the starting candles are not yet complete (D2)
    first = tick(stub, pid, 0)
    assert first.current_time == start

    # side rule error keeps the original text
    err = error_of(stub, "PlaceOrder", order_req(pid, "sell"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PlaceOrder: side not allowed: cannot sell when no position exists: must sell short" in err.details()

    placed = call(stub, "PlaceOrder", order_req(pid, "buy", 10, tag="t-1"))
    assert placed.id == 1 and placed.status == "pending" and getattr(placed, "class") == "equity"
    assert placed.create_date == "2024-01-03 09:30:00 -0500 EST"

    # the next tick: the order has no price yet at 09:30 (no complete candle), so it fills a tick later
    d1 = tick(stub, pid, 60)
    assert d1.current_time == "2024-01-03T09:31:00-05:00"
    assert {(c.symbol, c.period, c.bar.datetime) for c in d1.new_candles} == {
        ("AAA", 60, "2024-01-03T14:30:00Z"), ("BBB", 60, "2024-01-03T14:30:00Z")}
    aaa_close = next(c.bar.close for c in d1.new_candles if c.symbol == "AAA")
    d2 = d1 if d1.new_trades else tick(stub, pid, 60)
    [trade] = d2.new_trades
    assert trade.order_id == 1 and trade.quantity == 10 and trade.price == aaa_close
    assert trade.create_date == "2024-01-03 09:31:00 -0500 EST"

    acct = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True))
    assert acct.positions["AAA"].quantity == 10 and "BBB" not in acct.positions
    assert acct.meta.playground_id == pid and list(acct.meta.symbols) == ["AAA", "BBB"]
    [o] = acct.orders
    assert o.status == "filled" and len(o.trades) == 1
    none = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True, sides=["sell"]))
    assert not none.orders
    by_symbol = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True, symbols=["aaa"]))
    assert [x.id for x in by_symbol.orders] == [1]

    [open_order] = call(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol="aaa")).orders
    assert open_order.id == 1
    assert not call(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol="BBB")).orders

    # close it: the sell lists the buy in `closes`, and the buy's closed_by records the fill
    sell = call(stub, "PlaceOrder", order_req(pid, "sell", 10))
    d3 = tick(stub, pid, 60)
    assert [t.order_id for t in d3.new_trades] == [sell.id]
    got = call(stub, "GetOrder", pb.GetOrderRequest(order_id=sell.id))
    assert got.status == "filled" and [c.id for c in got.closes] == [1]
    assert got.previous_position.quantity == 10
    assert not call(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol="AAA")).orders

    stats = call(stub, "GetAccountStats", pb.GetAccountStatsRequest(playground_id=pid, equity_plot=True))
    assert len(stats.equity_plot) >= 3 and stats.equity_plot[-1].created_at == d3.current_time
    assert not call(stub, "GetAccountStats", pb.GetAccountStatsRequest(playground_id=pid)).equity_plot

    # GetCandles never goes beyond the clock (D2)
    now = rfc(d3.current_time)
    bars = call(stub, "GetCandles", pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                         fromRTF3339="2024-01-01T00:00:00Z",
                                                         toRTF3339="2030-01-01T00:00:00Z")).bars
    assert bars and all(rfc(b.datetime) + timedelta(minutes=1) <= now for b in bars)
    assert rfc(bars[-1].datetime) + timedelta(minutes=1) == now

    call(stub, "DeletePlayground", pb.DeletePlaygroundRequest(playground_id=pid))
    for rpc, req in (("NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="x")),
                     ("DeletePlayground", pb.DeletePlaygroundRequest(playground_id=pid)),
                     ("GetAccount", pb.GetAccountRequest(playground_id=pid))):
        err = error_of(stub, rpc, req)
        assert err.code() == grpc.StatusCode.NOT_FOUND and "playground not found" in err.details()


def test_next_tick_request_id_is_idempotent(stub):
    pid = create(stub)
    a = tick(stub, pid, 60, request_id="same")
    b = tick(stub, pid, 60, request_id="same")
    assert a == b and session(stub, pid).clock.current_time == a.current_time == "2024-01-03T09:31:00-05:00"
    c = tick(stub, pid, 60, request_id="other")
    assert c.current_time == "2024-01-03T09:32:00-05:00"
    err = error_of(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "request id is empty" in err.details()


def test_place_order_client_request_id_is_idempotent(stub):
    pid = create(stub)
    first = call(stub, "PlaceOrder", order_req(pid, "buy", 5, client_request_id="abc"))
    again = call(stub, "PlaceOrder", order_req(pid, "buy", 5, client_request_id="abc"))
    assert first == again and first.client_request_id == "abc"
    acct = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True))
    assert len(acct.orders) == 1


def test_backtest_complete_is_failed_precondition(stub):
    pid = create(stub, start="2024-01-03", stop="2024-01-03")
    done = tick(stub, pid, 7 * 3600)
    assert done.is_backtest_complete
    err = error_of(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="late"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "backtest complete: clock expired" in err.details()


def test_create_errors_and_client_id(stub):
    bad = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo("NOPE")])
    err = error_of(stub, "CreatePlayground", bad)
    assert err.code() == grpc.StatusCode.NOT_FOUND and "NOPE" in err.details()
    bad = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo("AAA", 7, "minute")])
    err = error_of(stub, "CreatePlayground", bad)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "unsupported timespan 7 minute" in err.details()
    bad = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="2024-01-03", stop_date="2024-01-04",
                                            environment="simulator")
    err = error_of(stub, "CreatePlayground", bad)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "missing repositories" in err.details()
    bad = pb.CreatePolygonPlaygroundRequest(balance=1000, start_date="03/01/2024", stop_date="2024-01-04",
                                            environment="simulator", repositories=[repo()])
    err = error_of(stub, "CreatePlayground", bad)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "failed to parse clock.startDate" in err.details()
    # data outside the catalog's range is a clear NOT_FOUND at creation (D18/D19)
    err = error_of(stub, "CreatePlayground", pb.CreatePolygonPlaygroundRequest(
        balance=1000, start_date="2025-01-03", stop_date="2025-01-04", environment="simulator", repositories=[repo()]))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "AAA" in err.details()

    cid = f"client-{uuid.uuid4().hex}"
    assert create(stub, client_id=cid) == create(stub, client_id=cid)


def test_get_playgrounds_filters_by_tags(stub):
    tag = uuid.uuid4().hex
    both = create(stub, tags=(tag, "two"))
    one = create(stub, tags=(tag,))
    ids = lambda tags: {p.playground_id for p in call(stub, "GetPlaygrounds", pb.GetPlaygroundsRequest(tags=tags)).playgrounds}
    assert ids([tag]) == {both, one}
    assert ids([tag, "two"]) == {both}
    s = session(stub, both)
    assert list(s.meta.tags) == [tag, "two"] and s.repositories[0].symbol == "AAA" and s.balance == 100_000


def test_bad_requests_are_invalid_argument(stub):
    pid = create(stub)
    err = error_of(stub, "PlaceOrder", order_req(pid, "buy", 0))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "quantity must be greater than 0" in err.details()
    err = error_of(stub, "PlaceOrder", order_req(pid, "buy", 1, symbol="ZZZ"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "symbol ZZZ not found in repos" in err.details()
    err = error_of(stub, "GetCandles", pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                            fromRTF3339="yesterday"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "fromRTF3339" in err.details()
    err = error_of(stub, "GetCandles", pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=300,
                                                            fromRTF3339="2024-01-03T00:00:00Z"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # GetOpenOrders of a symbol not held is an empty list (the original's answer): test_fidelity.py
    err = error_of(stub, "GetOrder", pb.GetOrderRequest(order_id=987654))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_live_only_rpcs_are_unimplemented(stub):
    for rpc, req in (("CreateLivePlayground", pb.CreateLivePlaygroundRequest()),
                     ("GetReconciliationReport", pb.GetReconciliationReportRequest()),
                     ("GetEquityReport", pb.GetEquityReportRequest()),
                     ("MockFillOrder", pb.MockFillOrderRequest())):
        err = error_of(stub, rpc, req)
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED and "live trading is off" in err.details()


def test_stream_ticks(stub):
    pid = create(stub)
    deltas = list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, max_ticks=3), timeout=DEADLINE))
    assert [d.current_time for d in deltas] == [f"2024-01-03T09:3{i}:00-05:00" for i in (1, 2, 3)]


def test_daily_summary_from_the_catalog(stub, catalog_dir):
    daily = Catalog(catalog_dir).load("AAA", "1d", "2024-01-03", "2024-01-04")
    got = call(stub, "GetDailyTickerSummaryFromPolygon", pb.GetDailyTickerSummaryFromPolygonRequest(
        symbol="aaa", date="2024-01-03"))
    assert (got.open, got.close, got.volume) == (daily["open"][0].as_py(), daily["close"][0].as_py(),
                                                 int(daily["volume"][0].as_py()))
    err = error_of(stub, "GetDailyTickerSummaryFromPolygon", pb.GetDailyTickerSummaryFromPolygonRequest(
        symbol="NOPE", date="2024-01-03"))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_a_second_server_cannot_share_the_port(ray_cluster, gateway, tmp_path):
    ray = ray_cluster
    port = int(gateway[1].rsplit(":", 1)[1])
    second = spawn(str(tmp_path), name=None)  # another data directory: the first one's is locked
    try:
        with pytest.raises(Exception, match="cannot listen"):
            ray.get(second.start.remote("127.0.0.1", port), timeout=60)
    finally:
        ray.kill(second)


def test_stream_candles_arrow_matches_get_candles(stub):
    import pyarrow as pa

    pid = create(stub, history=1)
    for _ in range(5):
        tick(stub, pid, 60)
    req = pb.GetCandlesRequest(playground_id=pid, symbol="aaa", period_in_seconds=60, fromRTF3339="2024-01-01T00:00:00Z",
                               toRTF3339="2030-01-01T00:00:00Z")
    bars = call(stub, "GetCandles", req).bars
    msgs = list(stub.StreamCandlesArrow(req, timeout=DEADLINE))
    table = pa.concat_tables(pa.ipc.open_stream(m.ipc).read_all() for m in msgs)
    assert table.schema.metadata[b"symbol"] == b"AAA" and table.schema.metadata[b"period_in_seconds"] == b"60"
    assert table.column_names == ["start", "open", "high", "low", "close", "volume"]
    assert table.num_rows == len(bars) > 390  # the history day (2024-01-02) and today's first minutes
    assert table["close"].to_pylist() == [b.close for b in bars]
    assert [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in table["start"].to_pylist()] == [b.datetime for b in bars]
    # an empty selection still carries the schema
    empty = pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60, fromRTF3339="2029-01-01T00:00:00Z")
    [msg] = list(stub.StreamCandlesArrow(empty, timeout=DEADLINE))
    assert pa.ipc.open_stream(msg.ipc).read_all().num_rows == 0
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamCandlesArrow(pb.GetCandlesRequest(playground_id="nope", symbol="AAA", period_in_seconds=60,
                                                          fromRTF3339="2024-01-01T00:00:00Z"), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_typed_client_against_the_server(gateway):
    from backtestester.remote.client import PlaygroundClient

    with PlaygroundClient(gateway[1], timeout=DEADLINE) as client:
        assert client.version() == __version__
        pid = client.create_playground(balance=50_000, start_date="2024-01-03", stop_date="2024-01-04",
                                       repositories=[("AAA", 1, "minute")], tags=["typed"])
        client.next_tick(pid, 60)
        order = client.place_order(pid, "AAA", "buy", 3, requested_price=100)
        delta = client.next_tick(pid, 60)
        assert [t.order_id for t in delta.new_trades] == [order.id]
        assert client.get_account(pid).positions["AAA"].quantity == 3
        assert [o.id for o in client.get_open_orders(pid, "AAA")] == [order.id]
        assert len(client.get_candles(pid, "AAA", 60, "2024-01-03T00:00:00Z")) == 2
        assert len(client.equity_plot(pid)) == 2
        assert pid in {s.playground_id for s in client.get_playgrounds(["typed"])}
        client.delete_playground(pid)
        with pytest.raises(grpc.RpcError) as info:
            client.next_tick(pid, 60)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_concurrent_clients_on_many_playgrounds(gateway):
    """8 threads, each driving its own playground; results identical to one playground driven alone."""
    from concurrent.futures import ThreadPoolExecutor

    from backtestester.remote.client import PlaygroundClient

    def run(i):
        with PlaygroundClient(gateway[1], timeout=DEADLINE) as client:
            pid = client.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                           repositories=[("AAA", 1, "minute")], tags=["concurrent"])
            client.next_tick(pid, 60)
            client.place_order(pid, "AAA", "buy", 1 + i % 3, requested_price=100)
            times = [client.next_tick(pid, 60).current_time for _ in range(20)]
            acct = client.get_account(pid)
            client.delete_playground(pid)
            return times, acct.positions["AAA"].quantity, acct.positions["AAA"].cost_basis

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    for i, (times, qty, cost) in enumerate(results):
        assert times == results[0][0] and qty == 1 + i % 3 and cost == results[0][2]


def test_reflection_lists_the_service(channel):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    [resp] = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                            timeout=DEADLINE))
    names = {s.name for s in resp.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_stream_ticks_preview_and_request_id_replay(stub):
    pid = create(stub)
    [preview] = list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, is_preview=True),
                                      timeout=DEADLINE))
    assert preview.current_time == "2024-01-03T09:31:00-05:00"
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, is_preview=True, max_ticks=2),
                              timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_ticks must be 0 or 1" in info.value.details()
    first = list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, max_ticks=2, request_id="s"),
                                  timeout=DEADLINE))
    # a retried stream with the same id replays the two ticks, then continues from the clock
    again = list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, max_ticks=3, request_id="s"),
                                  timeout=DEADLINE))
    assert again[:2] == first and again[2].current_time == "2024-01-03T09:33:00-05:00"


def test_a_huge_tick_completes_the_backtest(stub):
    pid = create(stub)
    done = tick(stub, pid, 2**64 - 1)
    assert done.is_backtest_complete and done.current_time == "2024-01-04T16:00:00-05:00"


def test_serve_prints_the_address_and_stops_on_sigterm(tmp_path):
    """`serve()` in its own process (its own embedded Ray): address on stdout, SERVING, SIGTERM -> exit 0."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from actors.gateway.server import serve; "
            "serve('127.0.0.1', 0, sys.argv[1])")
    # its own data directory: the module's gateway holds the catalog's lock
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the server is up (or the process dies: "")
        assert line.startswith("backtestester gateway listening on 127.0.0.1:"), (line, proc.poll())
        address = line.split()[4]
        with grpc.insecure_channel(address) as ch:
            got = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                       timeout=DEADLINE)
            assert got.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
