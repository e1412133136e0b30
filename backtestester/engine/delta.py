"""What one tick reports (spec 5.5)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .candles import Candle, Repository
from .orders import Order, Trade
from .timeutil import from_ns


class NewCandle:
    """A repository's newest candle revealed by a tick: ``symbol``, ``period``, ``candle``.

    ``open``/``high``/``low``/``close``/``volume`` and ``index`` read the repository directly,
    so a strategy that needs only prices never builds the :class:`Candle`.
    """

    __slots__ = ("repository", "index", "symbol", "period", "close", "_candle")

    def __init__(self, repository: Repository, index: int):  # one per revealed candle: kept short
        self.repository = repository
        self.index = index
        self.symbol: str = repository.symbol
        self.period: timedelta = repository.period
        self.close: float = repository.close_values[index]

    open = property(lambda self: float(self.repository.open[self.index]))
    high = property(lambda self: float(self.repository.high[self.index]))
    low = property(lambda self: float(self.repository.low[self.index]))
    volume = property(lambda self: float(self.repository.volume[self.index]))

    @property
    def candle(self) -> Candle:
        try:
            return self._candle
        except AttributeError:  # built on the first read only
            self._candle = self.repository.candle(self.index)
            return self._candle

    def __repr__(self):
        return f"NewCandle({self.symbol}, {self.period}, {self.candle!r})"


@dataclass
class Event:
    """Something the engine did on its own: ``type`` is ``liquidation`` (spec 12), ``expired``
    (day orders past their session, D4) or ``canceled`` (the other leg of a protective pair, D5)."""

    type: str
    orders: list[Order]


class TickDelta:
    """The outcome of one tick: ``new_trades``, ``new_candles``, ``invalid_orders`` (rejected in
    this tick), ``events``, ``current_time`` (the clock after the tick, in the calendar's zone)
    and ``is_backtest_complete``."""

    __slots__ = ("new_trades", "new_candles", "invalid_orders", "events", "current_ns", "is_backtest_complete", "_tz")

    def __init__(self, new_trades, new_candles, invalid_orders, events, current_ns, is_backtest_complete, tz):
        self.new_trades: list[Trade] = new_trades
        self.new_candles: list[NewCandle] = new_candles
        self.invalid_orders: list[Order] = invalid_orders
        self.events: list[Event] = events
        self.current_ns = current_ns
        self.is_backtest_complete = is_backtest_complete
        self._tz = tz

    @property
    def current_time(self) -> datetime:
        return from_ns(self.current_ns, self._tz)

    def __repr__(self):
        return (f"TickDelta(current_time={self.current_time.isoformat()}, new_trades={self.new_trades}, "
                f"new_candles={self.new_candles}, invalid_orders={self.invalid_orders}, events={self.events}, "
                f"is_backtest_complete={self.is_backtest_complete})")
