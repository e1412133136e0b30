"""What the original's clients read, through a real gateway (grpc.aio in the session's embedded
Ray, an OS-chosen port): account meta times and type, GetOpenOrders of a symbol not held, and the
two error texts the clients match (issue 13, part 2). The service and wire layers answer this, so
every transport in front of them answers the same."""
from __future__ import annotations

import uuid

import grpc
import pytest
from twirp.context import Context
from twirp.exceptions import TwirpServerException

from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import (
    DEADLINE,
    PlaygroundServiceClient,
    call,
    create,
    error_of,
    order_req,
    running_gateway,
    session,
    tick,
)

#: The texts the original's clients match in an error (every other error they retry, then crash).
CLIENT_MATCHED = ("side not allowed", "volume to close exceeds open volume")


@pytest.fixture(scope="module")
def served(ray_cluster, catalog_dir):
    """``(grpc stub, Twirp base URL)`` of one gateway serving both transports."""
    with running_gateway(ray_cluster, catalog_dir, name="fidelity", twirp_port=0) as (gw, address):
        base = ray_cluster.get(gw.twirp_address.remote(), timeout=DEADLINE)
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=DEADLINE)
            yield pb_grpc.PlaygroundServiceStub(channel), base


@pytest.fixture(scope="module")
def stub(served):
    return served[0]


def test_account_meta_has_the_clocks_start_and_end_as_rfc3339_and_type_simulator(stub):
    """The original sent StartAt/EndAt as RFC 3339 instants, not the request's dates; ticking does
    not move them, and GetPlaygrounds' meta is the same as GetAccount's."""
    pid = create(stub, start="2024-01-03", stop="2024-01-04")
    tick(stub, pid, 120)
    meta = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid)).meta
    assert (meta.start_date, meta.end_date) == ("2024-01-03T09:30:00-05:00", "2024-01-04T16:00:00-05:00")
    assert meta.HasField("live_account_type") and meta.live_account_type == "simulator"
    summary = session(stub, pid)
    assert summary.meta == meta
    assert (summary.clock.start, summary.clock.stop) == (meta.start_date, meta.end_date)


def test_account_meta_start_is_the_first_session_open_when_the_start_date_is_a_holiday(stub):
    """2024-01-01 is New Year's Day (no session): the clock, and so the meta, starts at the next open."""
    pid = create(stub, start="2024-01-01", stop="2024-01-02")
    meta = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid)).meta
    assert (meta.start_date, meta.end_date) == ("2024-01-02T09:30:00-05:00", "2024-01-02T16:00:00-05:00")


def test_open_orders_of_a_symbol_the_playground_does_not_hold_is_an_empty_list(stub):
    """An error would make the original's clients retry for two minutes and crash; the original
    answered an empty list. A malformed symbol (empty, over 32 characters) stays INVALID_ARGUMENT."""
    pid = create(stub)
    assert list(call(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol="ZZZ")).orders) == []
    for bad in ("", "Z" * 33):
        err = error_of(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol=bad))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = error_of(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id="no-such-playground", symbol="AAA"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "playground not found" in err.details()


def test_the_two_texts_the_original_clients_match_reach_them_in_the_error_details(stub):
    """`side not allowed` (sell without a position) and `volume to close exceeds open volume` (sell
    15 of a long 10) come early in the text, so the gateway's cut at 1,000 characters keeps them."""
    pid = create(stub)
    side = error_of(stub, "PlaceOrder", order_req(pid, "sell", 10))
    tick(stub, pid, 60)
    call(stub, "PlaceOrder", order_req(pid, "buy", 10))
    tick(stub, pid, 60)
    assert call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid)).positions["AAA"].quantity == 10
    volume = error_of(stub, "PlaceOrder", order_req(pid, "sell", 15))
    for err, text in zip((side, volume), CLIENT_MATCHED):
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and text in err.details(), err.details()


def test_the_fidelity_points_hold_for_a_client_made_with_the_twirp_package(served):
    """The original's Python clients speak Twirp (the ``twirp`` package): over it too, the meta's
    start/end are RFC 3339 and the type ``simulator``, GetOpenOrders of a symbol not held is an
    empty list, and the two matched texts are in the Twirp error's ``msg`` (code invalid_argument)."""
    _, base = served
    client = PlaygroundServiceClient(address=base, timeout=DEADLINE)
    pid = client.CreatePlayground(ctx=Context(), request=pb.CreatePolygonPlaygroundRequest(
        balance=100_000, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
        repositories=[pb.Repository(symbol="AAA", timespan_multiplier=1, timespan_unit="minute")])).id

    def next_tick():
        client.NextTick(ctx=Context(), request=pb.NextTickRequest(playground_id=pid, seconds=60,
                                                                  request_id=uuid.uuid4().hex))

    def place(side, qty):
        return client.PlaceOrder(ctx=Context(), request=order_req(pid, side, qty))

    next_tick()
    meta = client.GetAccount(ctx=Context(), request=pb.GetAccountRequest(playground_id=pid)).meta
    assert (meta.start_date, meta.end_date) == ("2024-01-03T09:30:00-05:00", "2024-01-04T16:00:00-05:00")
    assert meta.HasField("live_account_type") and meta.live_account_type == "simulator"
    [summary] = [s for s in client.GetPlaygrounds(ctx=Context(), request=pb.GetPlaygroundsRequest()).playgrounds
                 if s.playground_id == pid]
    assert summary.meta == meta
    assert list(client.GetOpenOrders(ctx=Context(), request=pb.GetOpenOrdersRequest(
        playground_id=pid, symbol="ZZZ")).orders) == []
    errors = []
    with pytest.raises(TwirpServerException) as side:
        place("sell", 10)
    errors.append(side.value)
    place("buy", 10)
    next_tick()
    with pytest.raises(TwirpServerException) as volume:
        place("sell", 15)
    errors.append(volume.value)
    for err, text in zip(errors, CLIENT_MATCHED):
        assert err.code.value == "invalid_argument" and text in err.message, err.message
