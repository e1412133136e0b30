"""The live desk's durable store: one SQLite file, ``<data_dir>/live.sqlite3``.

WAL journal with ``synchronous=FULL``: every commit is on disk when it returns, so an intent
committed before a broker call survives a crash inside that call. The tables hold what a restarted
desk needs to be the same desk (D14):

* ``playgrounds``, ``accounts``: the live playgrounds' and reconcile accounts' configuration;
* ``orders``: every live order as placed, with its current status;
* ``fills``: every fill applied to a live order (replayed through the engine's ledger on resume,
  so positions, lots, closes and balance come back exactly);
* ``outbox``: what the next ``next_tick`` of a playground delivers (trades, candles, invalid
  orders, events), and after delivery which tick delivered it (a repeated request id answers the
  same delta);
* ``ticks``: one row per delivered tick (its request id, time and equity point);
* ``last_bars``: the newest bar per (symbol, period) (live prices, D15);
* ``account_equity``: the broker account's equity points; ``intents``: :mod:`.intents`.
"""
from __future__ import annotations

import json
import os
import sqlite3

from ..engine.orders import Order
from .intents import IntentJournal

FILE_NAME = "live.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS playgrounds (pid TEXT PRIMARY KEY, doc TEXT NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (reconcile_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL,
    account_type TEXT NOT NULL, created_ns INTEGER NOT NULL, UNIQUE (broker, account_id, account_type));
CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, pid TEXT NOT NULL, doc TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS fills (seq INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL, order_id INTEGER NOT NULL,
    quantity REAL NOT NULL, price REAL NOT NULL, time_ns INTEGER NOT NULL, intent_key TEXT);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, pid TEXT NOT NULL, kind TEXT NOT NULL,
    doc TEXT NOT NULL, tick INTEGER);
CREATE INDEX IF NOT EXISTS outbox_by_pid ON outbox(pid, tick);
CREATE TABLE IF NOT EXISTS ticks (pid TEXT NOT NULL, tick INTEGER NOT NULL, request_id TEXT, current_ns INTEGER NOT NULL,
    equity REAL NOT NULL, PRIMARY KEY (pid, tick));
CREATE INDEX IF NOT EXISTS ticks_by_request ON ticks(pid, request_id);
CREATE TABLE IF NOT EXISTS last_bars (symbol TEXT NOT NULL, period_s INTEGER NOT NULL, start_ns INTEGER NOT NULL,
    close REAL NOT NULL, PRIMARY KEY (symbol, period_s));
CREATE TABLE IF NOT EXISTS account_equity (reconcile_id TEXT NOT NULL, ns INTEGER NOT NULL, equity REAL NOT NULL);
"""

#: The order fields stored as placed (the rest is rebuilt from fills and the stored status).
ORDER_FIELDS = ("id", "symbol", "side", "quantity", "order_type", "duration", "price", "requested_price",
                "stop_price", "sl", "tp", "tag", "close_order_id", "created_ns", "client_request_id")


def open_store(data_dir: str, lock=None) -> tuple[sqlite3.Connection, IntentJournal]:
    """Open (creating it if needed) ``<data_dir>/live.sqlite3``: WAL, ``synchronous=FULL``; the
    journal holds ``lock`` around its use of the connection."""
    if not isinstance(data_dir, (str, os.PathLike)) or not str(data_dir):
        raise ValueError(f"data_dir must be a directory path, got {data_dir!r}")
    os.makedirs(data_dir, exist_ok=True)
    conn = sqlite3.connect(os.path.join(data_dir, FILE_NAME), check_same_thread=False, isolation_level="DEFERRED")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    conn.commit()
    return conn, IntentJournal(conn, lock)


def dumps(doc) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def order_doc(order: Order) -> str:
    return dumps({f: getattr(order, f) for f in ORDER_FIELDS})


def order_from_doc(doc: str) -> Order:
    d = json.loads(doc)
    order = Order(d["id"], d["symbol"], d["side"], d["quantity"], d["order_type"], d["duration"], d["price"],
                  d["requested_price"], d["stop_price"], d["sl"], d["tp"], d["tag"], d["close_order_id"],
                  d["created_ns"], client_request_id=d["client_request_id"])
    return order


def insert_order(conn: sqlite3.Connection, pid: str, order: Order) -> None:
    conn.execute("INSERT INTO orders (id, pid, doc, status, reason) VALUES (?, ?, ?, ?, ?)",
                 (order.id, pid, order_doc(order), order.status, order.reject_reason))


def save_status(conn: sqlite3.Connection, order: Order, cancel_requested: bool | None = None) -> None:
    conn.execute("UPDATE orders SET status = ?, reason = ? WHERE id = ?", (order.status, order.reject_reason, order.id))
    if cancel_requested is not None:
        conn.execute("UPDATE orders SET cancel_requested = ? WHERE id = ?", (int(cancel_requested), order.id))


def queue_out(conn: sqlite3.Connection, pid: str, kind: str, doc: dict) -> None:
    """Queue one item for ``pid``'s next tick (committed by the caller with the change it reports)."""
    conn.execute("INSERT INTO outbox (pid, kind, doc) VALUES (?, ?, ?)", (pid, kind, dumps(doc)))
