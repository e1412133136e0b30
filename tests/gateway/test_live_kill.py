"""A SIGKILL of the gateway between the broker call and its commit: the sim broker (persisted in the
data directory) has taken the order, the desk's journal still says ``submitting`` when the process
dies. The restarted gateway on the same data directory resolves the intent by its tag: exactly one
broker order, adopted, and the live order filled once."""
from __future__ import annotations

import os
import sqlite3
import threading

from backtestester.rpc import playground_pb2 as pb

from .conftest import DEADLINE, kill_host
from .livekit import Ticks, account, buy, create_live, data_dir, live_config, live_gateways, until


def _block_after_place(actor, marker: str) -> None:
    """In the gateway's process: the sim broker's ``place`` takes the order, writes ``marker`` and
    never returns (the desk cannot commit the outcome; the test kills the process there)."""
    broker = actor._live_shell.desk._brokers["sim"]
    original = broker.place

    def place(intent):
        outcome = original(intent)
        with open(marker, "w") as f:
            f.write(outcome.order_id)
        threading.Event().wait()  # until the process dies
        return outcome
    broker.place = place


def test_sigkill_between_broker_call_and_commit_adopts_the_order_once(ray_cluster, tmp_path):
    path, marker = data_dir(tmp_path), str(tmp_path / "placed")
    config = live_config()
    with live_gateways(ray_cluster) as gws:
        gw, stub, _ = gws.start(path, config)
        pid = create_live(stub, client_id="k1")
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.candles, "the first live candle")
        ray_cluster.get(gw.__ray_call__.remote(_block_after_place, marker), timeout=DEADLINE)
        in_flight = stub.PlaceOrder.future(pb.PlaceOrderRequest(
            playground_id=pid, symbol="AAA", asset_class="equity", quantity=7, side="buy", type="market",
            duration="day", requested_price=100.0, client_request_id="kill-1"), timeout=DEADLINE)
        until(lambda: os.path.exists(marker), "the broker to take the order")
        kill_host(ray_cluster, gw)  # SIGKILL-like: os._exit in the gateway's process, no cleanup
        assert in_flight.exception() is not None  # the client never got an answer

        _, stub, _ = gws.start(path, config)  # same data directory: the desk resumes
        listed = stub.GetPlaygrounds(pb.GetPlaygroundsRequest(), timeout=DEADLINE).playgrounds
        assert [(s.playground_id, s.meta.client_id) for s in listed] == [(pid, "k1")]  # live ones are durable always
        ticks = Ticks(stub, pid)
        until(lambda: ticks.pull() and ticks.trades, "the adopted order's fill")
        acc = account(stub, pid)
        [order] = acc.orders
        assert order.status == "filled" and [t.quantity for t in order.trades] == [7]
        assert acc.positions["AAA"].quantity == 7
        # a retry of the lost PlaceOrder is the same order, not a second one
        again = buy(stub, pid, 7, client_request_id="kill-1")
        assert again.id == order.id and len(account(stub, pid).orders) == 1
        until(lambda: ticks.pull() and len(ticks.candles) >= 2, "more polls after the fill")
        assert len(ticks.trades) == 1  # filled once
        report = stub.GetReconciliationReport(pb.GetReconciliationReportRequest(
            reconcile_playground_id=acc.meta.reconcile_playground_id), timeout=DEADLINE)
        assert [(p.symbol, p.quantity) for p in report.broker_positions] == [("AAA", 7)]
        assert not report.unknown_broker_orders and not report.unknown_intents and not report.differences
    with sqlite3.connect(os.path.join(path, "live-sim.sqlite3")) as db:
        assert db.execute("SELECT COUNT(*) FROM sim_orders").fetchone()[0] == 1  # exactly one broker order
