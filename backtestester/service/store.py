"""Durable playgrounds: the gateway's embedded SQLite database (pure: ``sqlite3``, ``json``, numpy).

The file is ``<data_dir>/gateway.sqlite3`` (:func:`store_path`), opened with
``journal_mode=WAL``, ``synchronous=NORMAL`` (a committed transaction survives the crash of any
process; a power loss may undo the last few), ``foreign_keys=ON`` and a busy timeout. Several
processes write it: each saved playground appends its own commands where it lives
(:mod:`backtestester.service.journal`), the gateway reads the registry at start and deletes; SQLite
serialises the writers. One gateway per data directory: :class:`DataDirLock`.

Schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`; a version-1 database gets the
``snapshots`` table in place when it is opened, a version-2 one the original's liquidation tags;
every child row is deleted with its playground, ``ON DELETE CASCADE``)::

    playgrounds(id TEXT PRIMARY KEY, config TEXT (JSON: CreatePlayground's validated config),
                tags TEXT (JSON list), client_id TEXT, owner TEXT (tenant principal or NULL),
                saved_at REAL (unix seconds of the last SavePlayground), schema_version INTEGER)
    commands(playground_id, seq INTEGER (1, 2, ...), kind TEXT ('tick' | 'place_order' |
             'cancel_order'), args TEXT (JSON keyword arguments), request_id TEXT (NextTick's),
             at REAL (unix seconds), PRIMARY KEY (playground_id, seq))
    orders(playground_id, id, symbol, side, quantity, order_type, duration, price, requested_price,
           stop_price, sl, tp, tag, status, reject_reason, close_order_id, client_request_id,
           created_ns, closes (JSON ids), closed_by (JSON [trade id, time ns, quantity, price, order id]),
           previous_position (JSON [quantity, cost basis, pl, maintenance margin, price] or NULL),
           PRIMARY KEY (playground_id, id))
    trades(playground_id, id, order_id, time_ns, quantity, price, commission, PRIMARY KEY (playground_id, id))
    equity_points(playground_id, idx (0, 1, ...), time_ns, equity, PRIMARY KEY (playground_id, idx))
    snapshots(playground_id PRIMARY KEY, seq INTEGER (the last journal command it includes),
              format INTEGER (SNAPSHOT_FORMAT of the journal), package_version TEXT, state BLOB, at REAL)
    tick_answers(playground_id, request_id TEXT, at REAL (unix seconds), answer BLOB (pickled),
                 PRIMARY KEY (playground_id, request_id))

``client_id`` is not UNIQUE: the gateway keeps it unique per tenant (owner). ``commands`` is the
journal: a playground is restored by replaying it against a new engine built from ``config``
(the engine is deterministic). ``orders``/``trades``/``equity_points`` are the
materialised state after the last command, for plain-SQL inspection and to verify a replay
(:func:`diff_state`). ``snapshots`` holds the latest snapshot of a playground's engine state
(opaque to the store: :mod:`backtestester.service.journal` writes and reads it), so a restore
replays only the commands after ``seq``; ``tick_answers`` NextTick's cached answers of the ticks
up to it (written with each snapshot, those older than the 5-minute window deleted then).
Times are nanoseconds since the epoch (UTC).
"""
from __future__ import annotations

import errno
import fcntl
import functools
import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .errors import Status

DB_NAME = "gateway.sqlite3"
LOCK_NAME = "gateway.lock"  # flock()ed by the one gateway serving a data directory
SCHEMA_VERSION = 3        # of the database (PRAGMA user_version); 2 added ``snapshots``, ``tick_answers``;
#                           3 rewrote the liquidation tags to the original's text (no angle brackets)
JOURNAL_VERSION = 1       # of a playground's journal and rows (playgrounds.schema_version)
BUSY_TIMEOUT = 30.0       # seconds a writer waits for another one

ORDER_COLUMNS = ("id", "symbol", "side", "quantity", "order_type", "duration", "price", "requested_price",
                 "stop_price", "sl", "tp", "tag", "status", "reject_reason", "close_order_id",
                 "client_request_id", "created_ns", "closes", "closed_by", "previous_position")
TRADE_COLUMNS = ("id", "order_id", "time_ns", "quantity", "price", "commission")
EQUITY_COLUMNS = ("idx", "time_ns", "equity")

_SNAPSHOTS = """CREATE TABLE snapshots (
    playground_id TEXT PRIMARY KEY REFERENCES playgrounds(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, format INTEGER NOT NULL, package_version TEXT NOT NULL, state BLOB NOT NULL,
    at REAL NOT NULL);
CREATE TABLE tick_answers (
    playground_id TEXT NOT NULL REFERENCES playgrounds(id) ON DELETE CASCADE,
    request_id TEXT NOT NULL, at REAL NOT NULL, answer BLOB NOT NULL,
    PRIMARY KEY (playground_id, request_id)) WITHOUT ROWID;"""
_SCHEMA = f"""
CREATE TABLE playgrounds (
    id TEXT PRIMARY KEY, config TEXT NOT NULL, tags TEXT NOT NULL, client_id TEXT, owner TEXT,
    saved_at REAL NOT NULL, schema_version INTEGER NOT NULL);
CREATE TABLE commands (
    playground_id TEXT NOT NULL REFERENCES playgrounds(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, kind TEXT NOT NULL, args TEXT NOT NULL, request_id TEXT, at REAL NOT NULL,
    PRIMARY KEY (playground_id, seq)) WITHOUT ROWID;
CREATE TABLE orders (
    playground_id TEXT NOT NULL REFERENCES playgrounds(id) ON DELETE CASCADE,
    id INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL,
    order_type TEXT NOT NULL, duration TEXT NOT NULL, price REAL, requested_price REAL, stop_price REAL,
    sl REAL, tp REAL, tag TEXT, status TEXT NOT NULL, reject_reason TEXT, close_order_id INTEGER,
    client_request_id TEXT, created_ns INTEGER NOT NULL, closes TEXT NOT NULL, closed_by TEXT NOT NULL,
    previous_position TEXT, PRIMARY KEY (playground_id, id)) WITHOUT ROWID;
CREATE TABLE trades (
    playground_id TEXT NOT NULL REFERENCES playgrounds(id) ON DELETE CASCADE,
    id INTEGER NOT NULL, order_id INTEGER NOT NULL, time_ns INTEGER NOT NULL, quantity REAL NOT NULL,
    price REAL NOT NULL, commission REAL NOT NULL, PRIMARY KEY (playground_id, id)) WITHOUT ROWID;
CREATE TABLE equity_points (
    playground_id TEXT NOT NULL REFERENCES playgrounds(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, time_ns INTEGER NOT NULL, equity REAL NOT NULL,
    PRIMARY KEY (playground_id, idx)) WITHOUT ROWID;
{_SNAPSHOTS}
PRAGMA user_version = {SCHEMA_VERSION};
"""
_OLD_LIQUIDATION = "'liquidation - equity of <%> < <%> (maintenance margin)'"  # a LIKE pattern
# Version 2 -> 3: saved liquidation orders get the original's tag; a snapshot pickled with the old
# one is dropped, so those playgrounds restore from their whole journal (kept whole) and match.
_RETAG_LIQUIDATIONS = f"""
DELETE FROM snapshots WHERE playground_id IN (SELECT playground_id FROM orders WHERE tag LIKE {_OLD_LIQUIDATION});
UPDATE orders SET tag = replace(replace(replace(tag, 'equity of <', 'equity of '), '> < <', ' < '),
                                '> (maintenance margin)', ' (maintenance margin)')
    WHERE tag LIKE {_OLD_LIQUIDATION};
PRAGMA user_version = 3;"""
_MIGRATIONS = {1: f"{_SNAPSHOTS}\nPRAGMA user_version = 2;", 2: _RETAG_LIQUIDATIONS}  # version -> its upgrade by one
_CHILD_TABLES = ("commands", "orders", "trades", "equity_points", "snapshots", "tick_answers")


class StoreError(Exception):
    """The database could not be read or written. ``status``: UNAVAILABLE for a busy/locked
    database (a retry may work), FAILED_PRECONDITION otherwise."""

    def __init__(self, message: str, status: Status = Status.FAILED_PRECONDITION):
        super().__init__(message)
        self.status = status


class Snapshot(NamedTuple):
    """A playground's engine state after journal command ``seq`` (``state``: the journal's bytes)."""
    seq: int
    format: int
    package_version: str
    state: bytes
    at: float


class Checkpoint(NamedTuple):
    """What a snapshot writes: the snapshot, the cached tick answers since the last one
    (``(request_id, at, answer bytes)``), and the time before which older answers are deleted."""
    snapshot: Snapshot
    answers: list
    forget_before: float


class Command(NamedTuple):
    """One journal row: ``args`` is the JSON text of the command's keyword arguments."""
    seq: int
    kind: str
    args: str
    request_id: str | None
    at: float


@dataclass
class State:
    """Materialised rows: tuples in the column order of ``ORDER_COLUMNS``, ``TRADE_COLUMNS``,
    ``EQUITY_COLUMNS``, each list sorted by its first column."""
    orders: list = field(default_factory=list)
    trades: list = field(default_factory=list)
    equity: list = field(default_factory=list)

    def marks(self) -> tuple[int, int, int]:
        """(highest order id, highest trade id, number of equity points)."""
        return (self.orders[-1][0] if self.orders else 0, self.trades[-1][0] if self.trades else 0,
                len(self.equity))


@dataclass
class SavedPlayground:
    """A saved playground as read by :meth:`PlaygroundStore.load`. Whole: ``commands`` is the
    journal, ``state`` every row. Its tail (``tail=True``): ``snapshot`` the latest snapshot (or
    ``None``), ``commands`` the journal after ``after`` (its seq, else 0), ``state`` the orders and
    trades and ``equity`` the equity points as arrays ``(times ns int64, values float64)``."""
    id: str
    config: dict
    tags: list
    client_id: str | None
    owner: str | None
    saved_at: float
    schema_version: int
    commands: list[Command]
    state: State
    snapshot: Snapshot | None = None
    after: int = 0
    equity: tuple = ()


def store_path(data_dir) -> str:
    return os.path.join(os.fspath(data_dir), DB_NAME)


class DataDirLocked(OSError):
    """Another process (a gateway) holds ``<data_dir>/gateway.lock``."""


class DataDirLock:
    """The lock that makes a gateway the only one serving a data directory: an exclusive
    ``flock`` on ``<data_dir>/gateway.lock``, held (an open descriptor) for the holder's lifetime.
    The kernel drops it when the process dies, SIGKILL included, so a stale lock cannot exist;
    the file keeps the holder's pid for the error message only. A data directory that does not
    exist is not locked (it holds no saved playground, and SavePlayground there fails)."""

    def __init__(self, data_dir):
        self.data_dir = os.fspath(data_dir)
        self.path = os.path.join(self.data_dir, LOCK_NAME)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; :class:`DataDirLocked` (an ``OSError``) naming the holder's pid if taken."""
        if self._fd is not None or not os.path.isdir(self.data_dir):
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise DataDirLocked(f"another gateway serves data directory {self.data_dir} (pid {holder} holds "
                                f"{self.path}); one gateway per data directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


# --- engine objects -> rows (pure) ----------------------------------------------------------------
#: JSON without spaces, as the journal's commands and the rows store it (one encoder built once:
#: ``json.dumps`` with ``separators`` builds one per call, a microsecond a tick).
compact_json = json.JSONEncoder(separators=(",", ":")).encode


def order_row(o) -> tuple:
    p = o.previous_position
    prev = None if p is None else compact_json([p.quantity, p.cost_basis, p.pl, p.maintenance_margin, p.current_price])
    return (o.id, o.symbol, o.side, o.quantity, o.order_type, o.duration, o.price, o.requested_price, o.stop_price,
            o.sl, o.tp, o.tag, o.status, o.reject_reason, o.close_order_id, o.client_request_id, o.created_ns,
            compact_json(list(o.closes)), compact_json([[t.id, t.time_ns, t.quantity, t.price, t.order_id] for t in o.closed_by]),
            prev)


def trade_row(t) -> tuple:
    return (t.id, t.order_id, t.time_ns, t.quantity, t.price, t.commission)


def state_rows(pg, equity: bool = True) -> State:
    """Every order, trade and equity point (unless not ``equity``) of an engine ``Playground`` as rows."""
    orders = pg.orders()
    trades = sorted((t for o in orders for t in o.trades), key=lambda t: t.id)
    points = []
    if equity:
        times, values = pg.equity_arrays()
        points = [(i, t, v) for i, (t, v) in enumerate(zip(times.astype("int64").tolist(), values.tolist()))]
    return State([order_row(o) for o in orders], [trade_row(t) for t in trades], points)


def diff_state(saved: State, replayed: State) -> str | None:
    """``None`` when equal, else the first difference in words (which row, which column)."""
    for what, columns, a, b in (("order", ORDER_COLUMNS, saved.orders, replayed.orders),
                                ("trade", TRADE_COLUMNS, saved.trades, replayed.trades),
                                ("equity point", EQUITY_COLUMNS, saved.equity, replayed.equity)):
        for row_a, row_b in zip(a, b):
            if tuple(row_a) != tuple(row_b):
                if row_a[0] != row_b[0]:
                    return f"{what} rows differ: saved {what} {row_a[0]}, replayed {what} {row_b[0]}"
                col = next(c for c, x, y in zip(columns, row_a, row_b) if x != y)
                i = columns.index(col)
                return f"{what} {row_a[0]}: {col} saved {row_a[i]!r}, replayed {row_b[i]!r}"
        if len(a) != len(b):
            return f"{len(a)} saved {what}s, {len(b)} replayed"
    return None


def diff_equity(saved: tuple, replayed: tuple) -> str | None:
    """:func:`diff_state` for equity points given as arrays ``(times ns, values)``."""
    (t0, v0), (t1, v1) = saved, replayed
    n = min(len(t0), len(t1))
    for col, a, b in (("time_ns", t0, t1), ("equity", v0, v1)):
        differs = np.flatnonzero(a[:n] != b[:n])
        if len(differs):
            i = int(differs[0])
            return f"equity point {i}: {col} saved {a[i].item()!r}, replayed {b[i].item()!r}"
    if len(t0) != len(t1):
        return f"{len(t0)} saved equity points, {len(t1)} replayed"
    return None


# --- the database ---------------------------------------------------------------------------------
def _run(conn, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _wrap(method):
    """sqlite3 errors -> StoreError naming the file (busy/locked -> UNAVAILABLE)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            text = str(exc)
            status = Status.UNAVAILABLE if ("locked" in text or "busy" in text) else Status.FAILED_PRECONDITION
            raise StoreError(f"{self.path}: {type(exc).__name__}: {text}", status) from None
        except OSError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
    return wrapper


class PlaygroundStore:
    """The saved playgrounds in one SQLite file. The connection opens on first use; reading the
    registry or deleting never creates the file. Thread-safe (one lock around the connection)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"PlaygroundStore({self.path!r})"

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version == 0:
                        _run(conn, _SCHEMA)
                    while version in _MIGRATIONS:  # an older database is upgraded in place
                        _run(conn, _MIGRATIONS[version])
                        version += 1
                    if version > SCHEMA_VERSION:
                        raise StoreError(f"{self.path}: database schema version {version} is newer than this "
                                         f"gateway's ({SCHEMA_VERSION}); use a newer Backtestester")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self):
        """One write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self):
        with self._lock:
            yield self._connection()

    @_wrap
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @_wrap
    def journal_mode(self) -> str:
        with self._read() as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    @_wrap
    def registry(self) -> list[dict]:
        """Every saved playground as ``{id, tags, client_id, owner, saved_at}`` (cheap: no journal
        is read), in the order they were first saved; ``[]`` without creating a missing file."""
        if not self.exists():
            return []
        with self._read() as conn:
            rows = conn.execute("SELECT id, tags, client_id, owner, saved_at FROM playgrounds "
                                "ORDER BY rowid").fetchall()
        return [{"id": r[0], "tags": json.loads(r[1]), "client_id": r[2], "owner": r[3], "saved_at": r[4]}
                for r in rows]

    @_wrap
    def save(self, pid: str, config: dict, commands, state: State, *, owner: str | None = None,
             checkpoint: Checkpoint | None = None) -> None:
        """Write a playground in one transaction: its row, its whole journal, its rows and its
        snapshot (replacing whatever was saved under ``pid``)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO playgrounds (id, config, tags, client_id, owner, saved_at, schema_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET config = excluded.config, "
                "tags = excluded.tags, client_id = excluded.client_id, owner = excluded.owner, "
                "saved_at = excluded.saved_at, schema_version = excluded.schema_version",
                (pid, compact_json(config), compact_json(list(config.get("tags", []))), config.get("client_id"), owner,
                 time.time(), JOURNAL_VERSION))
            for table in _CHILD_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE playground_id = ?", (pid,))
            conn.executemany("INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?)", [(pid, *c) for c in commands])
            self._write_state(conn, pid, state, checkpoint=checkpoint)

    @_wrap
    def refresh(self, pid: str, state: State, checkpoint: Checkpoint | None = None) -> None:
        """Replace the materialised rows (and the snapshot) of a saved playground (SavePlayground
        on a saved one)."""
        with self._tx() as conn:
            if conn.execute("UPDATE playgrounds SET saved_at = ? WHERE id = ?", (time.time(), pid)).rowcount != 1:
                raise StoreError(f"{self.path}: playground {pid} is not saved (was it deleted?)")
            for table in _CHILD_TABLES[1:5]:
                conn.execute(f"DELETE FROM {table} WHERE playground_id = ?", (pid,))
            self._write_state(conn, pid, state, checkpoint=checkpoint)

    @_wrap
    def append(self, pid: str, command: Command, orders=(), trades=(), equity=(),
               checkpoint: Checkpoint | None = None) -> None:
        """One command and the rows it changed (and a new snapshot, if given), in one transaction
        (write-through). Fails (foreign key) when the playground's row is gone."""
        with self._tx() as conn:
            conn.execute("INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?)", (pid, *command))
            self._write_state(conn, pid, State(list(orders), list(trades), list(equity)), replace=True,
                              checkpoint=checkpoint)

    @staticmethod
    def _write_state(conn, pid: str, state: State, replace: bool = False,
                     checkpoint: Checkpoint | None = None) -> None:
        if checkpoint is not None:
            conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)", (pid, *checkpoint.snapshot))
            conn.executemany("INSERT OR REPLACE INTO tick_answers VALUES (?, ?, ?, ?)",
                             [(pid, *a) for a in checkpoint.answers])
            conn.execute("DELETE FROM tick_answers WHERE playground_id = ? AND at < ?", (pid, checkpoint.forget_before))
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        for table, rows, n in (("orders", state.orders, len(ORDER_COLUMNS)),
                               ("trades", state.trades, len(TRADE_COLUMNS)),
                               ("equity_points", state.equity, len(EQUITY_COLUMNS))):
            if rows:
                marks = ", ".join("?" * (n + 1))
                conn.executemany(f"{verb} INTO {table} VALUES ({marks})", [(pid, *r) for r in rows])

    @_wrap
    def load(self, pid: str, *, tail: bool = False) -> SavedPlayground | None:
        """A saved playground (``None`` if there is none): whole, or its ``tail`` (a restore's
        read: the snapshot, the commands after it, the orders and trades, the equity points as
        numpy arrays in one SELECT), see :class:`SavedPlayground`."""
        if not self.exists():
            return None
        with self._read() as conn:
            row = conn.execute("SELECT config, tags, client_id, owner, saved_at, schema_version FROM playgrounds "
                               "WHERE id = ?", (pid,)).fetchone()
            if row is None:
                return None

            def select(table, columns, order, where=""):
                return conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE playground_id = ? {where}"
                                    f"ORDER BY {order}", (pid,)).fetchall()

            snap = conn.execute(f"SELECT {', '.join(Snapshot._fields)} FROM snapshots WHERE playground_id = ?",
                                (pid,)).fetchone() if tail else None
            snapshot = None if snap is None else Snapshot(*snap)
            after = 0 if snapshot is None else snapshot.seq
            commands = [Command(*r) for r in select("commands", Command._fields, "seq", f"AND seq > {int(after)} ")]
            equity = select("equity_points", EQUITY_COLUMNS[1:] if tail else EQUITY_COLUMNS, "idx")
            state = State(select("orders", ORDER_COLUMNS, "id"), select("trades", TRADE_COLUMNS, "id"),
                          [] if tail else equity)
        try:
            config, tags = json.loads(row[0]), json.loads(row[1])
        except ValueError as exc:
            raise StoreError(f"{self.path}: playground {pid} has an unreadable config: {exc}") from None
        arrays = (np.fromiter((r[0] for r in equity), np.int64, len(equity)),
                  np.fromiter((r[1] for r in equity), np.float64, len(equity))) if tail else ()
        return SavedPlayground(pid, config, tags, row[2], row[3], row[4], row[5], commands, state, snapshot, after,
                               arrays)

    @_wrap
    def answer(self, pid: str, request_id: str, since: float) -> bytes | None:
        """The saved tick answer for ``request_id`` if it was cached at or after ``since``."""
        with self._read() as conn:
            row = conn.execute("SELECT answer FROM tick_answers WHERE playground_id = ? AND request_id = ? AND at >= ?",
                               (pid, request_id, since)).fetchone()
        return None if row is None else row[0]

    @_wrap
    def delete(self, pid: str) -> bool:
        """Delete a playground and all its rows in one transaction; ``False`` if it was not saved."""
        if not self.exists():
            return False
        with self._tx() as conn:
            return conn.execute("DELETE FROM playgrounds WHERE id = ?", (pid,)).rowcount == 1
