"""Reference strategies: SMA crossover and the original's grid strategy (spec 18.6)."""
from __future__ import annotations

from collections import deque

import numpy as np

from .base import Strategy

NAN = float("nan")


class RunningMean:
    """Simple moving average updated one value at a time: ``sum(last n) / n`` (NaN until n values).

    The running sum adds the new value and subtracts the leaving one; :func:`running_sma` gives the
    same numbers, bit for bit, over a whole array (tests hand it to peers so both see one signal).
    """

    __slots__ = ("n", "window", "total")

    def __init__(self, n: int):
        self.n, self.window, self.total = n, deque(), 0.0

    def push(self, x: float) -> float:
        self.window.append(x)
        self.total += x
        if len(self.window) > self.n:
            self.total -= self.window.popleft()
        return self.total / self.n if len(self.window) == self.n else float("nan")


def running_sma(values, n: int) -> np.ndarray:
    """:class:`RunningMean` over an array (same floating-point operations, same results)."""
    mean = RunningMean(n)
    return np.array([mean.push(float(x)) for x in values])


class SmaCross(Strategy):
    """Long-only SMA crossover on each symbol's candles of period ``period_seconds`` (0: every
    candle seen): buy all-in (``fraction`` of uninvested cash, whole shares, sized at the fill)
    when the fast SMA crosses above the slow one; close the position when it crosses below.

    A cross is ``fast[-2] < slow[-2] and fast[-1] > slow[-1]`` (backtesting.py's ``crossover``).
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

    def on_start(self, ctx):
        self._state = {}

    def on_candle(self, ctx, bar):
        if self.period_seconds and bar.period.total_seconds() != self.period_seconds:
            return
        symbol = bar.symbol
        state = self._state.get(symbol)
        if state is None:
            state = self._state[symbol] = [deque(), 0.0, deque(), 0.0, float("nan"), float("nan")]
        close = bar.close
        # RunningMean.push for both averages, inlined (same operations): this runs once per bar.
        fast_window, fast_total, slow_window, slow_total, prev_fast, prev_slow = state
        fast_window.append(close)
        fast_total += close
        if len(fast_window) > self.fast:
            fast_total -= fast_window.popleft()
        slow_window.append(close)
        slow_total += close
        if len(slow_window) > self.slow:
            slow_total -= slow_window.popleft()
        fast = fast_total / self.fast if len(fast_window) == self.fast else NAN
        slow = slow_total / self.slow if len(slow_window) == self.slow else NAN
        state[1], state[3], state[4], state[5] = fast_total, slow_total, fast, slow
        if prev_fast < prev_slow and fast > slow:
            if ctx.position(symbol).quantity == 0:
                ctx.buy(symbol, fraction=self.fraction)
        elif prev_fast > prev_slow and fast < slow:
            ctx.close(symbol)


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
