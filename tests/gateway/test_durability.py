"""Durable playgrounds: SavePlayground, restore by replay after a gateway restart, DeletePlayground.

Pure tests first (the store, and playground sessions driven directly, no Ray), then real
gateways on OS-chosen ports in the session's embedded Ray: a gateway is killed (its process, with
its playground actors) and a new one on the same data directory must give identical answers.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3

import grpc
import numpy as np
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import playground_pb2 as pb
from backtestester.service.errors import Status
from backtestester.service.journal import TICK_CACHE_SECONDS, TickCache
from backtestester.service.store import (
    DB_NAME,
    SCHEMA_VERSION,
    Command,
    PlaygroundStore,
    State,
    StoreError,
    diff_state,
    state_rows,
    store_path,
)
from backtestester.wire import answers

from .conftest import (
    NO_FILTERS,
    call,
    config,
    create,
    error_of,
    kill_host,
    new_session,
    order_req,
    reads,
    refused,
    save,
    session,
    tick,
)

TABLES = ("playgrounds", "commands", "orders", "trades", "equity_points", "snapshots")
ORDER_ROW = (1, "AAA", "buy", 10.0, "market", "day", None, 100.0, None, None, None, "", "filled", "", None,
             "r1", 5, "[]", "[]", "[0.0,0.0,0.0,0.0,0.0]")


# --- helpers ---------------------------------------------------------------------------------------
def crash_bars():
    """1m bars of CRASH: 100 until 2024-01-03 09:40 New York, then down 2 a minute to 60."""
    base = generate_bars("CRASH", start="2024-01-02", end="2024-01-06", seed=5)
    prices = np.array([100.0 if i < 400 else max(60.0, 100.0 - 2 * (i - 400)) for i in range(base.num_rows)])
    for name in ("open", "high", "low", "close"):
        base = base.set_column(base.schema.get_field_index(name), name, [prices])
    return base


@pytest.fixture(scope="module")
def crash_dir(tmp_path_factory, catalog_dir):
    path = tmp_path_factory.mktemp("crash") / "data"
    shutil.copytree(catalog_dir, path)
    Catalog(path).write("CRASH", "1m", crash_bars())
    return path


@pytest.fixture
def data_dir(tmp_path, crash_dir):
    """A private copy of the catalog: each test has its own gateway.sqlite3."""
    path = tmp_path / "data"
    shutil.copytree(crash_dir, path)
    return path


def rows_in_db(path, pid):
    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE {'id' if t == 'playgrounds' else 'playground_id'} = ?",
                              (pid,)).fetchone()[0] for t in TABLES}


# --- the store, pure ----------------------------------------------------------------------------------
def test_store_schema_wal_round_trip_and_no_file_until_a_save(tmp_path):
    path = tmp_path / DB_NAME
    store = PlaygroundStore(path)
    assert store.registry() == [] and store.load("x") is None and store.delete("x") is False
    assert not path.exists()  # reading or deleting never creates the database

    cfg = config("AAA", tags=("a", "b"), client_id="cid-1")
    state = State([ORDER_ROW], [(1, 1, 6, 10.0, 101.5, 0.0)], [(0, 6, 10_000.0), (1, 7, 10_010.0)])
    commands = [Command(1, "tick", '{"seconds":0}', "t0", 1.0),
                Command(2, "place_order", '{"symbol":"AAA"}', None, 2.0)]
    store.save("p1", cfg, commands, state, owner="tenant-1")
    assert store.journal_mode() == "wal"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [entry] = store.registry()
    assert (entry["id"], entry["tags"], entry["client_id"], entry["owner"]) == ("p1", ["a", "b"], "cid-1", "tenant-1")
    saved = store.load("p1")
    assert saved.config == cfg and saved.commands == commands and saved.schema_version == 1
    assert diff_state(saved.state, state) is None and saved.state.marks() == (1, 1, 2)

    # append: one command and its rows in one transaction; rows of an order are replaced
    store.append("p1", Command(3, "tick", '{"seconds":60}', "t1", 3.0),
                 [state.orders[0][:12] + ("closed",) + state.orders[0][13:]], [], [(2, 8, 10_020.0)])
    saved = store.load("p1")
    assert len(saved.commands) == 3 and saved.state.orders[0][12] == "closed" and len(saved.state.equity) == 3
    with pytest.raises(StoreError, match="UNIQUE"):  # a second writer of the same seq is refused
        store.append("p1", Command(3, "tick", "{}", None, 3.0))
    # save again: replaces everything saved under the id
    store.save("p1", cfg, commands[:1], State(), owner=None)
    assert len(store.load("p1").commands) == 1 and store.registry()[0]["owner"] is None

    assert store.delete("p1") is True and store.registry() == []
    assert rows_in_db(path, "p1") == dict.fromkeys(TABLES, 0)
    with pytest.raises(StoreError, match="FOREIGN KEY"):  # an actor writing after the delete leaves no orphans
        store.append("p1", Command(2, "tick", "{}", None, 4.0))
    with pytest.raises(StoreError, match="not saved"):
        store.refresh("p1", State())
    store.close()


def test_store_refuses_a_newer_schema_and_a_damaged_file(tmp_path):
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        PlaygroundStore(path).registry()
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="bad.sqlite3"):
        PlaygroundStore(bad).registry()


def test_the_request_id_cache_forgets_ticks_older_than_its_window():
    cache = TickCache()
    for i, when in enumerate((0.0, 100.0, 200.0, 400.0)):
        cache.put(f"r{i}", when, b"")
    cache.expire(TICK_CACHE_SECONDS + 150.0)
    assert list(cache.entries) == ["r2", "r3"]
    cache.expire(TICK_CACHE_SECONDS + 1000.0)
    assert not cache.entries


def test_diff_state_names_the_first_difference():
    a = State([ORDER_ROW], [(1, 1, 5, 10.0, 100.0, 0.0)], [(0, 5, 1.0), (1, 6, 2.0)])
    assert diff_state(a, State(list(a.orders), list(a.trades), list(a.equity))) is None
    assert diff_state(a, State(a.orders, [(1, 1, 5, 10.0, 99.5, 0.0)], a.equity)) == \
        "trade 1: price saved 100.0, replayed 99.5"
    assert diff_state(a, State(a.orders, a.trades, a.equity[:1])) == "2 saved equity points, 1 replayed"
    assert "order 1: status saved 'filled', replayed 'rejected'" == \
        diff_state(a, State([ORDER_ROW[:12] + ("rejected",) + ORDER_ROW[13:]], a.trades, a.equity))
    assert diff_state(a, State([], a.trades, a.equity)) == "1 saved orders, 0 replayed"


# --- playground sessions, without Ray --------------------------------------------------------
def test_save_write_through_and_restore_give_the_same_playground(data_dir):
    """Fills, a partial close, a rejection, a liquidation and an expiry: the rows written command by
    command equal the full state, and a restored session answers exactly as the original."""
    db = store_path(data_dir)
    a = new_session("p-1", data_dir, "AAA", "CRASH")
    a.tick(0, False, "t0")
    first = answers.place_order(a, {"symbol": "AAA", "side": "buy", "quantity": 10, "requested_price": 100,
                                     "client_request_id": "c1"})
    a.place_order(symbol="AAA", side="buy", quantity=5, requested_price=100, order_type="limit", price=1.0,
                  duration="day")
    a.place_order(symbol="AAA", side="buy", quantity=100_000, requested_price=100)
    a.tick(60, False, "t1")  # no complete candle at 09:30 yet: the market orders fill on the next tick
    a.tick(60, False, "t2")
    refused(answers.place_order, a, {"symbol": "AAA", "side": "sell", "quantity": 50, "requested_price": 100})
    a.tick(60, True, "")
    assert a.save(db) == "p-1"  # a failed order and a preview: not journalled
    assert [c.kind for c in PlaygroundStore(db).load("p-1").commands] == ["tick", "place_order", "place_order",
                                                                        "place_order", "tick", "tick"]
    a.place_order(symbol="AAA", side="sell", quantity=4, requested_price=100, close_order_id=1)
    a.place_order(symbol="CRASH", side="buy", quantity=150, requested_price=100)
    store = PlaygroundStore(db)
    for i in range(30):
        a.tick(60, False, f"u{i}")
        assert diff_state(store.load("p-1").state, state_rows(a.pg)) is None, i
    a.tick(7 * 3600, False, "overnight")
    assert diff_state(store.load("p-1").state, state_rows(a.pg)) is None
    statuses = {o.id: o.status for o in a.pg.orders()}
    assert statuses[1] == "filled" and statuses[2] == "expired" and statuses[3] == "rejected"
    assert any(o.tag.startswith("liquidation") for o in a.pg.orders())
    assert a.save(db) == "p-1"  # idempotent: refreshes the rows
    assert diff_state(store.load("p-1").state, state_rows(a.pg)) is None

    b = answers.restored("p-1", db, str(data_dir))
    assert b.playground_id == "p-1"
    assert reads(b) == reads(a)
    again = {"symbol": "AAA", "side": "buy", "quantity": 10, "requested_price": 100, "client_request_id": "c1"}
    assert answers.place_order(b, again) == answers.get_order(a, 1)  # D13 survives: order 1 as it is now
    assert answers.place_order(b, again).id == first.id == 1
    assert b.tick(60, False, "overnight") == a.tick(60, False, "overnight")  # the request_id cache too
    store.close()


def test_a_restore_reports_changed_data_and_a_damaged_journal(data_dir):
    db = store_path(data_dir)
    a = new_session("p-aaa", data_dir, "AAA")
    a.tick(0, False, "")
    a.place_order(symbol="AAA", side="buy", quantity=10, requested_price=100)
    a.tick(60, False, "")
    a.tick(60, False, "")  # the fill: its price comes from the catalog
    a.save(db)
    b = new_session("p-bbb", data_dir, "BBB")
    b.tick(60, False, "")
    b.tick(60, False, "")
    b.save(db)

    with sqlite3.connect(db) as conn:  # without its snapshot, a restore replays the whole journal
        conn.execute("DELETE FROM snapshots WHERE playground_id = 'p-bbb'")
        conn.execute("UPDATE commands SET args = '{\"seconds\": -1}' WHERE playground_id = 'p-bbb' AND seq = 2")
    err = refused(answers.restored, "p-bbb", db, str(data_dir))
    assert err.status is Status.FAILED_PRECONDITION and "fails on replay" in err.message
    assert err.message.startswith("saved playground p-bbb cannot be restored: command 2 (tick")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM commands WHERE playground_id = 'p-bbb' AND seq = 1")
    assert "journal is damaged: command 1 is missing" in refused(answers.restored, "p-bbb", db, str(data_dir)).message

    Catalog(data_dir).write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-06", seed=42))
    err = refused(answers.restored, "p-aaa", db, str(data_dir))
    assert err.status is Status.FAILED_PRECONDITION
    assert err.message == ("saved playground p-aaa cannot be restored: the catalog's AAA 1m bars changed since it "
                           "was saved (780 bars 2024-01-03..2024-01-04 then and now, with other values)")
    with sqlite3.connect(db) as conn:  # saved by an older gateway: no fingerprints, no snapshot
        config = json.loads(conn.execute("SELECT config FROM playgrounds WHERE id = 'p-aaa'").fetchone()[0])
        del config["data_fingerprints"]
        conn.execute("UPDATE playgrounds SET config = ? WHERE id = 'p-aaa'", (json.dumps(config),))
        conn.execute("DELETE FROM snapshots WHERE playground_id = 'p-aaa'")
    err = refused(answers.restored, "p-aaa", db, str(data_dir))
    assert err.status is Status.FAILED_PRECONDITION
    assert "saved playground p-aaa cannot be restored: the replayed state differs" in err.message
    assert "has the data catalog changed" in err.message
    assert refused(answers.restored, "nope", db, str(data_dir)).status is Status.NOT_FOUND


def test_a_command_that_cannot_be_written_makes_the_session_unavailable(data_dir):
    db = store_path(data_dir)
    a = new_session("p-lost", data_dir, "AAA")
    a.tick(60, False, "")
    a.save(db)
    PlaygroundStore(db).delete("p-lost")  # the row is gone: the next write fails (foreign key)
    err = refused(a.tick, 60, False, "")
    assert err.status is Status.UNAVAILABLE and "could not be saved" in err.message and "p-lost" in err.message
    assert refused(answers.account, a, False, NO_FILTERS).status is Status.UNAVAILABLE


def test_a_tick_that_fails_half_way_is_journalled_and_fails_again_on_replay(data_dir, monkeypatch):
    """An engine error raised inside a tick may leave the account changed: the tick is journalled
    (``fails``) and its replay must fail too. Simulated: ticks of 123 s fail in the engine."""
    from backtestester.engine import Playground, PlaygroundError

    real = Playground.tick

    def tick_or_fail(self, seconds=0, *, preview=False):
        if seconds == 123 and not preview:
            raise PlaygroundError("performLiquidations: error committing pending orders: simulated")
        return real(self, seconds, preview=preview)

    monkeypatch.setattr(Playground, "tick", tick_or_fail)
    db = store_path(data_dir)
    a = new_session("p-half", data_dir, "AAA")
    a.save(db)
    assert refused(a.tick, 123, False, "f").status is Status.INVALID_ARGUMENT
    a.tick(60, False, "")
    assert [json.loads(c.args) for c in PlaygroundStore(db).load("p-half").commands] == [
        {"seconds": 123, "fails": True}, {"seconds": 60}]
    b = answers.restored("p-half", db, str(data_dir))
    assert reads(b) == reads(a)
    monkeypatch.setattr(Playground, "tick", real)  # now the recorded failure does not happen again
    err = refused(answers.restored, "p-half", db, str(data_dir))
    assert err.status is Status.FAILED_PRECONDITION and "succeeds on replay but failed when it was recorded" in err.message


# --- real gateways --------------------------------------------------------------------------------------
def client_view(stub, pid, symbols=("AAA", "BBB")):
    """What a client sees of a playground: account with orders, session, equity plot, open orders."""
    return (call(stub, "GetAccount", pb.GetAccountRequest(playground_id=pid, fetch_orders=True)),
            session(stub, pid),
            call(stub, "GetAccountStats", pb.GetAccountStatsRequest(playground_id=pid, equity_plot=True)),
            *(call(stub, "GetOpenOrders", pb.GetOpenOrdersRequest(playground_id=pid, symbol=s)) for s in symbols))


def without_id(messages):
    out = []
    for m in messages:
        m = type(m).FromString(m.SerializeToString())
        if m.DESCRIPTOR.fields_by_name.get("meta"):
            m.meta.playground_id = ""
        if m.DESCRIPTOR.fields_by_name.get("playground_id"):
            m.playground_id = ""
        out.append(m)
    return out


def test_a_saved_playground_survives_a_gateway_restart(gateways, data_dir, tmp_path, crash_dir):
    twin_dir = tmp_path / "twin"
    shutil.copytree(crash_dir, twin_dir)
    gw1, s1 = gateways.start(data_dir)
    _, twin_stub = gateways.start(twin_dir)  # the twin's gateway is never restarted
    kw = {"symbols": ("AAA", "BBB"), "tags": ("durable", "two"), "client_id": "client-durable-1"}
    pid, twin = create(s1, **kw), create(twin_stub, **kw)
    unsaved = create(s1, tags=("durable",))
    placed = {}

    def drive(stub, p, steps):
        for step in steps:
            if step[0] == "tick":
                placed[(p, step[2])] = tick(stub, p, step[1], request_id=f"{step[2]}")
            else:
                placed[(p, step[1])] = call(stub, "PlaceOrder", order_req(p, *step[2:], client_request_id=step[1]))

    before_save = [("tick", 0, "r0"), ("order", "o-1", "buy", 10), ("tick", 60, "r1"), ("tick", 60, "r2"),
                   ("order", "o-2", "sell_short", 5, "BBB"), ("tick", 60, "r3")]
    after_save = [("order", "o-3", "sell", 4), ("tick", 60, "r4"), ("tick", 60, "r5"), ("tick", 60, "r6")]
    for stub, p in ((s1, pid), (twin_stub, twin)):
        drive(stub, p, before_save)
    save(s1, pid)
    save(s1, pid)  # idempotent
    for stub, p in ((s1, pid), (twin_stub, twin)):
        drive(stub, p, after_save)
    seen = client_view(s1, pid)
    assert len(seen[0].orders) == 3 and seen[0].positions["AAA"].quantity == 6 and len(seen[2].equity_plot) == 7

    gateways.kill(gw1)
    gw2, s2 = gateways.start(data_dir)
    assert client_view(s2, pid) == seen  # identical, ids included
    assert without_id(client_view(s2, pid)) == without_id(client_view(twin_stub, twin))
    assert {p.playground_id for p in call(s2, "GetPlaygrounds", pb.GetPlaygroundsRequest()).playgrounds} == {pid}
    err = error_of(s2, "GetAccount", pb.GetAccountRequest(playground_id=unsaved))
    assert err.code() == grpc.StatusCode.NOT_FOUND  # never saved: gone with its gateway
    # idempotency survives: client_request_id (D13), client_id, and NextTick's request_id
    again = call(s2, "PlaceOrder", order_req(pid, "buy", 10, client_request_id="o-1"))
    assert again.id == placed[(pid, "o-1")].id and again == next(o for o in seen[0].orders if o.id == again.id)
    assert create(s2, **kw) == pid
    assert tick(s2, pid, 60, request_id="r6") == placed[(pid, "r6")]
    assert session(s2, pid).clock.current_time == seen[1].clock.current_time
    # the next tick, and commands after the restore, are written through as well
    assert without_id([tick(s2, pid, 60, request_id="r7")]) == without_id([tick(twin_stub, twin, 60, request_id="r7")])
    call(s2, "PlaceOrder", order_req(pid, "buy_to_cover", 5, symbol="BBB"))
    call(twin_stub, "PlaceOrder", order_req(twin, "buy_to_cover", 5, symbol="BBB"))
    assert tick(s2, pid, 60).new_trades == tick(twin_stub, twin, 60).new_trades
    seen = client_view(s2, pid)

    gateways.kill(gw2)
    _, s3 = gateways.start(data_dir)
    assert client_view(s3, pid) == seen
    assert without_id(seen) == without_id(client_view(twin_stub, twin))
    with sqlite3.connect(store_path(data_dir)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # 10 commands, then after the restore: the repeated o-1 (a no-op on replay), r7, an order, a tick
        assert db.execute("SELECT COUNT(*) FROM commands WHERE playground_id = ?", (pid,)).fetchone()[0] == 14
        assert json.loads(db.execute("SELECT tags FROM playgrounds").fetchone()[0]) == ["durable", "two"]


def test_delete_removes_the_saved_rows(gateways, data_dir):
    gw1, s1 = gateways.start(data_dir)
    pid, kept = create(s1), create(s1)
    for p in (pid, kept):
        tick(s1, p, 60)
        save(s1, p)
    db = store_path(data_dir)
    assert rows_in_db(db, pid)["commands"] == 1 and rows_in_db(db, pid)["equity_points"] == 1
    call(s1, "DeletePlayground", pb.DeletePlaygroundRequest(playground_id=pid))
    assert rows_in_db(db, pid) == dict.fromkeys(TABLES, 0)
    gateways.kill(gw1)
    _, s2 = gateways.start(data_dir)
    assert error_of(s2, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="x")).code() == \
        grpc.StatusCode.NOT_FOUND
    assert [p.playground_id for p in call(s2, "GetPlaygrounds", pb.GetPlaygroundsRequest()).playgrounds] == [kept]
    call(s2, "DeletePlayground", pb.DeletePlaygroundRequest(playground_id=kept))  # not restored first
    assert rows_in_db(db, kept) == dict.fromkeys(TABLES, 0)


def test_a_saved_playground_that_cannot_be_restored_fails_alone(gateways, data_dir):
    gw1, s1 = gateways.start(data_dir)
    changed, damaged, fine = create(s1, symbols=("AAA",)), create(s1, symbols=("BBB",)), create(s1, symbols=("BBB",))
    for p in (changed, damaged, fine):
        tick(s1, p, 0)
    call(s1, "PlaceOrder", order_req(changed, "buy", 10))
    for p in (changed, damaged, fine):
        tick(s1, p, 60)
        tick(s1, p, 60)  # the fill, at a price from the catalog
        save(s1, p)
    gateways.kill(gw1)
    Catalog(data_dir).write("AAA", "1m", generate_bars("AAA", start="2024-01-02", end="2024-01-06", seed=42))
    with sqlite3.connect(store_path(data_dir)) as db:  # without its snapshot: the whole journal is replayed
        db.execute("DELETE FROM snapshots WHERE playground_id = ?", (damaged,))
        db.execute("UPDATE commands SET kind = 'bogus' WHERE playground_id = ? AND seq = 2", (damaged,))

    _, s2 = gateways.start(data_dir)
    assert [p.playground_id for p in call(s2, "GetPlaygrounds", pb.GetPlaygroundsRequest()).playgrounds] == [fine]
    err = error_of(s2, "GetAccount", pb.GetAccountRequest(playground_id=changed))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == (f"saved playground {changed} cannot be restored: the catalog's AAA 1m bars changed "
                             "since it was saved (780 bars 2024-01-03..2024-01-04 then and now, with other values)")
    err = error_of(s2, "NextTick", pb.NextTickRequest(playground_id=damaged, seconds=60, request_id="x"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"saved playground {damaged} cannot be restored: command 2 (bogus" in err.details()
    assert "unknown command kind 'bogus'" in err.details()
    assert tick(s2, fine, 60).current_time == "2024-01-03T09:33:00-05:00"
    call(s2, "DeletePlayground", pb.DeletePlaygroundRequest(playground_id=changed))  # a broken one can be deleted
    assert error_of(s2, "GetAccount", pb.GetAccountRequest(playground_id=changed)).code() == grpc.StatusCode.NOT_FOUND


def test_a_dead_saved_playground_is_unavailable_then_restored(ray_cluster, gateways, data_dir):
    ray = ray_cluster
    gw, stub = gateways.start(data_dir, hosts=1)
    pid = create(stub)
    tick(stub, pid, 0)
    call(stub, "PlaceOrder", order_req(pid, "buy", 10))
    tick(stub, pid, 60)
    save(stub, pid)
    seen = client_view(stub, pid, ("AAA",))
    kill_host(ray, ray.get(gw.playground_host.remote(pid)))
    err = error_of(stub, "NextTick", pb.NextTickRequest(playground_id=pid, seconds=60, request_id="a"), timeout=20)
    assert err.code() == grpc.StatusCode.UNAVAILABLE and pid in err.details()
    assert client_view(stub, pid, ("AAA",)) == seen  # the next call restores it from the store
    assert tick(stub, pid, 60).current_time == "2024-01-03T09:32:00-05:00"


def test_concurrent_first_calls_share_one_restore(ray_cluster, gateways, data_dir):
    from actors.gateway.service import PlaygroundService

    ray = ray_cluster
    gw, stub = gateways.start(data_dir)
    pid = create(stub)
    tick(stub, pid, 60)
    save(stub, pid)
    gateways.kill(gw)

    async def main():
        service = PlaygroundService(str(data_dir), hosts=1)  # a host actor, so the test can ask what it holds
        assert await service.load_saved() == 1
        placements = []
        place = service.pool.place

        async def counted(*args, **kwargs):
            placements.append(args[:2])
            return await place(*args, **kwargs)

        service.pool.place = counted
        accounts = await asyncio.gather(*(service._call(pid, answers.account, False, NO_FILTERS) for _ in range(4)))
        host = service.pool.handle_of(pid)
        try:
            assert placements == [(pid, answers.restored)]
            assert {a.meta.playground_id for a in accounts} == {pid}
            assert await host.holds.remote() == [pid]
        finally:
            ray.kill(host, no_restart=True)

    asyncio.run(main())
