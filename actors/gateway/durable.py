"""Durable playgrounds, the hosted playground's side: the command journal, SavePlayground and
restoring by replay. :class:`Durable` is a mixin of :class:`~actors.gateway.hosted.HostedPlayground`
(no ray, no grpc here); the database is :mod:`actors.gateway.store`.

* Every successful mutating command (a non-preview tick with its seconds and request id,
  ``place_order`` with its keyword arguments) is *journalled*: in memory until the first
  SavePlayground, which writes the config, the whole journal and the materialised orders /
  trades / equity points in one transaction; from then on each command is appended, with the
  rows it changed, in one transaction before its result is returned (write-through, in the
  playground's own process). Failed commands write nothing, with one exception: a tick that
  fails half-way (an engine error after it started moving, e.g. a liquidation that cannot be
  booked) is journalled as ``{"fails": true}``, because it may have changed the account and its
  replay must fail the same way.
* Restoring builds a new engine playground from the saved config (the data catalog), replays
  the journal (the engine is deterministic, so the state is identical, ``client_request_id``
  idempotency included, D13) and compares the replayed rows with the saved ones: any difference
  (e.g. the catalog's bars changed) is a FAILED_PRECONDITION naming the playground and the first
  difference. NextTick's ``request_id`` cache is rebuilt for the ticks of the last
  ``TICK_CACHE_SECONDS`` (wall clock), so a client retrying across a gateway restart gets the
  cached delta instead of a second tick.
* If a command cannot be written, the playground drops its engine and answers UNAVAILABLE: the
  gateway then replaces it by a restore from the saved state (the unwritten command is lost and
  its caller was never told it succeeded).
"""
from __future__ import annotations

import json
import time

from .store import (
    JOURNAL_VERSION,
    Command,
    PlaygroundStore,
    StoreError,
    diff_state,
    order_row,
    state_rows,
    trade_row,
)


def _ok(payload=None):
    return ("ok", payload)


def _error(code: str, message: str):
    return ("error", code, message)


class Durable:
    """Mixin: needs ``playground_id``, ``pg`` (engine playground or None), ``config``,
    ``_tick_cache``, ``create(config, data_dir)`` and ``_tick_payload(delta)`` from its host class."""

    _journal: list | None = None   # (kind, args JSON, request_id, at) until the first save
    _store: PlaygroundStore | None = None
    _seq = 0                       # last journal seq written
    _marks = (0, 0, 0)             # highest order id, trade id, equity point count written
    _lost: str | None = None       # why the engine was dropped (a failed write)

    # --- journal ----------------------------------------------------------------------------
    def _pending_before(self, is_preview: bool) -> list:
        """The orders a tick may change (pending ones), captured before it; only when saved."""
        return self.pg.pending_orders() if self._store is not None and not is_preview else []

    def _record(self, kind: str, args: dict, request_id: str | None = None, *, orders=(), delta=None):
        """Journal a command that changed the engine; ``orders`` may have changed (with the ones
        they close and any new ones), ``delta`` is a tick's. Returns ``None`` or an error tuple."""
        try:
            entry = (kind, json.dumps(args, separators=(",", ":")), request_id or None, time.time())
            if self._store is None:
                if self._journal is None:
                    self._journal = []
                self._journal.append(entry)
                return None
            order_rows, trade_rows, equity_rows, marks = self._changed_rows(orders, delta)
            self._store.append(self.playground_id, Command(self._seq + 1, *entry), order_rows, trade_rows, equity_rows)
        except Exception as exc:  # noqa: BLE001  the engine moved but the journal did not: never diverge
            why = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            self._lost = (f"playground {self.playground_id} is unavailable: a command could not be saved ({why}); "
                          f"it is reloaded from its saved state")
            self.pg = None
            return _error("UNAVAILABLE", self._lost)
        self._seq += 1
        self._marks = marks
        return None

    def _changed_rows(self, orders, delta):
        pg = self.pg
        order_mark, trade_mark, equity_mark = self._marks
        dirty = {o.id: o for o in orders}
        nxt = order_mark + 1
        while True:  # orders created by the command (placed, liquidation, protective)
            try:
                dirty[nxt] = pg.get_order(nxt)
            except LookupError:
                break
            nxt += 1
        for o in list(dirty.values()):  # a fill changes the orders it closes (closed_by)
            for oid in o.closes:
                if oid not in dirty:
                    dirty[oid] = pg.get_order(oid)
        changed = [dirty[k] for k in sorted(dirty)]
        trades = sorted((t for o in changed for t in o.trades if t.id > trade_mark), key=lambda t: t.id)
        # One equity point per successful tick; Account.equity is the value the recorder stores.
        equity = [] if delta is None else [(equity_mark, delta.current_ns, pg.account().equity)]
        marks = (nxt - 1, trades[-1].id if trades else trade_mark, equity_mark + len(equity))
        return [order_row(o) for o in changed], [trade_row(t) for t in trades], equity, marks

    # --- RPCs -------------------------------------------------------------------------------
    def save(self, db_path: str, owner: str | None = None):
        """SavePlayground: the first call writes everything; later ones (the journal is already
        written through) refresh the materialised rows. Idempotent."""
        if self.pg is None:
            return _error("UNAVAILABLE", self._lost or "playground is not initialised")
        state = state_rows(self.pg)
        store = self._store
        try:
            if store is None:
                store = PlaygroundStore(db_path)
                commands = [Command(i, *e) for i, e in enumerate(self._journal or [], 1)]
                try:
                    store.save(self.playground_id, self.config, commands, state, owner=owner)
                except BaseException:
                    store.close()
                    raise
                self._store, self._seq, self._journal = store, len(commands), None
            else:
                store.refresh(self.playground_id, state)
        except StoreError as exc:
            return _error(exc.code, f"SavePlayground: cannot save playground {self.playground_id}: {exc}")
        self._marks = state.marks()
        return _ok(self.playground_id)

    def restore(self, db_path: str, data_dir: str):
        """Rebuild this playground from the store: create from the saved config, replay the
        journal, verify the replayed rows. An error leaves it unusable (its host drops it)."""
        pid = self.playground_id
        store = PlaygroundStore(db_path)
        try:
            result = self._restore(store, data_dir)
        except StoreError as exc:
            result = _error(exc.code, f"saved playground {pid} cannot be restored: {exc}")
        if result[0] == "error":
            self.pg = None
            store.close()
        return result

    def _restore(self, store: PlaygroundStore, data_dir: str):
        pid = self.playground_id

        def broken(why):
            return _error("FAILED_PRECONDITION", f"saved playground {pid} cannot be restored: {why}")

        saved = store.load(pid)
        if saved is None:
            return _error("NOT_FOUND", f"saved playground {pid} is not in {store.path}")
        if saved.schema_version > JOURNAL_VERSION:
            return broken(f"it was saved by a newer gateway (format {saved.schema_version} > {JOURNAL_VERSION})")
        created = self.create(saved.config, data_dir)
        if created[0] == "error":
            return broken(f"{created[2]} ({created[1]})")
        from .hosted import TICK_CACHE_SECONDS

        cutoff = time.time() - TICK_CACHE_SECONDS
        for expected, cmd in enumerate(saved.commands, 1):
            if cmd.seq != expected:
                return broken(f"its journal is damaged: command {expected} is missing")
            try:
                self._replay(cmd, cache=bool(cmd.request_id) and cmd.at >= cutoff)
            except Exception as exc:  # noqa: BLE001  any failure of a command that once succeeded
                return broken(f"command {cmd.seq} ({cmd.kind} {cmd.args}) fails on replay: {type(exc).__name__}: "
                              f"{exc} (has the data catalog changed since it was saved?)")
        replayed = state_rows(self.pg)
        diff = diff_state(saved.state, replayed)
        if diff is not None:
            return broken(f"the replayed state differs from the saved one: {diff} "
                          f"(has the data catalog changed since it was saved?)")
        self._store, self._seq, self._journal, self._marks = store, len(saved.commands), None, replayed.marks()
        return _ok(pid)

    def _replay(self, cmd: Command, cache: bool) -> None:
        from backtestester.engine import BacktestCompleteError, PlaygroundError

        args = json.loads(cmd.args)
        if cmd.kind == "tick":
            if args.get("fails"):
                try:
                    self.pg.tick(args["seconds"])
                except BacktestCompleteError:
                    raise
                except PlaygroundError:
                    return
                raise ValueError("the tick succeeds on replay but failed when it was recorded")
            delta = self.pg.tick(args["seconds"])
            if cache:  # rebuild NextTick's request_id cache (monotonic clock, as the live cache)
                self._tick_cache[cmd.request_id] = (time.monotonic() - max(0.0, time.time() - cmd.at),
                                                    self._tick_payload(delta))
        elif cmd.kind == "place_order":
            self.pg.place_order(**args)
        elif cmd.kind == "cancel_order":
            self.pg.cancel_order(int(args["order_id"]))
        else:
            raise ValueError(f"unknown command kind {cmd.kind!r}")
