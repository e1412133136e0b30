"""A client that knows only wire-v1 still works against the extended gateway: its messages are
built from the committed descriptor with every addition removed (the RPCs and messages that are
not in the spec, and the fields numbered from 100), in a private descriptor pool, and it calls a
real gateway (OS-chosen port, the session's embedded Ray) by the v1 method names."""
from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from backtestester.rpc import playground_pb2

from .conftest import DEADLINE, running_gateway

V1_RPCS = {"CreatePlayground": ("CreatePolygonPlaygroundRequest", "CreatePlaygroundResponse"),
           "NextTick": ("NextTickRequest", "TickDelta"), "PlaceOrder": ("PlaceOrderRequest", "Order"),
           "GetAccount": ("GetAccountRequest", "GetAccountResponse")}
ADDED_MESSAGES = {"StreamTicksRequest", "ArrowBatch", "CancelOrderRequest"}


def v1_classes() -> dict:
    """The message classes of playground.proto without its additions."""
    fdp = descriptor_pb2.FileDescriptorProto()
    playground_pb2.DESCRIPTOR.CopyToProto(fdp)
    added = set(ADDED_MESSAGES)  # and every message whose v1-numbered fields reach one (the Session's)
    while more := {m.name for m in fdp.message_type if m.name not in added and any(
            f.type_name.rsplit(".", 1)[-1] in added for f in m.field if f.number < 100)}:
        added |= more
    kept = [m for m in fdp.message_type if m.name not in added]
    del fdp.message_type[:]
    for m in kept:
        fields = [f for f in m.field if f.number < 100]
        added_oneofs = {f.oneof_index for f in m.field if f.number >= 100 and f.HasField("oneof_index")}
        n = len(m.oneof_decl)  # the additions' synthetic oneofs come last: drop them with their fields
        assert added_oneofs == set(range(n - len(added_oneofs), n)), m.name
        del m.field[:]
        m.field.extend(fields)
        del m.oneof_decl[n - len(added_oneofs):]
        fdp.message_type.append(m)
    del fdp.service[:]
    pool = descriptor_pool.DescriptorPool()
    for dep in ("google/protobuf/timestamp.proto", "google/protobuf/duration.proto", "google/protobuf/empty.proto"):
        dep_fdp = descriptor_pb2.FileDescriptorProto()
        descriptor_pool.Default().FindFileByName(dep).CopyToProto(dep_fdp)
        pool.Add(dep_fdp)
    pool.Add(fdp)
    return {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"playground.{m.name}"))
            for m in fdp.message_type}


@pytest.fixture(scope="module")
def v1(ray_cluster, catalog_dir):
    classes = v1_classes()
    with running_gateway(ray_cluster, catalog_dir, "gateway-v1") as (_, address):
        with grpc.insecure_channel(address) as channel:
            calls = {rpc: channel.unary_unary(f"/playground.PlaygroundService/{rpc}",
                                              request_serializer=lambda m: m.SerializeToString(),
                                              response_deserializer=classes[out].FromString)
                     for rpc, (_, out) in V1_RPCS.items()}
            yield classes, lambda rpc, msg: calls[rpc](msg, timeout=DEADLINE)


def test_a_v1_client_gets_v1_behaviour_from_the_extended_gateway(v1):
    """No addition leaks into a v1 client's view: its playground has the engine defaults (sl stored
    only, no protective orders), Order.stop_price still falls back to sl, and a delta with an
    expired event decodes (the event's orders are in a field it does not know)."""
    pb, call = v1
    assert "sl" not in pb["Order"].DESCRIPTOR.fields_by_name and "orders" not in \
        pb["TickDeltaEvent"].DESCRIPTOR.fields_by_name  # really the v1 messages
    pid = call("CreatePlayground", pb["CreatePolygonPlaygroundRequest"](
        balance=10_000, start_date="2024-01-03", stop_date="2024-01-04", environment="simulator",
        repositories=[pb["Repository"](symbol="AAA", timespan_multiplier=1, timespan_unit="minute")])).id
    call("NextTick", pb["NextTickRequest"](playground_id=pid, seconds=60, request_id=uuid.uuid4().hex))
    order = call("PlaceOrder", pb["PlaceOrderRequest"](
        playground_id=pid, symbol="AAA", asset_class="equity", quantity=5, side="buy", type="market",
        duration="day", requested_price=100, sl=1.0))
    day = call("PlaceOrder", pb["PlaceOrderRequest"](
        playground_id=pid, symbol="AAA", asset_class="equity", quantity=1, side="buy", type="limit",
        duration="day", requested_price=100, price=1.0))
    assert order.stop_price == 1.0 and order.status == "pending"
    events = []
    for _ in range(3):  # the day order expires at the session's close
        delta = call("NextTick", pb["NextTickRequest"](playground_id=pid, seconds=4 * 3600,
                                                       request_id=uuid.uuid4().hex))
        events += [(e.type, len(e.liquidation_event.orders_placed)) for e in delta.events]
    assert ("expired", 0) in events
    account = call("GetAccount", pb["GetAccountRequest"](playground_id=pid, fetch_orders=True))
    assert [(o.id, o.status) for o in account.orders] == [(order.id, "filled"), (day.id, "expired")]
    assert account.positions["AAA"].quantity == 5  # the sl was stored only: no protective order acted
