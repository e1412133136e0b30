"""What the original's clients read, through a real gateway (grpc.aio in the session's embedded
Ray, an OS-chosen port): account meta times and type, GetOpenOrders of a symbol not held, and the
two error texts the clients match (issue 13, part 2). The service and wire layers answer this, so
every transport in front of them answers the same."""
from __future__ import annotations

import grpc
import pytest

from backtestester.rpc import playground_pb2 as pb
from backtestester.rpc import playground_pb2_grpc as pb_grpc

from .conftest import DEADLINE, call, create, error_of, order_req, running_gateway, session, tick

#: The texts the original's clients match in an error (every other error they retry, then crash).
CLIENT_MATCHED = ("side not allowed", "volume to close exceeds open volume")


@pytest.fixture(scope="module")
def stub(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, name="fidelity") as (_, address):
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=DEADLINE)
            yield pb_grpc.PlaygroundServiceStub(channel)


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
