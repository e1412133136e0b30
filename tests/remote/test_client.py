"""The typed client's retry policy, on a fake stub (no server)."""
from __future__ import annotations

import grpc
import pytest

from backtestester.remote.client import PlaygroundClient
from backtestester.rpc import playground_pb2 as pb


class _Err(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return self._code.name


class _FakeStub:
    def __init__(self, failures):
        self.failures, self.requests = list(failures), []

    def NextTick(self, request, timeout=None):
        self.requests.append((request, timeout))
        if self.failures:
            raise _Err(self.failures.pop(0))
        return pb.TickDelta(current_time="t")

    PlaceOrder = NextTick


def test_client_retries_unavailable_with_backoff_and_one_request_id():
    stub, sleeps = _FakeStub([grpc.StatusCode.UNAVAILABLE] * 3), []
    client = PlaygroundClient(stub=stub, sleep=sleeps.append, backoff=0.1, max_backoff=0.3, timeout=5)
    assert client.next_tick("p", 60).current_time == "t"
    assert sleeps == [0.1, 0.2, 0.3]
    assert len({r.request_id for r, _ in stub.requests}) == 1 and all(t == 5 for _, t in stub.requests)


def test_client_never_retries_business_errors_and_gives_up_after_retries():
    stub, sleeps = _FakeStub([grpc.StatusCode.INVALID_ARGUMENT]), []
    client = PlaygroundClient(stub=stub, sleep=sleeps.append)
    with pytest.raises(grpc.RpcError) as info:
        client.place_order("p", "AAA", "sell", 1, requested_price=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and sleeps == [] and len(stub.requests) == 1
    assert stub.requests[0][0].client_request_id  # generated, so a retry would be idempotent
    stub = _FakeStub([grpc.StatusCode.UNAVAILABLE] * 5)
    client = PlaygroundClient(stub=stub, sleep=sleeps.append, retries=2)
    with pytest.raises(grpc.RpcError):
        client.next_tick("p", 60)
    assert len(stub.requests) == 3
