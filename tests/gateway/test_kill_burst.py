"""The campaign's kill test, kept in the suite: SIGKILL the gateway's process during a burst of
acknowledged commands on a saved playground (across several snapshots), restart it on the same
data directory, and check that nothing acknowledged is lost or done twice."""
from __future__ import annotations

import os
import signal
import sqlite3
import threading

import grpc

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import playground_pb2 as pb

from .conftest import DEADLINE, call, create, order_req, save, tick

COMMANDS = 3_000  # ticks of 60 s and an order every 97 commands: about three snapshots' worth
KILL_AFTER = 2_500
START, STOP = "2024-01-03", "2024-01-19"  # 12 sessions of one-minute bars: more ticks than COMMANDS  # acknowledged commands before the kill (the driver keeps sending meanwhile)


def script():
    """The commands, in order: ``("tick", request_id)`` or ``("order", client_request_id, side)``."""
    out, buy = [], True
    for i in range(COMMANDS):
        if i % 97 == 5:
            out.append(("order", f"o{i}", "buy" if buy else "sell"))
            buy = not buy
        else:
            out.append(("tick", f"t{i}"))
    return out


def run(stub, pid, command):
    if command[0] == "tick":
        return tick(stub, pid, 60, request_id=command[1])
    return call(stub, "PlaceOrder", order_req(pid, command[2], 10, client_request_id=command[1]))


def view(stub, pid):
    """What a client sees of a playground, without its id (a twin has another)."""
    account = call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True))
    account.meta.playground_id = ""
    stats = call(stub, "GetAccountStats", pb.GetAccountStatsRequest(playground_id=pid, equity_plot=True))
    return account, list(stats.equity_plot)


def test_a_sigkill_during_a_burst_loses_no_acknowledged_command_and_repeats_none(ray_cluster, gateways, tmp_path):
    data_dir = tmp_path / "data"
    Catalog(data_dir).write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-20", seed=3))
    gw, stub = gateways.start(data_dir)
    pid = create(stub, start=START, stop=STOP)
    save(stub, pid)
    commands, acked, stopped_by, enough = script(), [], [], threading.Event()

    def drive():  # until the gateway dies under it
        try:
            for command in commands:
                acked.append(run(stub, pid, command))
                if len(acked) == KILL_AFTER:
                    enough.set()
        except grpc.RpcError as exc:
            stopped_by.append(exc)
        finally:
            enough.set()

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        assert enough.wait(timeout=600)
        assert len(acked) >= KILL_AFTER, "the driver stopped before the kill"
        os.kill(ray_cluster.get(gw.pid.remote(), timeout=DEADLINE), signal.SIGKILL)
    finally:
        driver.join(timeout=DEADLINE)
    assert not driver.is_alive()
    assert [e.code() for e in stopped_by] == [grpc.StatusCode.UNAVAILABLE], [e.details() for e in stopped_by]
    assert KILL_AFTER <= len(acked) < COMMANDS, len(acked)

    _, stub2 = gateways.start(data_dir)
    with sqlite3.connect(data_dir / "gateway.sqlite3") as db:
        written = db.execute("SELECT COUNT(*) FROM commands WHERE playground_id = ?", (pid,)).fetchone()[0]
        snapshot_seq = db.execute("SELECT seq FROM snapshots WHERE playground_id = ?", (pid,)).fetchone()[0]
    assert snapshot_seq >= 2_000  # the restore below starts from a snapshot taken during the burst
    # everything acknowledged was written; at most the one command in flight at the kill besides
    assert len(acked) <= written <= len(acked) + 1, (len(acked), written)
    # a retry of acknowledged commands gets their first answers: nothing is done twice
    last_tick = max(i for i in range(len(acked)) if commands[i][0] == "tick")
    last_order = max(i for i in range(len(acked)) if commands[i][0] == "order")
    assert run(stub2, pid, commands[last_tick]) == acked[last_tick]
    assert run(stub2, pid, commands[last_order]).id == acked[last_order].id
    # the restored playground is the one that ran exactly the written commands, sequentially
    twin = create(stub2, start=START, stop=STOP)
    for command in commands[:written]:
        run(stub2, twin, command)
    assert view(stub2, pid) == view(stub2, twin)
    assert tick(stub2, pid, 60, request_id="after") == tick(stub2, twin, 60, request_id="after")
