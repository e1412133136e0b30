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
from grpc_health.v1 import health_pb2, health_pb2_grpc

from backtestester.rpc import SERVICE_NAME
from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import DEADLINE, call, create, error_of, repo, running_gateway, tick

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
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
            grpc.StatusCode.INVALID_ARGUMENT, "clock.startDate", "1678-01-01")
    # a supported start whose history reaches before the first supported date names the history
    refused(stub, "CreatePlayground", create_req("1680-01-03", "1680-01-04", history=3000),
            grpc.StatusCode.INVALID_ARGUMENT, "history_in_days 3000", "1678-01-01")


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
