"""Durable playgrounds, the session's side: the command journal, SavePlayground, restoring by
replay, and NextTick's ``request_id`` cache that a restore rebuilds. :class:`Journal` is owned by
:class:`~backtestester.service.session.PlaygroundSession` (pure: no ray, no grpc); the database is
:mod:`backtestester.service.store`.

* Every successful mutating command (a non-preview tick with its seconds and request id,
  ``place_order`` with its keyword arguments) is *journalled*: in memory until the first
  SavePlayground, which writes the config, the whole journal and the materialised orders /
  trades / equity points in one transaction; from then on each command is appended, with the
  rows it changed, in one transaction before its result is returned (write-through, in the
  playground's own process). Failed commands write nothing, with one exception: a tick that
  fails half-way (an engine error after it started moving, e.g. a liquidation that cannot be
  booked) is journalled as ``{"fails": true}``, because it may have changed the account and its
  replay must fail the same way.
* Snapshots (compaction of the replay): SavePlayground, and every :data:`SNAPSHOT_EVERY`
  commands the write-through, also write a snapshot of the engine's mutable state
  (:mod:`backtestester.engine.snapshot`), a pickle tagged with :data:`SNAPSHOT_FORMAT` and the
  package version (one per playground, replaced), and NextTick's cached answers since the last
  snapshot (``tick_answers``: each pickled once). The journal is kept whole: a snapshot that
  cannot be loaded (another format, unreadable, a class it may not name) falls back to replaying
  all of it.
* Restoring builds a new engine playground from the saved config (the data catalog), checks its
  bars against the saved fingerprints (:mod:`~backtestester.service.datacheck`), loads the
  snapshot, replays the journal after it (at most ``SNAPSHOT_EVERY - 1`` commands; the engine is
  deterministic, so the state is identical, ``client_request_id`` idempotency included, D13) and
  compares the replayed rows with the saved ones: any difference (e.g. the catalog's bars
  changed) is a FAILED_PRECONDITION naming the playground and the first difference. NextTick's
  ``request_id`` cache is the replayed ticks' plus, read when asked for, the saved answers of the last
  ``TICK_CACHE_SECONDS`` (wall clock), so a client retrying across a gateway restart gets the
  cached delta instead of a second tick.
* If a command cannot be written (:meth:`Journal.record` raises), the session drops its engine and
  answers UNAVAILABLE: the gateway then replaces it by a restore from the saved state (the unwritten command is lost and
  its caller was never told it succeeded).
"""
from __future__ import annotations

import io
import json
import logging
import pickle
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata

from backtestester.engine import BacktestCompleteError, Playground, PlaygroundError

from . import datacheck
from .errors import ServiceError, Status
from .store import (
    JOURNAL_VERSION,
    Checkpoint,
    Command,
    PlaygroundStore,
    SavedPlayground,
    Snapshot,
    StoreError,
    compact_json,
    diff_equity,
    diff_state,
    order_row,
    state_rows,
    trade_row,
)

log = logging.getLogger(__name__)

TICK_CACHE_SECONDS = 300.0  # request_id idempotency window (spec 16: 5 minutes)
TICK_CACHE_ENTRIES = 1_000  # tick answers kept per playground (about 1 MB); the oldest go first


def stream_request_id(request_id: str, index: int) -> str:
    """The request id under which StreamTicks caches the ``index``-th tick of stream ``request_id``."""
    return f"{request_id}/{index}"


def _stream_of(request_id: str) -> tuple[str, int]:
    """``(stream request id, index)`` of a :func:`stream_request_id`, else ``(request_id, 0)``."""
    stream, _, index = request_id.rpartition("/")
    return (stream, int(index)) if stream and index.isdigit() else (request_id, 0)


@lru_cache(maxsize=64, typed=True)
def _tick_args(seconds: int) -> str:
    """A tick's journalled arguments ``{"seconds": n}``: the same text tick after tick."""
    return compact_json({"seconds": seconds})


def _short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


SNAPSHOT_EVERY = 1000       # commands between two snapshots: a restore replays fewer than this
SNAPSHOT_FORMAT = 1         # of the pickled snapshot (the engine state has its own STATE_FORMAT inside)


def _package_version() -> str:
    try:  # (not ``backtestester.__version__``: the service layer does not import the package's top)
        return metadata.version("backtestester")
    except metadata.PackageNotFoundError:
        return "unknown"


PACKAGE_VERSION = _package_version()  # recorded with each snapshot, for the operator


class Deferred:
    """A NextTick answer rendered when first read: the engine's ``delta`` of a quiet tick (no
    trades, invalid orders or events: its rendering reads only data that never changes) and the
    front end's ``render(delta)``. A compact Session advance caches its ticks this way and sends
    them as columns; a retry, a NextTick with the same request id or a snapshot reads the one
    rendering (:func:`answer_of`)."""

    __slots__ = ("delta", "_render", "_answer")

    def __init__(self, render: Callable, delta):
        self.delta, self._render, self._answer = delta, render, None

    def answer(self):
        if self._render is not None:
            self._answer, self._render = self._render(self.delta), None
        return self._answer


def answer_of(entry):
    """A cached NextTick answer, rendered if it was :class:`Deferred`."""
    return entry.answer() if type(entry) is Deferred else entry


class TickCache:
    """NextTick's answers by ``request_id`` for :data:`TICK_CACHE_SECONDS` (monotonic clock): a
    retried tick gets the first answer instead of a second tick.

    At most ``max_entries`` answers are kept (the oldest are evicted first), so a long stream
    cannot grow it without bound. An evicted answer leaves a small marker (as many markers as
    answers at most, expiring with the window): a retry or a stream replay asking for it is
    FAILED_PRECONDITION, never a second tick. A stream's markers are one per stream: ticks
    ``0..n-1`` of it are gone (evicted oldest first, they are always its first ones)."""

    def __init__(self, max_entries: int = TICK_CACHE_ENTRIES):
        if max_entries < 1:
            raise ValueError(f"a tick cache keeps at least 1 answer, got {max_entries}")
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, object]] = OrderedDict()  # request_id -> (when, answer)
        self.evicted: OrderedDict[str, tuple[float, int]] = OrderedDict()  # stream -> (when, ticks 0..n-1 gone)

    def get(self, request_id: str, now: float):
        """The answer cached under ``request_id`` (``None`` if it was never seen in the window);
        FAILED_PRECONDITION if it was evicted."""
        self.expire(now)
        hit = self.entries.get(request_id)
        if hit is not None:
            return hit[1]
        stream, index = _stream_of(request_id)
        gone = self.evicted.get(stream)
        if gone is not None and index < gone[1]:
            what = (f"ticks 0..{gone[1] - 1} of stream {_short(stream)} are" if stream != request_id
                    else f"the answer to tick {_short(request_id)} is")
            raise ServiceError(Status.FAILED_PRECONDITION,
                               f"{what} no longer cached (a playground keeps its last {self.max_entries} tick "
                               "answers) and answering again would tick twice: resume the stream after the ticks "
                               "already received, or tick with a new request_id")
        return None

    def put(self, request_id: str, when: float, answer) -> None:
        self.entries[request_id] = (when, answer)
        while len(self.entries) > self.max_entries:
            evicted, (at, _) = self.entries.popitem(last=False)
            stream, index = _stream_of(evicted)
            gone = self.evicted.pop(stream, (at, 0))[1]
            self.evicted[stream] = (at, max(gone, index + 1))  # moved to the end: newest marker
            if len(self.evicted) > self.max_entries:
                self.evicted.popitem(last=False)

    def expire(self, now: float) -> None:
        for table in (self.entries, self.evicted):  # oldest first: both are kept in time order
            while table and now - next(iter(table.values()))[0] > TICK_CACHE_SECONDS:
                table.popitem(last=False)


class _SnapshotUnpickler(pickle.Unpickler):
    """Loads only this package's classes (engine orders and trades, the front end's rendered
    ticks) and plain values: a snapshot is data, never code to run."""

    def find_class(self, module, name):
        if module.split(".")[0] == "backtestester" or (module == "builtins" and name in ("set", "frozenset")):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"a snapshot may not refer to {module}.{name}")


def _loads(data: bytes):
    return _SnapshotUnpickler(io.BytesIO(data)).load()


class Journal:
    """The journal of one playground: in memory until the first :meth:`save`, then written
    through to its :class:`~backtestester.service.store.PlaygroundStore`. After a restore,
    ``replayed`` is the number of commands it replayed and ``resumed_at`` the journal seq of the
    snapshot it started from (0: none)."""

    def __init__(self, playground_id: str):
        self.playground_id = playground_id
        self.ticks = TickCache()
        self.store: PlaygroundStore | None = None
        self._pending: list | None = None   # (kind, args JSON, request_id, at) until the first save
        self._seq = 0                       # last journal seq written
        self._snapshot_seq = 0              # journal seq of the last snapshot written
        self._marks = (0, 0, 0)             # highest order id, trade id, equity point count written
        self._answers_mark = float("-inf")  # monotonic time of the last snapshot: later answers are not written yet
        self._answers_until = 0.0  # after a restore from a snapshot: until when its saved answers may be asked for
        self._next_mark = float("-inf")
        self.replayed = 0
        self.resumed_at = 0

    def cached(self, request_id: str, now: float, *, deferred: bool = False):
        """NextTick's cached answer for ``request_id`` (``None`` if none); ``deferred``: a
        :class:`Deferred` one as it is (else rendered). After a restore from a
        snapshot, the answers of the ticks up to it are read from the store when asked for (for
        their 5 minutes): a restore does not load them all."""
        hit = self.ticks.get(request_id, now)
        if hit is not None and not deferred:
            hit = answer_of(hit)
        wall = time.time()
        if hit is None and wall < self._answers_until and self.store is not None:
            try:
                data = self.store.answer(self.playground_id, request_id, wall - TICK_CACHE_SECONDS)
            except StoreError as exc:  # never tick twice for want of a read
                raise ServiceError(exc.status, f"NextTick: cannot read the saved answer of request {request_id}: "
                                               f"{exc}") from None
            hit = None if data is None else _loads(data)
        return hit

    def orders_before(self, pg: Playground, is_preview: bool) -> list:
        """The orders a tick may change (pending ones), captured before it; only when saved."""
        return pg.pending_orders() if self.store is not None and not is_preview else []

    def record(self, pg: Playground, kind: str, args: dict, request_id: str | None = None, *, orders=(),
               delta=None) -> None:
        """Journal a command that changed the engine; ``orders`` may have changed (with the ones
        they close and any new ones), ``delta`` is a tick's. Raises if it cannot be written."""
        text = _tick_args(args["seconds"]) if kind == "tick" and len(args) == 1 else compact_json(args)
        entry = (kind, text, request_id or None, time.time())
        if self.store is None:
            if self._pending is None:
                self._pending = []
            self._pending.append(entry)
            return
        seq = self._seq + 1
        order_rows, trade_rows, equity_rows, marks = self._changed_rows(pg, orders, delta)
        checkpoint = self.snapshot(pg, seq) if seq - self._snapshot_seq >= SNAPSHOT_EVERY else None
        self.store.append(self.playground_id, Command(seq, *entry), order_rows, trade_rows, equity_rows, checkpoint)
        self._seq = seq
        self._marks = marks
        if checkpoint is not None:
            self._snapshot_seq, self._answers_mark = seq, self._next_mark

    def snapshot(self, pg: Playground, seq: int) -> Checkpoint:
        """The engine's state after journal command ``seq``, pickled, with the ``request_id``
        cache's answers since the last snapshot (each answer is pickled once)."""
        now, wall = time.monotonic(), time.time()
        answers = [(rid, wall - (now - when), pickle.dumps(answer_of(answer), protocol=5))
                   for rid, (when, answer) in self.ticks.entries.items() if when > self._answers_mark]
        self._next_mark = now  # becomes the mark once the checkpoint is written
        state = pickle.dumps(pg.state(), protocol=5)
        return Checkpoint(Snapshot(seq, SNAPSHOT_FORMAT, PACKAGE_VERSION, state, wall), answers,
                          wall - TICK_CACHE_SECONDS)

    def _changed_rows(self, pg: Playground, orders, delta):
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

    def save(self, pg: Playground, config: dict, db_path: str, owner: str | None = None) -> None:
        """SavePlayground: the first call writes everything; later ones (the journal is already
        written through) refresh the materialised rows. Both write a snapshot. Idempotent.
        Raises ``StoreError``."""
        state = state_rows(pg)
        store = self.store
        if store is None:
            config = {**config, datacheck.KEY: datacheck.fingerprints(pg.repositories, config)}
            store = PlaygroundStore(db_path)
            commands = [Command(i, *e) for i, e in enumerate(self._pending or [], 1)]
            checkpoint = self.snapshot(pg, len(commands))
            try:
                store.save(self.playground_id, config, commands, state, owner=owner, checkpoint=checkpoint)
            except BaseException:
                store.close()
                raise
            self.store, self._seq, self._pending = store, len(commands), None
        else:
            checkpoint = self.snapshot(pg, self._seq)
            store.refresh(self.playground_id, state, checkpoint)
        self._snapshot_seq, self._answers_mark = checkpoint.snapshot.seq, self._next_mark
        self._marks = state.marks()

    # --- restoring ------------------------------------------------------------------------------
    def broken(self, why: str) -> ServiceError:
        return ServiceError(Status.FAILED_PRECONDITION,
                            f"saved playground {self.playground_id} cannot be restored: {why}")

    def load(self, store: PlaygroundStore, *, whole: bool = False) -> SavedPlayground:
        """The saved playground to restore: its tail (snapshot and the commands after it), or the
        ``whole`` journal (when the snapshot cannot be used); NOT_FOUND or FAILED_PRECONDITION if
        it cannot be restored. Raises ``StoreError`` if the database cannot be read."""
        saved = store.load(self.playground_id, tail=True)
        if saved is None:
            raise ServiceError(Status.NOT_FOUND, f"saved playground {self.playground_id} is not in {store.path}")
        if saved.schema_version > JOURNAL_VERSION:
            raise self.broken(f"it was saved by a newer gateway (format {saved.schema_version} > {JOURNAL_VERSION})")
        if whole and saved.snapshot is not None:
            saved.commands = store.load(self.playground_id).commands
            saved.snapshot, saved.after = None, 0
        return saved

    def resume(self, saved: SavedPlayground, pg: Playground) -> bool:
        """Load the snapshot (if there is one) into ``pg`` (its saved tick answers are read when
        asked for, :meth:`cached`); ``False`` (logged) if it cannot be loaded (another format, unreadable): restore from the whole
        journal on a new playground instead."""
        snap = saved.snapshot
        self.resumed_at = 0
        if snap is None:
            return True
        try:
            if snap.format != SNAPSHOT_FORMAT:
                raise ValueError(f"snapshot format {snap.format} (this gateway reads {SNAPSHOT_FORMAT})")
            pg.load_state(_loads(snap.state))
        except Exception as exc:  # noqa: BLE001  any unusable snapshot: the journal is still whole
            log.warning("saved playground %s: its snapshot at command %d (written by %s) cannot be loaded, "
                        "replaying its whole journal: %s: %s", self.playground_id, snap.seq, snap.package_version,
                        type(exc).__name__, exc)
            return False
        self._answers_until = snap.at + TICK_CACHE_SECONDS
        self._answers_mark = time.monotonic() - max(0.0, time.time() - snap.at)  # the tail's are not written yet
        self.resumed_at = snap.seq
        return True

    def replay(self, store: PlaygroundStore, saved: SavedPlayground, pg: Playground,
               render_tick: Callable) -> None:
        """Replay the saved journal after ``saved.after`` on ``pg`` (built from the saved config,
        :meth:`resume`d), rebuild the request_id cache (``render_tick(delta)``: the cached answer)
        and verify the replayed rows; from then on this journal writes through to ``store``.
        FAILED_PRECONDITION on a difference."""
        cutoff = time.time() - TICK_CACHE_SECONDS
        for expected, cmd in enumerate(saved.commands, saved.after + 1):
            if cmd.seq != expected:
                raise self.broken(f"its journal is damaged: command {expected} is missing")
            try:
                self._replay(pg, cmd, render_tick if cmd.request_id and cmd.at >= cutoff else None)
            except Exception as exc:  # noqa: BLE001  any failure of a command that once succeeded
                raise self.broken(f"command {cmd.seq} ({cmd.kind} {cmd.args}) fails on replay: "
                                  f"{type(exc).__name__}: {exc} (has the data catalog changed since it was saved?)"
                                  ) from None
        times, values = pg.equity_arrays()
        replayed, equity = state_rows(pg, equity=False), (times.astype("int64"), values)
        diff = diff_state(saved.state, replayed) or diff_equity(saved.equity, equity)
        if diff is not None:
            raise self.broken(f"the replayed state differs from the saved one: {diff} "
                              f"(has the data catalog changed since it was saved?)")
        self.store, self._pending = store, None
        self._seq, self._snapshot_seq = saved.after + len(saved.commands), saved.after
        self._marks = (*replayed.marks()[:2], len(equity[0]))
        self.replayed = len(saved.commands)

    def _replay(self, pg: Playground, cmd: Command, render_tick: Callable | None) -> None:
        args = json.loads(cmd.args)
        if cmd.kind == "tick":
            if args.get("fails"):
                try:
                    pg.tick(args["seconds"])
                except BacktestCompleteError:
                    raise
                except PlaygroundError:
                    return
                raise ValueError("the tick succeeds on replay but failed when it was recorded")
            delta = pg.tick(args["seconds"])
            if render_tick is not None:  # rebuild NextTick's request_id cache (monotonic clock, as the live cache)
                self.ticks.put(cmd.request_id, time.monotonic() - max(0.0, time.time() - cmd.at), render_tick(delta))
        elif cmd.kind == "place_order":
            pg.place_order(**args)
        elif cmd.kind == "cancel_order":
            pg.cancel_order(int(args["order_id"]))
        else:
            raise ValueError(f"unknown command kind {cmd.kind!r}")
