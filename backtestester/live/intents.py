"""The order-intent journal: every broker order the desk wants is committed here BEFORE it is sent.

One row per intent, keyed ``"<reconcile id>/<live order id>/<leg>"``; its broker tag is
:func:`~backtestester.live.port.intent_tag` of the key, so a lookup by tag finds the order again
after an ambiguous outcome or a crash. States:

* ``submitting``: committed, about to be sent (found at startup = the process died inside the
  broker call: resolved like ``unresolved``);
* ``acked``: the broker named it (``broker_order_id``); fills come from polling;
* ``unresolved``: the outcome is unknown; it is looked up by tag before anything is sent again;
* ``rejected``: the broker refused it outright (nothing exists at the broker);
* ``beyond_reach``: unresolved, and the broker's order list no longer reaches back to the day it
  was sent (Tradier lists the current ET day only): it may exist at the broker or not. Never sent
  again, never looked up again; reported until an operator settles it (then ``done``);
* ``done``: the broker order reached a terminal status (``broker_status``, ``reason``).

Fills are applied from the broker's cumulative ``exec_quantity``: ``applied_exec_quantity`` and
``applied_notional`` (Σ quantity × price applied so far) are updated in the same transaction as
the fill they account for, so a fill is applied exactly once across restarts. The journal runs on
the desk's connection (:mod:`.livestore`), WAL with ``synchronous=FULL``: a commit is on disk
before the broker call that follows it.
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

from .port import OrderIntent, intent_tag

INTENT_STATES = ("submitting", "acked", "unresolved", "rejected", "beyond_reach", "done")
#: States whose broker order may still change (or whose existence is not known yet).
OPEN_STATES = ("submitting", "acked", "unresolved")

SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    key TEXT PRIMARY KEY, reconcile_id TEXT NOT NULL, order_id INTEGER NOT NULL, leg INTEGER NOT NULL,
    tag TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL, side TEXT NOT NULL, quantity INTEGER NOT NULL,
    order_type TEXT NOT NULL, duration TEXT NOT NULL, price REAL, stop REAL, state TEXT NOT NULL,
    broker_order_id TEXT, broker_status TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
    applied_exec_quantity REAL NOT NULL DEFAULT 0, applied_notional REAL NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS intents_by_order ON intents(order_id, leg);
"""


def intent_key(reconcile_id: str, order_id: int, leg: int) -> str:
    """The journal key of leg ``leg`` (1, 2, ...) of live order ``order_id`` in account ``reconcile_id``."""
    return f"{reconcile_id}/{order_id}/{leg}"


@dataclass
class IntentRecord:
    """One journal row."""

    key: str
    reconcile_id: str
    order_id: int
    leg: int
    tag: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    duration: str
    price: float | None
    stop: float | None
    state: str
    broker_order_id: str | None
    broker_status: str
    reason: str
    applied_exec_quantity: float
    applied_notional: float
    created_ns: int
    updated_ns: int

    def intent(self) -> OrderIntent:
        """The :class:`~backtestester.live.port.OrderIntent` to send (same tag every time)."""
        return OrderIntent(self.key, self.symbol, self.side, self.quantity, self.order_type, self.duration,
                           self.price, self.stop, self.tag)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def signed_applied(self) -> float:
        """The applied fill quantity signed by the broker side (buys positive)."""
        return self.applied_exec_quantity * (1 if self.side in ("buy", "buy_to_cover") else -1)


_COLUMNS = tuple(IntentRecord.__dataclass_fields__)


class IntentJournal:
    """The ``intents`` table on ``conn``. Writers commit themselves unless ``commit=False`` (the
    caller then commits the journal change together with its own rows). ``lock`` (shared with
    the connection's other users) is held around every use of the connection."""

    def __init__(self, conn: sqlite3.Connection, lock=None):
        self.conn, self.lock = conn, lock if lock is not None else threading.RLock()
        with self.lock:
            conn.executescript(SCHEMA)

    def _rows(self, where: str = "", args=()) -> list[IntentRecord]:
        with self.lock:
            cur = self.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM intents {where} ORDER BY created_ns, key", args)
            return [IntentRecord(*row) for row in cur.fetchall()]

    def record(self, reconcile_id: str, order_id: int, leg: int, *, symbol: str, side: str, quantity: int,
               order_type: str, duration: str, price: float | None, stop: float | None, now_ns: int) -> IntentRecord:
        """Commit a new intent in state ``submitting`` (durable before this returns)."""
        key = intent_key(reconcile_id, order_id, leg)
        rec = IntentRecord(key, reconcile_id, order_id, leg, intent_tag(key), symbol, side, int(quantity), order_type,
                           duration, price, stop, "submitting", None, "", "", 0.0, 0.0, now_ns, now_ns)
        with self.lock:
            self.conn.execute(f"INSERT INTO intents ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                              tuple(getattr(rec, c) for c in _COLUMNS))
            self.conn.commit()
        return rec

    def update(self, rec: IntentRecord, now_ns: int, *, commit: bool = True, **changes) -> IntentRecord:
        """Set ``changes`` (column=value) on ``rec`` and its row."""
        bad = set(changes) - set(_COLUMNS)
        if bad:
            raise ValueError(f"unknown intent columns {sorted(bad)}")
        if "state" in changes and changes["state"] not in INTENT_STATES:
            raise ValueError(f"intent state must be one of {INTENT_STATES}, got {changes['state']!r}")
        changes["updated_ns"] = now_ns
        sets = ", ".join(f"{name} = ?" for name in changes)
        with self.lock:
            self.conn.execute(f"UPDATE intents SET {sets} WHERE key = ?", (*changes.values(), rec.key))
            if commit:
                self.conn.commit()
            for name, value in changes.items():
                setattr(rec, name, value)
        return rec

    def get(self, key: str) -> IntentRecord | None:
        rows = self._rows("WHERE key = ?", (key,))
        return rows[0] if rows else None

    def for_order(self, order_id: int) -> list[IntentRecord]:
        """The legs of live order ``order_id``, first leg first."""
        return sorted(self._rows("WHERE order_id = ?", (order_id,)), key=lambda r: r.leg)

    def open_intents(self, reconcile_id: str) -> list[IntentRecord]:
        """Intents of the account that are submitting, acked or unresolved, oldest first."""
        return self._rows("WHERE reconcile_id = ? AND state IN ('submitting', 'acked', 'unresolved')", (reconcile_id,))

    def in_state(self, reconcile_id: str, state: str) -> list[IntentRecord]:
        """Intents of the account in ``state``, oldest first."""
        return self._rows("WHERE reconcile_id = ? AND state = ?", (reconcile_id, state))

    def all(self, reconcile_id: str) -> list[IntentRecord]:
        return self._rows("WHERE reconcile_id = ?", (reconcile_id,))

    def positions(self, reconcile_id: str) -> dict[str, float]:
        """The reconcile account's position per symbol: the signed sum of every applied fill."""
        out: dict[str, float] = {}
        for rec in self.all(reconcile_id):
            if rec.applied_exec_quantity:
                out[rec.symbol] = out.get(rec.symbol, 0.0) + rec.signed_applied
        return {s: q for s, q in out.items() if q != 0}

    def tags(self) -> set[str]:
        with self.lock:
            return {row[0] for row in self.conn.execute("SELECT tag FROM intents")}
