"""The typed client against a real gateway (OS-chosen port, the session's embedded Ray): retries
with back-off on a server's UNAVAILABLE, none on business errors, the two streams, and the
candle indicators of CreatePlayground's repositories (spec 4.8)."""
from __future__ import annotations

from datetime import timedelta

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.gateway.server import spawn
from backtestester import __version__
from backtestester.data.catalog import Catalog
from backtestester.data.indicators import add_indicators
from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb

from .conftest import DEADLINE, kill_host, rfc, running_gateway, write_catalog

START = "2024-01-03T09:30:00-05:00"


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("client-catalog"), first_seed=3)


@pytest.fixture(scope="module")
def gateway(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-client", hosts=2) as started:  # a host to kill
        yield started


@pytest.fixture(scope="module")
def client(gateway):
    with PlaygroundClient(gateway[1], timeout=DEADLINE) as c:
        yield c


class Counter(grpc.UnaryUnaryClientInterceptor):
    """Records the method of every attempt the channel sends."""

    def __init__(self):
        self.calls = []

    def intercept_unary_unary(self, continuation, details, request):
        self.calls.append(details.method.rsplit("/", 1)[1])
        return continuation(details, request)


def create(client, *, stop="2024-01-04", **repo):
    spec = pb.Repository(symbol=repo.pop("symbol", "AAA"), timespan_multiplier=1, timespan_unit="minute", **repo)
    return client.create_playground(balance=100_000, start_date="2024-01-03", stop_date=stop, repositories=[spec])


def clock(client, pid) -> str:
    [s] = [s for s in client.get_playgrounds() if s.playground_id == pid]
    return s.clock.current_time


# --- retries --------------------------------------------------------------------------------------
def test_server_unavailable_is_retried_with_backoff_and_business_errors_are_not(ray_cluster, gateway):
    ray = ray_cluster
    counter, delays = Counter(), []
    channel = grpc.intercept_channel(grpc.insecure_channel(gateway[1]), counter)
    with PlaygroundClient(channel=channel, timeout=DEADLINE, retries=4, backoff=0.05, max_backoff=0.15,
                          sleep=delays.append) as client:
        pid = create(client)
        client.next_tick(pid, 60)
        order = client.place_order(pid, "AAA", "buy", 1, requested_price=100)
        assert delays == []

        # business errors: one attempt each, no back-off
        counter.calls.clear()
        for call, code in ((lambda: client.next_tick("no-such-playground", 60), grpc.StatusCode.NOT_FOUND),
                           (lambda: client.place_order(pid, "AAA", "buy", 0, requested_price=100),
                            grpc.StatusCode.INVALID_ARGUMENT),
                           (lambda: client.get_order(0), grpc.StatusCode.NOT_FOUND)):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == code
        assert counter.calls == ["NextTick", "PlaceOrder", "GetOrder"] and delays == []

        # the playground's host dies: the server answers UNAVAILABLE, and the client retries
        kill_host(ray, ray.get(gateway[0].playground_host.remote(pid)))
        counter.calls.clear()
        with pytest.raises(grpc.RpcError) as info:
            client.next_tick(pid, 60)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE and pid in info.value.details()
        assert counter.calls == ["NextTick"] * 5             # the first attempt and 4 retries
        assert delays == [0.05, 0.1, 0.15, 0.15]             # doubling, capped at max_backoff
        assert order.id == 1
        client.delete_playground(pid)


def test_a_call_outlasts_a_gateway_that_is_not_up_yet(ray_cluster, tmp_path):
    """Nothing listens on the (OS-chosen) port: UNAVAILABLE, retried; the gateway comes up during
    the second back-off (the injected sleep starts it and waits until the channel connects), and
    the third attempt succeeds."""
    ray = ray_cluster
    gw = spawn(str(tmp_path), name=None)  # not the module gateway's data directory: that one is locked
    try:
        address = ray.get(gw.start.remote("127.0.0.1", 0), timeout=60)
        ray.get(gw.stop.remote(0), timeout=30)           # the port is free again: nothing listens
        host, port = address.rsplit(":", 1)
        channel = grpc.insecure_channel(address)
        delays = []

        def sleep(seconds):
            delays.append(seconds)
            if len(delays) == 2:
                assert ray.get(gw.start.remote(host, int(port)), timeout=60) == address
                grpc.channel_ready_future(channel).result(timeout=DEADLINE)

        with PlaygroundClient(channel=channel, timeout=DEADLINE, retries=4, backoff=0.05, sleep=sleep) as client:
            assert client.version() == __version__
        assert delays == [0.05, 0.1]
    finally:
        try:
            ray.get(gw.stop.remote(0.5), timeout=30)
        finally:
            ray.kill(gw)


# --- streams --------------------------------------------------------------------------------------
def test_stream_ticks_delivers_deltas_and_resumes_by_request_id(client):
    pid = create(client)
    stream = client.stream_ticks(pid, 60, max_ticks=3, request_id="resume")
    first = list(stream)
    assert [d.current_time for d in first] == [f"2024-01-03T09:3{i}:00-05:00" for i in (1, 2, 3)]
    assert stream.delivered == 3
    # the same request id replays (the client's retry path): nothing ticks again
    assert list(client.stream_ticks(pid, 60, max_ticks=3, request_id="resume")) == first
    assert clock(client, pid) == "2024-01-03T09:33:00-05:00"
    # a preview stream: one delta, nothing moves
    [preview] = list(client.stream_ticks(pid, 60, preview=True))
    assert preview.current_time == "2024-01-03T09:34:00-05:00" and clock(client, pid) == first[-1].current_time
    client.delete_playground(pid)


def test_stream_ticks_cancelled_mid_stream(gateway, client):
    """The client cancels an unbounded stream after three deltas. The server stays healthy, the
    three deltas were the stream's first ticks, and the playground's clock is where the deltas of
    the ticks the server ran say (ticks whose deltas were still in flight at the cancel are
    replayed by the same request id without ticking again)."""
    pid = create(client)
    got = []
    with client.stream_ticks(pid, 60, request_id="cancel-me") as stream:  # max_ticks 0: to the end
        for delta in stream:
            got.append(delta)
            if len(got) == 3:
                stream.cancel()
    assert [d.current_time for d in got] == [f"2024-01-03T09:3{i}:00-05:00" for i in (1, 2, 3)]
    assert stream.delivered == 3

    with grpc.insecure_channel(gateway[1]) as ch:
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                      timeout=DEADLINE).status
    assert status == health_pb2.HealthCheckResponse.SERVING

    now = clock(client, pid)
    ran = (rfc(now) - rfc(START)) // timedelta(minutes=1)   # ticks run by the server (one session)
    assert 3 <= ran < 780  # it stopped: the stream would have run the two days' 780 ticks
    replay = list(client.stream_ticks(pid, 60, max_ticks=ran, request_id="cancel-me"))
    assert replay[:3] == got and replay[-1].current_time == now
    assert [rfc(d.current_time) for d in replay] == [rfc(START) + timedelta(minutes=i + 1) for i in range(ran)]
    assert clock(client, pid) == now                         # replays do not tick
    # the playground and the server keep working
    after = client.next_tick(pid, 60)
    assert rfc(after.current_time) > rfc(now)
    other = create(client, symbol="BBB")
    assert client.next_tick(other, 60).current_time == "2024-01-03T09:31:00-05:00"
    for p in (pid, other):
        client.delete_playground(p)


def test_stream_candles_arrow_returns_a_table_equal_to_get_candles(client):
    pid = create(client, history_in_days=1)
    client.next_tick(pid, 300)
    table = client.stream_candles_arrow(pid, "aaa", 60, "2024-01-01T00:00:00Z")
    bars = client.get_candles(pid, "AAA", 60, "2024-01-01T00:00:00Z")
    assert table.column_names == ["start", "open", "high", "low", "close", "volume"]
    assert table.schema.metadata[b"symbol"] == b"AAA" and table.num_rows == len(bars) == 390 + 5
    assert table["close"].to_pylist() == [b.close for b in bars]
    assert [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in table["start"].to_pylist()] == [b.datetime for b in bars]
    assert client.stream_candles_arrow(pid, "AAA", 60, "2029-01-01T00:00:00Z").num_rows == 0
    with pytest.raises(grpc.RpcError) as info:
        client.stream_candles_arrow(pid, "ZZZ", 60, "2024-01-01T00:00:00Z")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    client.delete_playground(pid)


# --- indicators (spec 4.8) ------------------------------------------------------------------------
REQUESTED = ["supertrend", "moving_averages", "atr", "stochrsi_cross_above_20", "doji", "lag_features"]


def test_get_candles_carries_the_requested_indicators(client, catalog_dir):
    pid = create(client, indicators=REQUESTED, history_in_days=1)
    ticks = [client.next_tick(pid, 60) for _ in range(30)]
    bars = client.get_candles(pid, "AAA", 60, "2024-01-01T00:00:00Z")
    assert len(bars) == 390 + 30  # the history day and the ticks' candles, never beyond the clock

    # the same bars the playground loaded (history + range), through the indicators module
    table = Catalog(catalog_dir).load("AAA", "1m", "2024-01-02", "2024-01-05", calendar="XNYS")
    cols = {c: table[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    expected = add_indicators(cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], REQUESTED)
    assert {"superT_50_3", "superD_50_3", "sma_200", "atr_14", "stochrsi_cross_above_20", "cdl_doji_10_0_1",
            "close_lag_20"} <= set(expected)
    n = len(bars)
    assert [b.close for b in bars] == cols["close"][:n].tolist()
    for field, values in expected.items():
        want = values[:n].astype(int).tolist() if field == "superD_50_3" else values[:n].tolist()
        assert [getattr(b, field) for b in bars] == want, field
    assert any(b.sma_200 for b in bars) and any(b.superT_50_3 for b in bars) and any(b.cdl_doji_10_0_1 for b in bars)

    # fields of indicators that were not requested stay 0 / false
    for field in ("stochrsi_k_14_14_3_3", "stochrsi_d_14_14_3_3", "stochrsi_cross_below_80", "cdl_hammer"):
        assert not any(getattr(b, field) for b in bars), field

    # a tick's new candle carries them too, and StreamCandlesArrow has them as columns
    assert ticks[-1].new_candles[0].bar == bars[-1]
    arrow = client.stream_candles_arrow(pid, "AAA", 60, "2024-01-01T00:00:00Z")
    assert arrow.column_names[:6] == ["start", "open", "high", "low", "close", "volume"]
    assert set(arrow.column_names[6:]) == set(expected)
    assert str(arrow.schema.field("superD_50_3").type) == "int32"
    assert str(arrow.schema.field("stochrsi_cross_above_20").type) == "bool"
    for field, values in expected.items():
        assert np.array_equal(arrow[field].to_numpy(), values[:n].astype(arrow[field].to_numpy().dtype)), field

    # without indicators every indicator field is 0
    plain = create(client, history_in_days=1)
    client.next_tick(plain, 60)
    plain_bars = client.get_candles(plain, "AAA", 60, "2024-01-01T00:00:00Z")
    assert all(b == pb.Bar(open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume, datetime=b.datetime)
               for b in plain_bars)
    for p in (pid, plain):
        client.delete_playground(p)
