"""One simulator playground of the playground service: :class:`PlaygroundSession`.

A session owns one engine :class:`~backtestester.engine.Playground` and its
:class:`~backtestester.service.journal.Journal`; a front end (the gRPC gateway's playground
holders, ``actors.gateway.placement``) holds many and serialises the calls to each, so the engine
needs no locks. Transport-neutral: the methods take plain values and return engine objects or
plain values, and a refused call raises :class:`~backtestester.service.errors.ServiceError`.

The one exception is NextTick's answer: a retried ``request_id`` must get the first answer again,
as the client first saw it, even after a restore. So the session is given ``render_tick``, the
front end's rendering of a tick (the gateway's: a ``pb.TickDelta``), and caches what it returns.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from backtestester.data.catalog import DataNotFoundError
from backtestester.engine import (
    BacktestCompleteError,
    NotFoundError,
    Order,
    Playground,
    PlaygroundError,
    Repository,
    TickDelta,
)
from backtestester.engine.costs import Commission, Slippage
from backtestester.engine.timeutil import to_ns
from backtestester.playgrounds import simulator_playground

from . import datacheck, indicators
from .errors import ServiceError, Status
from .journal import Deferred, Journal
from .store import PlaygroundStore, StoreError

log = logging.getLogger(__name__)


def playground_options(engine: dict) -> dict:
    """The ``Playground`` keyword arguments of a config's ``engine`` options (plain data, as
    :func:`backtestester.wire.requests.engine_options` stores them; a config saved before they
    existed has none: the engine's defaults)."""
    options = {k: v for k, v in engine.items() if k not in ("commission", "slippage")}
    if engine.get("commission"):
        options["commission"] = Commission(**engine["commission"])
    if engine.get("slippage"):
        options["slippage"] = Slippage(**engine["slippage"])
    return options


class PlaygroundSession:
    """One playground: ``playground_id``, ``config`` (CreatePlayground's validated config),
    ``pg`` (the engine playground; ``None`` until created, and after it was dropped),
    ``indicators`` (``{(symbol, period_ns): {Bar field: values}}``) and ``journal``.
    ``render_tick(session, delta)``: what :meth:`tick` returns (and caches by request_id)."""

    def __init__(self, playground_id: str, render_tick: Callable[[PlaygroundSession, TickDelta], object]):
        # Nothing heavy here: a constructor that fails makes every later call fail obscurely.
        self.playground_id = playground_id
        self.render_tick = render_tick
        self.pg: Playground | None = None
        self.config: dict = {}
        self.indicators: dict = {}
        self.journal = Journal(playground_id)
        self._lost: str | None = None  # why the engine was dropped (a failed write)

    # --- creation ---------------------------------------------------------------------------
    def create(self, config: dict, data_dir: str) -> None:
        """Load every repository from the catalog (D19) and build the engine playground."""
        specs = [(s["symbol"], s["timeframe"], s["history_in_days"]) for s in config["repositories"]]
        try:
            self.pg = simulator_playground(data_dir, specs, start_date=config["start_date"],
                                           stop_date=config["stop_date"], balance=config["balance"],
                                           calendar=config.get("calendar", "XNYS"),
                                           **playground_options(config.get("engine", {})))
        except DataNotFoundError as exc:  # D18/D19: missing data is a clear error at creation
            log.info("playground %s: %s", self.playground_id, exc)  # the full text names the data directory
            raise ServiceError(Status.NOT_FOUND, exc.public_message) from None
        except (ValueError, PlaygroundError) as exc:
            raise ServiceError(Status.INVALID_ARGUMENT, str(exc)) from None
        repos = self.pg.repositories
        self.indicators = indicators.compute(repos, config["repositories"])  # spec 4.8: once, history + range
        self.config = dict(config)

    def restore(self, db_path: str, data_dir: str) -> None:
        """Rebuild this playground from the store: create from the saved config, load its snapshot,
        replay the journal after it (all of it if the snapshot cannot be loaded), verify the
        replayed rows. A ServiceError leaves it unusable (its holder drops it)."""
        store = PlaygroundStore(db_path)
        try:
            saved = self.journal.load(store)
            self._create_saved(saved.config, data_dir)
            if not self.journal.resume(saved, self.pg):  # on a new engine: the failed load may have half-moved it
                saved = self.journal.load(store, whole=True)
                self._create_saved(saved.config, data_dir)
            self.journal.replay(store, saved, self.pg, self._render)
        except (ServiceError, StoreError) as exc:
            self.pg = None
            store.close()
            if isinstance(exc, StoreError):
                raise ServiceError(exc.status, f"saved playground {self.playground_id} cannot be restored: "
                                               f"{exc}") from None
            raise

    def _create_saved(self, config: dict, data_dir: str) -> None:
        """Create from a saved config; FAILED_PRECONDITION if that fails or the catalog's bars are
        not the ones it was saved with (:mod:`~backtestester.service.datacheck`)."""
        try:
            self.create(config, data_dir)
        except ServiceError as exc:
            why = datacheck.changed(config, data_dir)
            raise self.journal.broken(why or f"{exc.message} ({exc.status.name})") from None
        why = datacheck.changed(config, data_dir, self.pg.repositories)
        if why is not None:
            self.pg = None
            raise self.journal.broken(why)

    def save(self, db_path: str, owner: str | None = None) -> str:
        """SavePlayground (:meth:`Journal.save`); returns the playground's id."""
        pg = self.ready()
        try:
            self.journal.save(pg, self.config, db_path, owner)
        except StoreError as exc:
            raise ServiceError(exc.status, f"SavePlayground: cannot save playground {self.playground_id}: "
                                           f"{exc}") from None
        return self.playground_id

    # --- state --------------------------------------------------------------------------------
    def ready(self) -> Playground:
        """The engine playground; UNAVAILABLE if there is none (not created, or dropped)."""
        if self.pg is None:
            raise ServiceError(Status.UNAVAILABLE, self._lost or "playground is not initialised")
        return self.pg

    @property
    def tz(self):
        return self.pg.clock.tz

    def lookup(self, order_id: int) -> Order:
        """An order by id (for the nested ``closes`` of an order's rendering)."""
        return self.pg.get_order(order_id)

    def _render(self, delta: TickDelta):
        return self.render_tick(self, delta)

    def _record(self, kind: str, args: dict, request_id: str | None = None, *, orders=(), delta=None) -> None:
        """Journal a command that changed the engine; if that fails, drop the engine (UNAVAILABLE)."""
        try:
            self.journal.record(self.pg, kind, args, request_id, orders=orders, delta=delta)
        except Exception as exc:  # noqa: BLE001  the engine moved but the journal did not: never diverge
            why = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            self._lost = (f"playground {self.playground_id} is unavailable: a command could not be saved ({why}); "
                          f"it is reloaded from its saved state")
            self.pg = None
            raise ServiceError(Status.UNAVAILABLE, self._lost) from None

    # --- commands -----------------------------------------------------------------------------
    def tick(self, seconds: int, is_preview: bool, request_id: str, *, deferred: bool = False):
        """NextTick: ``render_tick``'s answer, the cached one for a request_id seen within
        ``TICK_CACHE_SECONDS``. ``deferred``: a quiet tick's answer (no trades, invalid orders or
        events) is a :class:`~backtestester.service.journal.Deferred`, cached and returned
        unrendered (a cached one too)."""
        pg = self.ready()
        now = time.monotonic()
        if request_id and not is_preview:
            hit = self.journal.cached(request_id, now, deferred=deferred)
            if hit is not None:
                return hit
        before = self.journal.orders_before(pg, is_preview)
        try:
            delta = pg.tick(seconds, preview=is_preview)
        except BacktestCompleteError as exc:
            raise ServiceError(Status.FAILED_PRECONDITION, str(exc)) from None
        except PlaygroundError as exc:  # raised half-way through a tick: journalled (see journal.py)
            if not is_preview:
                self._record("tick", {"seconds": seconds, "fails": True}, request_id, orders=before)
            raise ServiceError(Status.INVALID_ARGUMENT, str(exc)) from None
        except (ValueError, OverflowError) as exc:
            raise ServiceError(Status.INVALID_ARGUMENT, str(exc)) from None
        if deferred and not (delta.new_trades or delta.invalid_orders or delta.events):
            answer = Deferred(self._render, delta)
        else:
            answer = self._render(delta)
        if not is_preview:
            if request_id:  # before the record: a snapshot written with it holds its answer (a failed tick stores nothing)
                self.journal.ticks.put(request_id, now, answer)
            self._record("tick", {"seconds": seconds}, request_id, orders=before, delta=delta)
        return answer

    def place_order(self, **kwargs) -> Order:
        """PlaceOrder: ``Playground.place_order(**kwargs)``, journalled."""
        pg = self.ready()
        try:
            o = pg.place_order(**kwargs)
        except NotFoundError as exc:
            raise ServiceError(Status.NOT_FOUND, f"failed to place order: {exc}") from None
        except PlaygroundError as exc:
            text = str(exc)
            status = Status.FAILED_PRECONDITION if text.startswith("backtest complete") else Status.INVALID_ARGUMENT
            raise ServiceError(status, f"failed to place order: {text}") from None
        self._record("place_order", kwargs, orders=(o,))
        return o

    def cancel_order(self, order_id: int) -> Order:
        """CancelOrder: ``Playground.cancel_order(order_id)``, journalled. NOT_FOUND for an unknown
        order, FAILED_PRECONDITION for one that is not pending."""
        pg = self.ready()
        try:
            o = pg.cancel_order(order_id)
        except NotFoundError as exc:
            raise ServiceError(Status.NOT_FOUND, f"failed to cancel order: {exc}") from None
        except PlaygroundError as exc:
            raise ServiceError(Status.FAILED_PRECONDITION, f"failed to cancel order: {exc}; only a pending "
                                                            f"order can be canceled") from None
        self._record("cancel_order", {"order_id": order_id}, orders=(o,))
        return o

    # --- queries ------------------------------------------------------------------------------
    def get_order(self, order_id: int) -> Order:
        pg = self.ready()
        try:
            return pg.get_order(order_id)
        except NotFoundError as exc:
            raise ServiceError(Status.NOT_FOUND, str(exc)) from None

    def open_orders(self, symbol: str) -> list[Order]:
        """GetOpenOrders: a symbol the playground does not hold has none (the original's answer:
        its clients retry any error for two minutes, then crash)."""
        return self.ready().open_orders(symbol)

    def candles(self, symbol: str, period_seconds: int, start: datetime,
                end: datetime | None) -> tuple[Repository, range, dict | None]:
        """GetCandles' selection: the repository, the indices of its candles with ``start <= candle
        start < end`` available at the clock, and its indicator fields. Errors as ``Playground.candles``."""
        pg = self.ready()
        try:
            repo = pg.repository(symbol, period_seconds)
            rng = repo.between(to_ns(start, "start"), None if end is None else to_ns(end, "end"), pg.clock.now_ns)
        except NotFoundError as exc:
            raise ServiceError(Status.NOT_FOUND, str(exc)) from None
        except PlaygroundError as exc:
            raise ServiceError(Status.INVALID_ARGUMENT, str(exc)) from None
        return repo, rng, self.indicators.get((repo.symbol, repo.period_ns))

    def candles_arrow(self, symbol: str, period_seconds: int, start: datetime, end: datetime | None) -> list[bytes]:
        """StreamCandlesArrow: the GetCandles selection as Arrow IPC streams of at most ~1 MiB each,
        with the repository's indicator columns (:func:`indicators.arrow_batches`); at least one message."""
        pg = self.ready()
        sym = symbol.strip().upper()
        if sym not in pg.symbols:
            raise ServiceError(Status.NOT_FOUND, f"symbol {sym} not found in repos")
        p_ns = int(period_seconds) * 1_000_000_000
        repo = next((r for r in pg.repositories if r.symbol == sym and r.period_ns == p_ns), None)
        if repo is None:
            raise ServiceError(Status.NOT_FOUND,
                               f"period {timedelta(seconds=period_seconds)} not found in repos for {sym}")
        rng = repo.between(to_ns(start, "start"), None if end is None else to_ns(end, "end"), pg.clock.now_ns)
        return indicators.arrow_batches(repo, rng.start, rng.stop, period_seconds, self.indicators.get((sym, p_ns)))
