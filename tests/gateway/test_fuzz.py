"""Hostile input against a real gateway (issue 12, items 6 and 7): the cases a fault and fuzz
campaign found (each was INTERNAL, or an error text that echoed unbounded input or the server's
data directory), then a fuzz test of every RPC of ``playground.PlaygroundService`` with a fixed
seed. A real grpc.aio gateway in the session's embedded Ray, on an OS-chosen loopback port."""
from __future__ import annotations

import math
import random
import uuid

import grpc
import pytest
from google.protobuf import empty_pb2
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.gateway.service import MAX_ERROR_CHARS, client_text
from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc
from backtestester.service.store import PlaygroundStore, store_path

from .conftest import DEADLINE, call, create, error_of, repo, running_gateway, tick, write_catalog

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
HEALTH = "/grpc.health.v1.Health/Check"
MAX_DETAIL = 2048  # bytes of an error text a client may receive (the fuzz test's bound)


@pytest.fixture(scope="module")
def gateway(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, name="gateway-fuzz") as (gw, address):
        yield address


@pytest.fixture(scope="module")
def channel(gateway):
    ch = grpc.insecure_channel(gateway)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel):
    return pb_grpc.PlaygroundServiceStub(channel)


@pytest.fixture(scope="module")
def pid(stub):
    """One playground on AAA 1m (2024-01-03 to 2024-01-04) for the calls that need one."""
    return create(stub)


def create_req(start="2024-01-03", stop="2024-01-04", symbol="AAA", history=0):
    return pb.CreatePolygonPlaygroundRequest(balance=1000.0, start_date=start, stop_date=stop,
                                             environment="simulator", repositories=[repo(symbol, history=history)])


def refused(stub, rpc, request, code=grpc.StatusCode.INVALID_ARGUMENT, *words) -> str:
    """The details of the refusal of ``request``, asserting its status and that they name ``words``."""
    err = error_of(stub, rpc, request)
    assert err.code() == code, (rpc, err.code(), err.details())
    for word in words:
        assert word in err.details(), (word, err.details())
    return err.details()


# --- item 6: bad input that was INTERNAL ---------------------------------------------------------
@pytest.mark.parametrize("start, stop", [("9999-12-30", "9999-12-31"), ("2024-01-03", "9999-12-31"),
                                         ("0001-01-01", "0001-01-02")])
def test_create_with_dates_at_the_ends_of_the_calendar_is_invalid_argument(stub, start, stop):
    # was INTERNAL (OverflowError / numpy datetime64 out of range while loading bars)
    refused(stub, "CreatePlayground", create_req(start, stop), grpc.StatusCode.INVALID_ARGUMENT, "clock.")


def test_create_with_history_reaching_before_year_1_is_invalid_argument(stub):
    # 0005-01-03 minus 3,000 days is before 0001-01-01: was INTERNAL (OverflowError in date arithmetic)
    refused(stub, "CreatePlayground", create_req("0005-01-03", "0005-01-04", history=3000),
            grpc.StatusCode.INVALID_ARGUMENT, "clock.startDate", "1679-01-01")
    # a supported start whose history reaches before the first supported date names the history
    refused(stub, "CreatePlayground", create_req("1680-01-03", "1680-01-04", history=3000),
            grpc.StatusCode.INVALID_ARGUMENT, "history_in_days 3000", "1679-01-01")


def test_create_with_a_300_character_symbol_is_invalid_argument(stub):
    # was INTERNAL (the catalog made a 300-character directory name: OSError "File name too long")
    details = refused(stub, "CreatePlayground", create_req(symbol="A" * 300), grpc.StatusCode.INVALID_ARGUMENT,
                      "symbol", "300 characters")
    assert "A" * 100 not in details  # the symbol is shown truncated


def test_daily_summary_on_9999_12_31_is_invalid_argument(stub):
    # was INTERNAL (the day after 9999-12-31 does not exist)
    refused(stub, "GetDailyTickerSummaryFromPolygon", pb.GetDailyTickerSummaryFromPolygonRequest(
        symbol="AAA", date="9999-12-31"), grpc.StatusCode.INVALID_ARGUMENT, "date")


def test_get_candles_with_an_empty_symbol_is_invalid_argument(stub, pid):
    # was INTERNAL (ValueError from the engine's symbol rule)
    for rpc in ("GetCandles", "GetOpenOrders"):
        request = (pb.GetCandlesRequest(playground_id=pid, symbol=" ", period_in_seconds=60,
                                        fromRTF3339="2024-01-03T00:00:00Z") if rpc == "GetCandles"
                   else pb.GetOpenOrdersRequest(playground_id=pid, symbol=""))
        refused(stub, rpc, request, grpc.StatusCode.INVALID_ARGUMENT, "symbol")
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamCandlesArrow(pb.GetCandlesRequest(playground_id=pid, symbol="", period_in_seconds=60,
                                                          fromRTF3339="2024-01-03T00:00:00Z"), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()


def test_garbage_bytes_to_server_reflection_are_invalid_argument(channel):
    # was INTERNAL: the streaming request's parse error reached the reflection handler
    raw = channel.stream_stream(REFLECTION)  # no serializers: the bytes go out as they are
    with pytest.raises(grpc.RpcError) as info:
        list(raw(iter([b"\xff\xff\xff\x01garbage"]), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "malformed request" in info.value.details()


def test_next_tick_with_the_largest_step_runs_to_the_end(stub):
    # a guard (it passed before): the clock stops at the playground's end, nothing overflows
    pid = create(stub)
    assert tick(stub, pid, 2**64 - 1).is_backtest_complete


@pytest.mark.parametrize("field, value", [("quantity", math.nan), ("quantity", math.inf),
                                          ("requested_price", math.nan), ("requested_price", -math.inf),
                                          ("price", math.nan), ("sl", math.inf)])
def test_place_order_with_a_non_finite_number_is_invalid_argument(stub, pid, field, value):
    request = pb.PlaceOrderRequest(playground_id=pid, symbol="AAA", asset_class="equity", quantity=10, side="buy",
                                   type="limit", duration="day", requested_price=100.0, price=90.0)
    setattr(request, field, value)
    refused(stub, "PlaceOrder", request, grpc.StatusCode.INVALID_ARGUMENT, field)


# --- item 7: what error texts show ---------------------------------------------------------------
def test_a_100_kb_date_is_refused_with_a_short_message_a_default_client_receives(stub):
    # the text used to echo all 100 KB: more than a default client accepts in trailers
    details = refused(stub, "CreatePlayground", create_req(start="2" * 100_000), grpc.StatusCode.INVALID_ARGUMENT,
                      "clock.startDate", "(100000 characters)")
    assert len(details.encode()) < 1024, len(details)


def test_an_unknown_symbol_names_neither_the_data_directory_nor_other_symbols(stub, pid, catalog_dir):
    for rpc, request in (("CreatePlayground", create_req(symbol="ZZZ")),
                         ("GetDailyTickerSummaryFromPolygon",
                          pb.GetDailyTickerSummaryFromPolygonRequest(symbol="ZZZ", date="2024-01-03"))):
        details = refused(stub, rpc, request, grpc.StatusCode.NOT_FOUND, "ZZZ")
        assert str(catalog_dir) not in details and "BBB" not in details, details
        assert "/" not in details, details  # no path of any kind


def test_client_texts_hide_the_data_directory_and_are_cut(tmp_path, monkeypatch):
    # pure: the last guard of every refusal's text (the status mapping applies it)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (tmp_path / "link").symlink_to(data_dir)
    assert client_text(f"cannot read {data_dir}/AAA/1m.parquet", str(tmp_path / "link")) == \
        "cannot read <data_dir>/AAA/1m.parquet"  # the resolved path too
    monkeypatch.chdir(tmp_path)
    assert client_text(f"no data in {data_dir}: no data for symbol 'X'", "data") == \
        "no data in <data_dir>: no data for symbol 'X'"  # a relative directory never replaces words
    assert client_text("x" * 5000) == "x" * MAX_ERROR_CHARS + f"... (cut at {MAX_ERROR_CHARS} of 5000 characters)"


def test_an_engine_text_echoing_100_kb_is_cut(stub, pid):
    # the engine's spec texts echo the side as given ("invalid order side: %s"): the status mapping cuts them
    request = pb.PlaceOrderRequest(playground_id=pid, symbol="AAA", asset_class="equity", quantity=1,
                                   side="x" * 100_000, type="market", duration="day", requested_price=100.0)
    details = refused(stub, "PlaceOrder", request, grpc.StatusCode.INVALID_ARGUMENT, "invalid order side: xxx",
                      f"(cut at {MAX_ERROR_CHARS} of ")
    assert len(details) < MAX_ERROR_CHARS + 100


def test_a_store_failure_names_the_file_relative_to_the_data_directory(ray_cluster, tmp_path):
    # the session's "could not be saved (<path>: ...)" used to show the server's absolute path
    data_dir = write_catalog(tmp_path / "private")
    with running_gateway(ray_cluster, data_dir, name="gateway-paths") as (gw, address), \
            grpc.insecure_channel(address) as ch:
        stub = pb_grpc.PlaygroundServiceStub(ch)
        pid = create(stub)
        call(stub, "SavePlayground", pb.SavePlaygroundRequest(playground_id=pid))
        PlaygroundStore(store_path(data_dir)).delete(pid)  # the next write fails (its rows are gone)
        err = error_of(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="r"))
        assert err.code() == grpc.StatusCode.UNAVAILABLE and "could not be saved" in err.details()
        assert "<data_dir>/gateway.sqlite3" in err.details() and str(tmp_path) not in err.details(), err.details()


# --- the fuzz test ---------------------------------------------------------------------------------
SERVICE = pb.DESCRIPTOR.services_by_name["PlaygroundService"]
LIVE_ONLY = {"CreateLivePlayground", "GetReconciliationReport", "GetEquityReport", "MockFillOrder", "GetBrokerHealth",
             "PushBars", "SettleIntent"}
EXPECTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED}
RANDOM_BYTES, MUTATIONS = 4, 30  # per RPC: about 560 requests for the 18 RPCs
STREAM_ITEMS = 20  # messages read from a stream before the client cancels it

STRINGS = ["", " ", "x" * 300, "9" * 100_000, "ü😀\u0000\u202e", "9999-12-31", "0001-01-01", "0000-00-00",
           "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2024-01-03T10:00:00", "NaN", "-1",
           "../../../etc/passwd", "%s%n{0}", "buy", "sell_short", "limit", "gtc", "minute", "day", "AAA", "live"]
INTS = {"int32": [0, 1, -1, -2**31, 2**31 - 1], "uint32": [0, 1, 59, 2**32 - 1],
        "int64": [0, 1, -1, -2**63, 2**63 - 1], "uint64": [0, 1, 2**63 - 1, 2**64 - 1]}
FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, 100.0]


def template(method, pid: str):
    """A valid request of ``method`` on playground ``pid`` (the start of its mutations); for an RPC
    not listed here, its empty request with ``playground_id`` set if it has one."""
    t = "2024-01-03T14:30:00Z"
    listed = {
        "CreatePlayground": lambda: create_req(),
        "CreateLivePlayground": lambda: pb.CreateLivePlaygroundRequest(balance=1.0, repositories=[repo()]),
        "GetPlaygrounds": lambda: pb.GetPlaygroundsRequest(tags=["a"]),
        "GetOrder": lambda: pb.GetOrderRequest(order_id=1),
        "NextTick": lambda: pb.NextTickRequest(playground_id=pid, seconds=60, request_id="r"),
        "PlaceOrder": lambda: pb.PlaceOrderRequest(playground_id=pid, symbol="AAA", asset_class="equity", quantity=1,
                                                   side="buy", type="limit", duration="day", requested_price=100,
                                                   price=99.0, client_request_id="c"),
        "GetAccount": lambda: pb.GetAccountRequest(playground_id=pid, fetch_orders=True, fromRTF3339=t, toRTF3339=t,
                                                   symbols=["AAA"]),
        "GetCandles": lambda: pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                   fromRTF3339="2024-01-02T00:00:00Z", toRTF3339=t),
        "StreamCandlesArrow": lambda: pb.GetCandlesRequest(playground_id=pid, symbol="AAA", period_in_seconds=60,
                                                           fromRTF3339="2024-01-02T00:00:00Z"),
        "GetOpenOrders": lambda: pb.GetOpenOrdersRequest(playground_id=pid, symbol="AAA"),
        "GetDailyTickerSummaryFromPolygon": lambda: pb.GetDailyTickerSummaryFromPolygonRequest(symbol="AAA",
                                                                                               date="2024-01-03"),
        "StreamTicks": lambda: pb.StreamTicksRequest(playground_id=pid, seconds=3600, max_ticks=3, request_id="s"),
    }.get(method.name)
    if listed is not None:
        return listed()
    message = GetMessageClass(method.input_type)()
    if "playground_id" in message.DESCRIPTOR.fields_by_name:
        message.playground_id = pid
    return message


def random_value(rng: random.Random, field):
    """An extreme or odd value for a scalar ``field``."""
    fd = field
    if fd.type == fd.TYPE_STRING:
        return rng.choice(STRINGS)
    if fd.type == fd.TYPE_BOOL:
        return rng.random() < 0.5
    if fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        return rng.choice(FLOATS)
    kind = {fd.TYPE_INT32: "int32", fd.TYPE_SINT32: "int32", fd.TYPE_UINT32: "uint32", fd.TYPE_INT64: "int64",
            fd.TYPE_SINT64: "int64", fd.TYPE_UINT64: "uint64"}.get(fd.type)
    if kind is None:
        raise AssertionError(f"the fuzzer does not know field type {fd.type} of {fd.full_name}: teach it")
    return rng.choice(INTS[kind])


def mutate(rng: random.Random, message) -> None:
    """Set one field of ``message`` (or of a message inside it) to an extreme value."""
    field = rng.choice(message.DESCRIPTOR.fields)
    repeated = field.is_repeated
    if field.type == field.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            return
        target = getattr(message, field.name)
        inner = (target[0] if target else target.add()) if repeated else target
        mutate(rng, inner)
        return
    value = random_value(rng, field)
    if repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def requests_for(rng: random.Random, method, pid: str):
    """``(what, bytes)`` pairs: random bytes, then mutations of the RPC's valid request."""
    for _ in range(RANDOM_BYTES):
        data = rng.randbytes(rng.randrange(0, 200))
        yield f"random bytes {data!r}", data
    for _ in range(MUTATIONS if template(method, pid).DESCRIPTOR.fields else 0):
        message = template(method, pid)
        for _ in range(rng.randint(1, 3)):
            mutate(rng, message)
        yield f"{type(message).__name__} {shown_message(message)}", message.SerializeToString()


def shown_message(message) -> str:
    """A request as text for a failure report (long strings cut, so the report stays readable)."""
    fields = []
    for field, value in message.ListFields():
        text = repr(value)
        fields.append(f"{field.name}={text[:80]}{'...' if len(text) > 80 else ''}")
    return "{" + ", ".join(fields) + "}"


def send(channel, method, data: bytes):
    """The RPC's answer to ``data`` on a raw channel: ``None`` when OK, else the ``grpc.RpcError``."""
    path = f"/{SERVICE.full_name}/{method.name}"
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path)(data, timeout=DEADLINE)
            for i, _ in enumerate(stream):
                if i + 1 >= STREAM_ITEMS:
                    stream.cancel()
                    break
        else:
            channel.unary_unary(path)(data, timeout=DEADLINE)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.CANCELLED and method.server_streaming:
            return None
        return exc
    return None


def test_fuzz_every_rpc_with_a_fixed_seed(stub, channel, catalog_dir):
    """Random bytes and mutated valid requests for EVERY RPC of the service (iterating its
    descriptor, so a new RPC is covered): every answer is OK or an expected refusal (never INTERNAL
    or UNKNOWN), every error text is short and names no server path; the server still works."""
    rng = random.Random(12)
    paths = {str(catalog_dir), str(catalog_dir.resolve())}
    failures, count = [], 0
    for method in SERVICE.methods:
        pid = create(stub)  # a playground per RPC: another RPC's mutations cannot finish or delete it
        expected = EXPECTED | ({grpc.StatusCode.UNIMPLEMENTED} if method.name in LIVE_ONLY else set())
        for what, data in requests_for(rng, method, pid):
            count += 1
            err = send(channel, method, data)
            if err is None:
                continue
            details = err.details() or ""
            problems = ([f"status {err.code().name}"] * (err.code() not in expected)
                        + ["an error text too large for the client"] * ("metadata size" in details)
                        + [f"details of {len(details.encode())} bytes"] * (len(details.encode()) >= MAX_DETAIL)
                        + ["a server path in the details"] * any(p in details for p in paths))
            if problems:
                failures.append(f"{method.name}: {', '.join(problems)}: {details[:300]!r}\n    request: {what[:2000]}")
    for path, streams in ((HEALTH, False), (REFLECTION, True)):  # the other services, random bytes only
        for _ in range(RANDOM_BYTES):
            data = rng.randbytes(rng.randrange(0, 200))
            count += 1
            try:
                if streams:
                    list(channel.stream_stream(path)(iter([data]), timeout=DEADLINE))
                else:
                    channel.unary_unary(path)(data, timeout=DEADLINE)
            except grpc.RpcError as err:
                if err.code() not in EXPECTED:
                    failures.append(f"{path}: status {err.code().name}: {err.details()!r}\n    request: {data!r}")
    assert not failures, f"{len(failures)} of {count} requests:\n" + "\n".join(failures)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                       timeout=DEADLINE)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert call(stub, "GetAppVersion", empty_pb2.Empty()).version
    pid = create(stub)
    assert tick(stub, pid, 60).current_time and uuid.UUID(pid)


def test_a_long_request_id_is_refused_before_it_is_cached(stub, pid):
    # NextTick and StreamTicks keep request ids in the playground's cache: a 100 KB id was cached
    long = "r" * 100_000
    refused(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id=long),
            grpc.StatusCode.INVALID_ARGUMENT, "request_id", "(100000 characters)")
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamTicks(pb.StreamTicksRequest(playground_id=pid, seconds=60, max_ticks=2, request_id=long),
                              timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
