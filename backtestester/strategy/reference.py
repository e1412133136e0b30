"""Reference strategies: SMA crossover and the original's grid strategy (spec 18.6)."""
from __future__ import annotations

import numpy as np

from ..data.indicators import sma
from ..fastpath import crossings, indicator
from .base import Strategy


class SmaCross(Strategy):
    """Long-only SMA crossover on each symbol's candles of period ``period_seconds`` (0: every
    candle seen): buy all-in (``fraction`` of uninvested cash, whole shares, sized at the fill)
    when the fast SMA crosses above the slow one; close the position when it crosses below.

    A cross is ``fast[-2] < slow[-2] and fast[-1] > slow[-1]`` (backtesting.py's ``crossover``).
    The averages are :func:`~backtestester.data.indicators.sma` series of the context.
    """

    fast: int = 10
    slow: int = 30
    fraction: float = 1.0
    period_seconds: int = 0

    def validate(self):
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"SmaCross needs 1 <= fast < slow, got fast={self.fast}, slow={self.slow}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"SmaCross.fraction must be in (0, 1], got {self.fraction}")

    def decision_periods(self):
        """``(period_seconds,)``: it acts on no other candle; None (every candle) when it is 0."""
        return (self.period_seconds,) if self.period_seconds else None

    def on_start(self, ctx):
        self._lines = {}

    def on_candle(self, ctx, bar):
        if self.period_seconds and bar.period.total_seconds() != self.period_seconds:
            return
        # Keyed by the candle's repository (one per symbol and period, locally and through the
        # gateway): an identity hash, where a (symbol, period) tuple is built and hashed per bar.
        # The value kept is the fast line's cross test against the slow line by candle index
        # (Series.cross_at: locally a C-level read of crossings computed once).
        cross_at = self._lines.get(bar.repository)
        if cross_at is None:
            cross_at = self._lines[bar.repository] = ctx.indicator(bar.symbol, bar.period, sma, self.fast).cross_at(
                ctx.indicator(bar.symbol, bar.period, sma, self.slow))
        cross = cross_at(bar.index)
        if cross > 0:
            if ctx.quantity(bar.symbol) == 0:
                ctx.buy(bar.symbol, fraction=self.fraction)
        elif cross < 0:
            ctx.close(bar.symbol)

    def signals(self, bars):
        """Vectorised form for the fast path (:mod:`backtestester.fastpath`): the same SMAs and
        the same cross as :meth:`on_candle`, over the bars' closes (one symbol, one timeframe)."""
        return crossings(indicator(bars, sma, self.fast), indicator(bars, sma, self.slow))


class GridStrategy(Strategy):
    """The original's grid (spec 18.6): levels ``linspace(lower, upper, grid_size)``. For each
    close, scan the levels ascending: the first level with ``close <= level`` that is not active
    buys ``quantity`` and becomes active; else the first active level with ``close >= level``
    sells ``quantity`` and becomes inactive; else hold."""

    lower: float = 100.0
    upper: float = 110.0
    grid_size: int = 5
    quantity: float = 1.0
    symbol: str = ""

    def validate(self):
        if not self.lower < self.upper:
            raise ValueError(f"GridStrategy needs lower < upper, got {self.lower} and {self.upper}")
        if self.grid_size < 2:
            raise ValueError(f"GridStrategy.grid_size must be >= 2, got {self.grid_size}")
        if self.quantity <= 0:
            raise ValueError(f"GridStrategy.quantity must be > 0, got {self.quantity}")

    def on_start(self, ctx):
        self.levels = np.linspace(self.lower, self.upper, self.grid_size).tolist()
        self.active = [False] * self.grid_size
        self.signals = []

    def signal(self, close: float) -> str:
        """BUY, SELL or HOLD for one close; updates the active levels."""
        for i, level in enumerate(self.levels):
            if close <= level and not self.active[i]:
                self.active[i] = True
                return "BUY"
            if close >= level and self.active[i]:
                self.active[i] = False
                return "SELL"
        return "HOLD"

    def on_candle(self, ctx, bar):
        if self.symbol and bar.symbol != self.symbol.upper():
            return
        action = self.signal(bar.close)
        self.signals.append(action)
        if action == "BUY":
            ctx.buy(bar.symbol, self.quantity)
        elif action == "SELL":
            ctx.sell(bar.symbol, self.quantity)
