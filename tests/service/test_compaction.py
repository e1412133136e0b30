"""Compaction of saved playgrounds' journals: a snapshot of the engine state (written at
SavePlayground and every ``SNAPSHOT_EVERY`` commands) so that a restore replays only the commands
after it, with the same state as a full replay; an unusable snapshot falls back to the whole
journal; a version-1 database is upgraded in place. Sessions are driven directly (no Ray), on a
real catalog and a real SQLite file; ``SNAPSHOT_EVERY`` is lowered so that a few hundred ticks
span several snapshots.
"""
from __future__ import annotations

import os
import pickle
import sqlite3

import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import playground_pb2 as pb
from backtestester.service import journal
from backtestester.service.errors import ServiceError
from backtestester.service.store import SCHEMA_VERSION, PlaygroundStore, state_rows, store_path
from backtestester.wire import answers, requests

EVERY = 50
NO_FILTERS = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}


@pytest.fixture
def data_dir(tmp_path):
    cat = Catalog(tmp_path)
    for seed, sym in enumerate(("AAA", "BBB")):
        cat.write(sym, "1m", generate_bars(sym, start="2024-01-02", end="2024-01-12", seed=seed))
    return tmp_path


@pytest.fixture(autouse=True)
def every(monkeypatch):
    monkeypatch.setattr(journal, "SNAPSHOT_EVERY", EVERY)


def new_session(pid, data_dir):
    req = pb.CreatePolygonPlaygroundRequest(
        balance=100_000.0, start_date="2024-01-03", stop_date="2024-01-11", environment="simulator",
        repositories=[pb.Repository(symbol=s, timespan_multiplier=1, timespan_unit="minute")
                      for s in ("AAA", "BBB")])
    return answers.created(pid, requests.create_config(req), str(data_dir))


def view(session):
    """Every read RPC's answer, and every row a save writes."""
    return (answers.account(session, True, NO_FILTERS), answers.summary(session), answers.account_stats(session, True),
            *(answers.open_orders(session, s) for s in ("AAA", "BBB")), state_rows(session.pg))


def trade(session, i):
    """Command ``i`` of a deterministic mix: ticks (with request ids), orders (with client request ids)."""
    if i % 17 == 3:
        side = ("buy", "sell_short")[i // 17 % 2]
        return answers.place_order(session, {"symbol": ("AAA", "BBB")[i % 2], "side": side, "quantity": 5,
                                             "requested_price": 100, "client_request_id": f"c{i}"})
    if i % 17 == 11:
        side = ("sell", "buy_to_cover")[i // 17 % 2]
        return answers.place_order(session, {"symbol": ("AAA", "BBB")[(i - 8) % 2], "side": side, "quantity": 5,
                                             "requested_price": 100})
    return session.tick(60, False, f"t{i}")


def drive(session, commands):
    return {i: trade(session, i) for i in commands}


def test_a_restore_loads_the_snapshot_and_replays_fewer_than_every_commands(data_dir):
    """Saved after 20 commands, then 230 more (snapshots at 20, 70, ..., 220): the restore replays
    only the 30 after the last snapshot and has the same orders, trades, equity, account, positions, client_request_id
    idempotency and request_id cache as the original; both then go on identically."""
    db = store_path(data_dir)
    a = new_session("p-long", data_dir)
    seen = drive(a, range(20))
    a.save(db)
    seen |= drive(a, range(20, 250))
    store = PlaygroundStore(db)
    total = len(store.load("p-long").commands)
    assert total == 250
    assert store.load("p-long", tail=True).after == 220

    b = answers.restored("p-long", db, str(data_dir))
    assert b.journal.resumed_at == 220 and b.journal.replayed == 30 < EVERY
    assert view(b) == view(a)
    for i in (2, 19, 218, 219, 220, 221, 248):  # request_id: before the last snapshot, at it, after it
        assert trade(b, i) == seen[i], i
    for i in (3, 20, 207, 224, 241):  # client_request_id (D13): the order as it is now, not a new one
        assert trade(b, i) == answers.get_order(a, seen[i].id), i
    twin = new_session("p-long", data_dir)  # never saved: the same commands in memory
    drive(twin, range(250))
    assert view(twin) == view(a)
    for i in range(250, 300):  # the engine's internals (ledger, equity recorder, clock) continue alike
        seen[i] = trade(twin, i)
        assert trade(b, i) == seen[i], i
    assert view(b) == view(twin)

    # b wrote through 55 commands (the 5 repeated client_request_ids are journalled no-ops; cached
    # ticks are not journalled): 305 in all, the last snapshot at 270
    c = answers.restored("p-long", db, str(data_dir))
    assert (c.journal.resumed_at, c.journal.replayed) == (270, 35)
    assert view(c) == view(twin)
    for i in (2, 221, 248, 252, 299):  # b's replayed tail was written with its next snapshot
        assert trade(c, i) == seen[i], i
    store.close()


def test_an_unusable_snapshot_falls_back_to_the_whole_journal(data_dir, caplog):
    """A snapshot of another format, or one that names a foreign callable, is not loaded: the
    whole journal is replayed (same state), and the next command writes a good snapshot."""
    db = store_path(data_dir)
    a = new_session("p-fall", data_dir)
    drive(a, range(120))
    a.save(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE snapshots SET format = 99")
    b = answers.restored("p-fall", db, str(data_dir))
    assert (b.journal.resumed_at, b.journal.replayed) == (0, 120)
    assert view(b) == view(a)
    assert "snapshot format 99 (this gateway reads 1)" in caplog.text

    evil = pickle.dumps({"engine": os.system, "ticks": []})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE snapshots SET format = 1, state = ?", (evil,))
    b = answers.restored("p-fall", db, str(data_dir))
    assert (b.journal.resumed_at, b.journal.replayed) == (0, 120)
    assert "a snapshot may not refer to posix.system" in caplog.text
    a.journal.store.close()
    a.journal.store = None  # a stops writing: b is the playground now
    assert trade(b, 120) == trade(a, 120)  # the first command after a full replay writes a snapshot
    c = answers.restored("p-fall", db, str(data_dir))
    assert (c.journal.resumed_at, c.journal.replayed) == (121, 0)
    assert view(c) == view(a)


def test_a_version_1_database_is_upgraded_in_place_and_restores(data_dir):
    """A database written before snapshots existed (no ``snapshots`` and ``tick_answers`` tables,
    user_version 1) gets them when opened; its playgrounds restore from their whole journal."""
    db = store_path(data_dir)
    a = new_session("p-old", data_dir)
    drive(a, range(60))
    a.save(db)
    a.journal.store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE snapshots")
        conn.execute("DROP TABLE tick_answers")
        conn.execute("PRAGMA user_version = 1")
    b = answers.restored("p-old", db, str(data_dir))
    assert (b.journal.resumed_at, b.journal.replayed) == (0, 60)
    assert view(b) == view(a)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 0
    drive(b, range(60, 100))  # 100 - 0 >= EVERY: the write-through adds a snapshot
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT seq FROM snapshots").fetchall() == [(61,)]


def test_a_version_2_database_with_the_old_liquidation_tag_is_upgraded_and_restores(data_dir):
    """Before version 3 a liquidation order was tagged `... equity of <600.00> < <975.00> (...)`: the
    upgrade rewrites the saved tags to the original's text and drops those playgrounds' snapshots
    (pickled with the old tag), so they restore from their whole journal, identical."""
    db = store_path(data_dir)
    a = new_session("p-liq", data_dir)
    a.tick(60, False, "t0")
    qty = int(0.99 * 2 * 100_000 / a.pg.price("AAA"))  # an initial margin of 99% of the balance
    answers.place_order(a, {"symbol": "AAA", "side": "buy", "quantity": qty, "requested_price": 100})
    ticks = 1
    while not any(o.tag.startswith("liquidation") for o in a.pg.orders()):  # a fall of about 0.5% liquidates
        a.tick(60, False, f"t{ticks}")
        ticks += 1
    a.save(db)
    a.journal.store.close()
    with sqlite3.connect(db) as conn:
        [(tag,)] = conn.execute("SELECT tag FROM orders WHERE tag LIKE 'liquidation%'").fetchall()
        old = tag.replace("of ", "of <", 1).replace(" < ", "> < <").replace(" (maintenance", "> (maintenance")
        assert old.startswith("liquidation - equity of <") and old.endswith("> (maintenance margin)")
        conn.execute("UPDATE orders SET tag = ? WHERE tag = ?", (old, tag))
        conn.execute("PRAGMA user_version = 2")
    b = answers.restored("p-liq", db, str(data_dir))
    assert (b.journal.resumed_at, b.journal.replayed) == (0, ticks + 1)
    assert view(b) == view(a)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert conn.execute("SELECT tag FROM orders WHERE tag LIKE 'liquidation%'").fetchall() == [(tag,)]


def test_a_failed_save_loses_no_cached_answer(data_dir, tmp_path):
    """A SavePlayground that fails (here: its directory does not exist) writes nothing, so the
    next one still writes every cached tick answer: a retried tick after a restore is answered
    from them, not ticked again."""
    a = new_session("p-retry", data_dir)
    seen = drive(a, range(10))
    with pytest.raises(ServiceError):
        a.save(str(tmp_path / "missing" / "gateway.sqlite3"))
    db = store_path(data_dir)
    a.save(db)
    b = answers.restored("p-retry", db, str(data_dir))
    assert (b.journal.resumed_at, b.journal.replayed) == (10, 0)
    assert trade(b, 2) == seen[2] and trade(b, 9) == seen[9]
    assert view(b) == view(a)  # no second tick
