"""CancelOrder (an addition to the v1 wire): the engine's cancel through the gateway, journalled so
that a saved playground replays it on restore; the typed client's ``cancel_order``; and ``ctx.cancel``
of a strategy through :class:`~backtestester.remote.broker.GatewayBroker`, as locally."""
from __future__ import annotations

import grpc
import pytest

from backtestester.playgrounds import run_on_catalog
from backtestester.remote.broker import run_on_gateway
from backtestester.remote.client import PlaygroundClient
from backtestester.service.errors import Status
from backtestester.service.store import PlaygroundStore, store_path
from backtestester.strategy import Strategy
from backtestester.wire import answers

from .conftest import DEADLINE, new_session, reads, refused, running_gateway

LIMIT = {"symbol": "AAA", "side": "buy", "quantity": 5, "requested_price": 100, "order_type": "limit",
         "price": 1.0, "duration": "gtc"}


@pytest.fixture(scope="module")
def client(ray_cluster, catalog_dir):
    with running_gateway(ray_cluster, catalog_dir, "gateway-cancel") as (_, address):
        with PlaygroundClient(address, timeout=DEADLINE) as c:
            yield c


def test_a_cancel_is_journalled_and_replayed_on_restore(tmp_path, catalog_dir):
    """A canceled order stays canceled after a restore: the cancel is a journal command
    (kind cancel_order) that the restored session replays; refused cancels journal nothing."""
    db = store_path(tmp_path)
    a = new_session("p-c", catalog_dir, "AAA")
    a.tick(60, False, "t0")
    kept = a.place_order(**LIMIT)
    gone = a.place_order(**LIMIT)
    a.save(db)
    canceled = answers.cancel_order(a, gone.id)
    assert canceled.status == "canceled" and canceled.id == gone.id
    assert refused(answers.cancel_order, a, gone.id).status is Status.FAILED_PRECONDITION
    assert refused(answers.cancel_order, a, 999).status is Status.NOT_FOUND
    a.tick(60, False, "t1")
    store = PlaygroundStore(db)
    assert [c.kind for c in store.load("p-c").commands] == ["tick", "place_order", "place_order", "cancel_order",
                                                          "tick"]
    b = answers.restored("p-c", db, str(catalog_dir))
    assert reads(b) == reads(a)
    assert [(o.id, o.status) for o in b.pg.orders()] == [(kept.id, "pending"), (gone.id, "canceled")]
    store.close()


def test_cancel_order_through_the_gateway(client):
    """The client's cancel_order returns the canceled order (GetOrder agrees); a second cancel is FAILED_PRECONDITION naming its status; order 0, an unknown order and an unknown
    playground are NOT_FOUND."""
    pid = client.create_playground(balance=10_000, start_date="2024-01-03", stop_date="2024-01-04",
                                   repositories=[("AAA", 1, "minute")])
    client.next_tick(pid, 60)
    order = client.place_order(pid, "AAA", "buy", 5, requested_price=100, order_type="limit", price=1.0,
                               duration="gtc")
    canceled = client.cancel_order(pid, order.id)
    assert (canceled.id, canceled.status) == (order.id, "canceled")
    assert client.get_order(order.id).status == "canceled"
    with pytest.raises(grpc.RpcError) as again:
        client.cancel_order(pid, order.id)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert again.value.details() == (f"failed to cancel order: order {order.id} is not pending: its status is "
                                     f"canceled; only a pending order can be canceled")
    for p, oid, text in ((pid, 0, "order 0 not found: order ids start at 1"),
                         (pid, 999, "failed to cancel order: order 999 not found"),
                         ("nope", order.id, "playground not found")):
        with pytest.raises(grpc.RpcError) as err:
            client.cancel_order(p, oid)
        assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND, text)
    client.delete_playground(pid)


class Canceller(Strategy):
    """Places a far limit order on the first candle and cancels it on the second; records what the
    cancels return and raise."""

    def on_start(self, ctx):
        self.seen, self.order = [], None

    def on_candle(self, ctx, bar):
        if self.order is None:
            self.order = ctx.buy(bar.symbol, 3, order_type="limit", price=bar.close / 2, duration="gtc")
        elif self.order.status == "pending":
            got = ctx.cancel(self.order.id)
            self.seen.append((got is self.order, got.status, self.order.status))
            for oid in (self.order.id, 999):
                try:
                    ctx.cancel(oid)
                except Exception as exc:  # noqa: BLE001  the refusal's type and text, locally and remotely
                    self.seen.append((type(exc).__name__, str(exc)))


def test_ctx_cancel_through_the_gateway_is_the_local_cancel(client, catalog_dir):
    window = dict(start_date="2024-01-03", stop_date="2024-01-03")
    local, remote = Canceller(), Canceller()
    local_result = run_on_catalog(local, catalog_dir, [("AAA", "1m")], **window)
    remote_result = run_on_gateway(remote, client, [("AAA", "1m")], **window)
    assert local.seen == [(True, "canceled", "canceled"),
                          ("PlaygroundError", f"order {local.order.id} is not pending: its status is canceled"),
                          ("NotFoundError", "order 999 not found")]
    assert remote.seen == local.seen
    assert [(o.id, o.status) for o in remote_result.orders] == [(o.id, o.status) for o in local_result.orders]
