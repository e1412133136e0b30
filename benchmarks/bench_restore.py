"""Restore time of a saved playground after many ticks: snapshot + tail (what a gateway does)
against a full replay of the journal (the same database with its snapshot deleted: what it did
before snapshots, and what it falls back to when a snapshot cannot be loaded).

One playground on one symbol of synthetic one-minute bars, in this process (no Ray, no gRPC: the
session layer the gateway's holders run): saved after its first tick, then ``--ticks`` ticks of
60 s written through to SQLite, with a buy or a sell every 1,000 ticks so that orders, trades
and a changing position are part of the state. The ticks run in well under 5 minutes, so all of
their answers are still in NextTick's request_id window (a restore reads one only when a retry
asks for it); a second row restores a copy whose times are moved 10 minutes back. Prints one
row per restore: wall time and commands replayed; each restored state is checked equal to the
original's.

Usage: ``python benchmarks/bench_restore.py [--ticks N] [--repeat R]``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import date, timedelta

from rich.console import Console
from rich.table import Table

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.rpc import playground_pb2 as pb
from backtestester.service import journal
from backtestester.service.store import state_rows, store_path
from backtestester.wire import answers, requests

NO_FILTERS = {"statuses": set(), "sides": set(), "symbols": set(), "start": None, "end": None}


def build(data_dir: str, ticks: int, console: Console):
    """A saved playground after ``ticks`` written-through ticks; returns its session."""
    first = date(2023, 1, 2)
    last = (first + timedelta(days=ticks // 390 * 7 // 5 + 30)).isoformat()  # 390 minutes a weekday, and holidays
    Catalog(data_dir).write("BENCH", "1m", generate_bars("BENCH", start=first.isoformat(), end=last, seed=11))
    req = pb.CreatePolygonPlaygroundRequest(
        balance=1_000_000, start_date="2023-01-03", stop_date=last, environment="simulator",
        repositories=[pb.Repository(symbol="BENCH", timespan_multiplier=1, timespan_unit="minute")])
    session = answers.created("bench", requests.create_config(req), data_dir)
    session.tick(0, False, "t0")
    session.save(store_path(data_dir))
    t0 = time.perf_counter()
    for i in range(1, ticks + 1):
        if i % 1000 == 0:
            side = "sell" if i % 2000 == 0 else "buy"
            answers.place_order(session, {"symbol": "BENCH", "side": side, "quantity": 10, "requested_price": 100})
        session.tick(60, False, f"t{i}")
    console.print(f"{ticks:,} ticks written through in {time.perf_counter() - t0:.1f} s; "
                  f"database {os.path.getsize(store_path(data_dir)) / 2**20:.1f} MiB")
    return session


def restore(data_dir: str, repeat: int, original) -> tuple[float, int]:
    times, replayed = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        session = answers.restored("bench", store_path(data_dir), data_dir)
        times.append(time.perf_counter() - t0)
        replayed = session.journal.replayed
        assert state_rows(session.pg) == original and session.pg.clock.now_ns is not None
        session.journal.store.close()
    return statistics.median(times), replayed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = os.path.join(tmp, "data")
        session = build(data_dir, args.ticks, console)
        original = state_rows(session.pg)
        t0 = time.perf_counter()
        snap = session.journal.snapshot(session.pg, 0)
        snapshot_ms = (time.perf_counter() - t0) * 1e3
        session.journal.store.close()
        full_dir, later_dir = os.path.join(tmp, "full"), os.path.join(tmp, "later")
        shutil.copytree(data_dir, full_dir)
        with sqlite3.connect(store_path(full_dir)) as db:
            db.execute("DELETE FROM snapshots")
        shutil.copytree(data_dir, later_dir)
        with sqlite3.connect(store_path(later_dir)) as db:  # as if restored 10 minutes after the last tick
            db.execute("UPDATE commands SET at = at - 600")
            db.execute("UPDATE tick_answers SET at = at - 600")

        table = Table(title=f"restore of a saved playground after {args.ticks:,} ticks "
                            f"(median of {args.repeat}; snapshot every {journal.SNAPSHOT_EVERY:,} commands)")
        for col in ("restore", "commands replayed", "seconds"):
            table.add_column(col, justify="left" if col == "restore" else "right")
        for name, where in (("snapshot + tail, all ticks in the 5-minute request_id window", data_dir),
                            ("snapshot + tail, 10 minutes after the last tick", later_dir),
                            ("full replay (before snapshots)", full_dir)):
            seconds, replayed = restore(where, args.repeat, original)
            table.add_row(name, f"{replayed:,}", f"{seconds:.3f}")
        console.print(table)
        console.print(f"one snapshot: {len(snap.snapshot.state) / 2**10:,.0f} KiB, {snapshot_ms:.1f} ms to take "
                      f"(every {journal.SNAPSHOT_EVERY:,} commands, in the write-through of that command)")


if __name__ == "__main__":
    main()
