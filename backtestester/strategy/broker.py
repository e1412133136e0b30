"""The seam between the strategy API and a playground: a :class:`Broker`.

One context (:class:`~backtestester.strategy.context.PlaygroundContext`) and one strategy loop
(:func:`~backtestester.strategy.runner.run_on_broker`) drive any broker:

* :class:`LocalBroker`: an in-process engine :class:`~backtestester.engine.Playground`;
* :class:`~backtestester.remote.broker.GatewayBroker`: a playground of the gRPC gateway,
  through :class:`backtestester.remote.client.PlaygroundClient`.

A broker speaks in engine objects (:class:`~backtestester.engine.Order`,
:class:`~backtestester.engine.Trade`, :class:`~backtestester.engine.Account`,
:class:`~backtestester.engine.Position`, :class:`~backtestester.engine.NewCandle`), so hooks see
the same types wherever the playground runs. Times are integer UTC nanoseconds.
"""
from __future__ import annotations

from datetime import datetime

from ..engine import Account, Order, Playground, PlaygroundError, Position
from .series import Series, SeriesCache


class Broker:
    """What the context and the runner need from a playground.

    Attributes: ``initial_balance``, ``start_ns`` (the clock's first time) and ``end_ns`` (its
    last), ``progress_every`` (ticks between two progress reports of the runner).
    """

    initial_balance: float = 0.0
    start_ns: int = 0
    end_ns: int = 0
    progress_every: int = 4096

    # --- what a strategy reads and does (through the context) ----------------------------------
    @property
    def current_time(self) -> datetime:
        """The clock, timezone-aware."""
        raise NotImplementedError

    @property
    def symbols(self) -> list[str]:
        raise NotImplementedError

    def account(self) -> Account:
        raise NotImplementedError

    def position(self, symbol: str) -> Position:
        raise NotImplementedError

    def quantity(self, symbol: str) -> float:
        """The signed quantity held of ``symbol`` (``position(symbol).quantity``)."""
        return self.position(symbol).quantity

    def price(self, symbol: str) -> float:
        """Close of the symbol's latest available candle of its smallest timeframe."""
        raise NotImplementedError

    def place_order(self, **kwargs) -> Order:
        """Keyword arguments of :meth:`Playground.place_order`; returns the placed order."""
        raise NotImplementedError

    def submit(self, symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration, tag,
               close_order_id, client_request_id, equity_fraction) -> Order:
        """:meth:`place_order` with every argument given by position, in its order: the context's
        call (a local broker passes them on without re-binding a dozen keywords)."""
        return self.place_order(symbol=symbol, side=side, quantity=quantity, requested_price=requested_price,
                                order_type=order_type, price=price, stop_price=stop_price, sl=sl, tp=tp,
                                duration=duration, tag=tag, close_order_id=close_order_id,
                                client_request_id=client_request_id, equity_fraction=equity_fraction)

    def cancel_order(self, order_id: int) -> Order:
        raise NotImplementedError

    def series(self, symbol: str, period, fn, args: tuple, source: str, name: str) -> Series:
        """The :class:`Series` of ``fn(column, *args)`` over the (symbol, period) candles' ``source``,
        computed once per run and key (a :class:`~backtestester.strategy.series.SeriesCache`)."""
        raise NotImplementedError

    # --- what the runner drives ----------------------------------------------------------------
    def now_ns(self) -> int:
        raise NotImplementedError

    def step(self, step_ns: int):
        """One tick: ``(trades, new_candles, invalid_orders, events, now_ns, complete)``."""
        raise NotImplementedError

    def quiet_ticks(self, step_ns: int, on_candle, ctx, max_ticks: int, deliver=None) -> int:
        """Ticks that cannot trade, run in a fast loop (see :meth:`Playground.quiet_ticks`; with
        ``deliver(trades, invalid_orders, events)``, a local playground may run some that trade); a
        broker without such a loop runs none, and the runner then calls :meth:`step` for every tick."""
        return 0

    def get_order(self, order_id: int) -> Order:
        raise NotImplementedError

    # --- results -------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Every order, in id order, with its trades and closes."""
        raise NotImplementedError

    def equity_arrays(self):
        """One point per tick: ``(times datetime64[ns] UTC-naive, equity float64)``."""
        raise NotImplementedError

    def bars_seen(self) -> list:
        """The bars behind the buy-and-hold benchmark: per (symbol, period) ``(symbol, period_ns,
        start_ns, available_ns, close)`` arrays of the bars known so far (empty: no benchmark)."""
        return []


class LocalBroker(Broker):
    """A :class:`Broker` over an in-process :class:`Playground`. The playground's bound methods
    are the broker's, so the local hot path has no extra call layer; ``place_order`` checks
    first that a ``sl``/``tp`` will act (the playground enforces them), else raises
    :class:`PlaygroundError`."""

    def __init__(self, playground: Playground):
        pg = self.playground = playground
        self.initial_balance = pg.initial_balance
        self.start_ns, self.end_ns = pg.start_ns, pg.clock.end_ns
        self._clock = pg.clock
        self.account, self.position, self.quantity, self.price = pg.account, pg.position, pg.quantity, pg.price
        self._submit, self.cancel_order, self.get_order = pg.submit, pg.cancel_order, pg.get_order
        self.step, self.quiet_ticks = pg.step, pg.quiet_ticks
        self.orders, self.equity_arrays = pg.orders, pg.equity_arrays
        self._series = SeriesCache(pg.repository, _whole_series)

    @property
    def current_time(self) -> datetime:
        return self.playground.current_time

    @property
    def symbols(self) -> list[str]:
        return self.playground.symbols

    def now_ns(self) -> int:
        return self._clock.now_ns

    def place_order(self, *, symbol, side, quantity=None, requested_price, order_type="market", price=None,
                    stop_price=None, sl=None, tp=None, duration="day", tag="", close_order_id=None,
                    client_request_id=None, equity_fraction=None) -> Order:
        return self.submit(symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration,
                           tag, close_order_id, client_request_id, equity_fraction)

    def submit(self, symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration, tag,
               close_order_id, client_request_id, equity_fraction) -> Order:
        if (sl is not None or tp is not None) and not self.playground.enforce_stop_loss:
            raise PlaygroundError("sl/tp on a playground without enforce_stop_loss would be stored only, never "
                                  "acted on: create it with enforce_stop_loss=True (the strategy runners do)")
        return self._submit(symbol, side, quantity, requested_price, order_type, price, stop_price, sl, tp, duration,
                            tag, close_order_id, client_request_id, equity_fraction)

    def bars_seen(self) -> list:
        return [(r.symbol, r.period_ns, r.start_ns, r.available_ns, r.close) for r in self.playground.repositories]

    def series(self, symbol, period, fn, args, source, name) -> Series:
        return self._series.get(symbol, period, fn, args, source, name)


def _whole_series(repo, fn, args, source, name) -> Series:
    # Computed once over the whole repository: safe because a Series is read only at or before
    # the repository's current candle.
    return Series(fn(getattr(repo, source), *args), repo, name)
