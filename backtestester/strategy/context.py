"""What a strategy sees: the clock, a read-only account and positions, and order verbs.

:class:`Context` is the interface; :class:`PlaygroundContext` implements it over a
:class:`~backtestester.strategy.broker.Broker`: a local :class:`~backtestester.engine.Playground`
or a playground of the gateway (:mod:`backtestester.remote.broker`), so a strategy runs
unchanged locally, in sweeps and through the gateway.
"""
from __future__ import annotations

from datetime import datetime

from ..engine import Account, Order, OrderRejected, Playground, PlaygroundError, Position
from ..symbols import normalize_symbol
from .broker import Broker, LocalBroker
from .rejections import Rejections, refused_order
from .series import Series

SOURCES = ("open", "high", "low", "close", "volume")


class Context:
    """Interface of a strategy's world. Order verbs return the placed :class:`Order`.

    Order options (keywords of :meth:`place` and of every verb): ``fraction=`` (size at the fill
    from uninvested cash, opening sides), ``order_type`` (``market``, ``limit``, ``stop``,
    ``stop_limit``) with ``price``/``stop_price``, ``duration`` (``day``/``gtc``), ``tag``,
    ``close_order_id`` (close that lot), and the protective prices:

    * ``sl=`` (stop-loss) and ``tp=`` (take-profit) on an opening order **act**: when it fills,
      the engine places a ``stop`` at ``sl`` and a ``limit`` at ``tp`` on the closing side
      (``gtc``, tagged ``sl``/``tp``), matching from the next candle; one cancels the other and
      both are canceled when the lot is closed otherwise (docs/engine.md, "Stop-loss and
      take-profit"). A stop fills at ``sl`` or at the open when the market gaps through it, so
      a 5 % stop loses about 5 % plus the gap. The strategy runners turn the engine's
      enforcement on (``enforce_stop_loss``); a :class:`PlaygroundContext` over a playground
      without it refuses ``sl``/``tp`` with an error rather than store them unenforced, and so
      does the gateway (its v1 wire cannot ask for enforcement).

    Rejections are data (:mod:`backtestester.strategy.rejections`): a placement the account's
    state refuses (``ctx.sell`` with no position, closing more than is open) returns an order
    with ``status == "rejected"`` and a ``reject_reason`` and calls ``on_reject``; bad arguments
    (side, type, quantity, prices, unknown symbol) raise. ``strict=True`` on the runner raises
    the refusals too.
    """

    @property
    def time(self) -> datetime:
        raise NotImplementedError

    @property
    def symbols(self) -> list[str]:
        raise NotImplementedError

    def account(self) -> Account:
        raise NotImplementedError

    def position(self, symbol: str) -> Position:
        raise NotImplementedError

    def quantity(self, symbol: str) -> float:
        """The signed quantity held of ``symbol``: ``position(symbol).quantity``, 0 when flat."""
        return self.position(symbol).quantity

    def price(self, symbol: str) -> float:
        """Close of the symbol's latest available candle (its smallest timeframe)."""
        raise NotImplementedError

    def place(self, symbol: str, side: str, quantity: float | None = None, **options) -> Order:
        raise NotImplementedError

    def indicator(self, symbol: str, period, fn, *args, source: str = "close") -> Series:
        """A :class:`Series` of the causal ``fn(values, *args)`` over the (symbol, period) candles'
        ``source`` column (open, high, low, close or volume), read at the current bar.

        Computed once per run and (symbol, period, ``fn``, ``args``, ``source``): asking for it in
        every ``on_candle`` costs a look-up. Pass the same function each time (a module-level
        function such as :func:`backtestester.data.indicators.rsi`, not a new lambda per call)."""
        raise NotImplementedError

    def cancel(self, order_id: int) -> Order:
        raise NotImplementedError

    # --- verbs built on place() ----------------------------------------------------------------
    def buy(self, symbol: str, quantity: float | None = None, **options) -> Order:
        """Open or add to a long. ``fraction=`` sizes it at fill time from uninvested cash."""
        return self.place(symbol, "buy", quantity, **options)

    def sell(self, symbol: str, quantity: float, **options) -> Order:
        """Reduce a long (FIFO, or ``close_order_id=``). With no long to reduce it is rejected
        (use :meth:`sell_short` to open a short)."""
        return self.place(symbol, "sell", quantity, **options)

    def sell_short(self, symbol: str, quantity: float | None = None, **options) -> Order:
        return self.place(symbol, "sell_short", quantity, **options)

    def buy_to_cover(self, symbol: str, quantity: float, **options) -> Order:
        return self.place(symbol, "buy_to_cover", quantity, **options)

    def close(self, symbol: str, **options) -> Order | None:
        """Close the whole position of ``symbol`` with a market order; ``None`` when flat."""
        q = self.quantity(symbol)
        if q == 0:
            return None
        return self.place(symbol, "sell" if q > 0 else "buy_to_cover", abs(q), **options)


def outside_decisions_text(what: str, periods) -> str:
    """The refusal of an order placed or canceled on a candle outside the strategy's
    :meth:`~backtestester.strategy.base.Strategy.decision_periods` (locally and through the gateway)."""
    return (f"the strategy tried to {what} on a candle outside its decision_periods {list(periods)} s: "
            f"declare every period it acts on (Strategy.decision_periods), or return None to act on any candle")


def decisions_only(on_candle, ctx: "PlaygroundContext", periods):
    """``on_candle`` for a strategy that declared its ``decision_periods``: on a candle of another
    period, placing or canceling through ``ctx`` raises (:func:`outside_decisions_text`), so a
    promise the gateway's Session relies on is also kept in a local run."""
    allowed, shown = frozenset(int(p) for p in periods), tuple(int(p) for p in periods)

    def guarded(c, bar):
        if bar.period.total_seconds() in allowed:
            return on_candle(c, bar)
        ctx.outside_decisions = shown
        try:
            return on_candle(c, bar)
        finally:
            ctx.outside_decisions = None
    return guarded


class PlaygroundContext(Context):
    """:class:`Context` over a :class:`~backtestester.strategy.broker.Broker`: a local playground
    (a :class:`Playground` given here is wrapped in a :class:`LocalBroker`) or a gateway
    playground (:class:`~backtestester.remote.broker.GatewayBroker`)."""

    def __init__(self, broker: Broker | Playground, *, strict: bool = False):
        self._broker = LocalBroker(broker) if isinstance(broker, Playground) else broker
        self.rejections = Rejections(strict)  # the rejected orders of the run (see Context)
        self.on_reject = None  # called as on_reject(ctx, order) for a refused placement (the runner sets it)
        self.outside_decisions = None  # the strategy's decision_periods while a candle of another period is seen

    @property
    def time(self) -> datetime:
        return self._broker.current_time

    @property
    def symbols(self) -> list[str]:
        return self._broker.symbols

    def account(self) -> Account:
        return self._broker.account()

    def position(self, symbol: str) -> Position:
        return self._broker.position(symbol)

    def quantity(self, symbol: str) -> float:
        return self._broker.quantity(symbol)

    def price(self, symbol: str) -> float:
        return self._broker.price(symbol)

    def place(self, symbol, side, quantity=None, *, fraction=None, order_type="market", price=None, stop_price=None,
              sl=None, tp=None, duration="day", tag="", close_order_id=None, client_request_id=None) -> Order:
        if self.outside_decisions is not None:
            raise PlaygroundError(outside_decisions_text("place an order", self.outside_decisions))
        reference = price if order_type in ("limit", "stop_limit") else (stop_price or self._broker.price(symbol))
        try:
            return self._broker.submit(symbol, side, quantity, reference, order_type, price, stop_price, sl, tp,
                                       duration, tag, close_order_id, client_request_id, fraction)
        except OrderRejected as exc:
            if self.rejections.strict:
                raise
            order = refused_order(str(exc), self._broker.now_ns(), normalize_symbol(symbol), side, quantity,
                                  order_type, price, stop_price, reference, sl, tp, duration, tag, close_order_id,
                                  client_request_id, fraction)
        self.rejections.record(order)
        if self.on_reject is not None:
            self.on_reject(self, order)
        return order

    def cancel(self, order_id: int) -> Order:
        if self.outside_decisions is not None:
            raise PlaygroundError(outside_decisions_text("cancel an order", self.outside_decisions))
        return self._broker.cancel_order(order_id)

    def indicator(self, symbol, period, fn, *args, source="close") -> Series:
        if source not in SOURCES:
            raise ValueError(f"indicator source must be one of {SOURCES}, got {source!r}")
        name = f"{getattr(fn, '__name__', 'indicator')}{args}"
        return self._broker.series(symbol, period, fn, args, source, name)
