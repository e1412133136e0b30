"""Indicator series a strategy reads at the current bar (backtesting.py's ``self.I`` idea).

``ctx.indicator(symbol, period, fn, *args)`` computes ``fn(closes, *args)`` for a causal ``fn``
(a value depends only on its bar and earlier ones, as every function in
:mod:`backtestester.data.indicators`). Locally it is computed once over the repository, which
is safe because the series is only ever read at or before the current bar: ``series[-1]`` is
the current bar's value, ``series[-2]`` the previous one; reading ahead is impossible.

A broker keeps its series in a :class:`SeriesCache`: one computation per run and (symbol,
period, function, arguments, source), however often ``on_candle`` asks for it.
"""
from __future__ import annotations

import numpy as np

NAN = float("nan")


def _checked(values, repository, name):
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(repository),):
        raise ValueError(f"indicator {name or '?'} returned shape {values.shape}, "
                         f"expected one value per candle ({len(repository)},)")
    return memoryview(np.ascontiguousarray(values))  # single elements as Python floats, no copy


class Series:
    """A causal indicator read at the current candle of one repository."""

    __slots__ = ("values", "repository", "name")

    def __init__(self, values, repository, name: str = ""):
        self.values = _checked(values, repository, name)
        self.repository = repository
        self.name = name

    def __getitem__(self, k: int) -> float:
        """``k = -1``: the current bar's value, ``-2``: the previous bar's; NaN before the data."""
        if not isinstance(k, int) or k >= 0:
            raise IndexError(f"indicator series are read backwards from the current bar ([-1], [-2], ...), got [{k}]")
        i = self.repository.position + 1 + k
        return self.values[i] if i >= 0 else NAN

    def cross(self, other: "Series") -> int:
        """+1 if ``self`` crossed above ``other`` at the current bar, -1 if below, else 0."""
        i = self.repository.position
        if i < 1:
            return 0
        a, b = self.values, other.values
        before_a, before_b = a[i - 1], b[i - 1]
        if before_a < before_b:
            return 1 if a[i] > b[i] else 0
        if before_a > before_b:
            return -1 if a[i] < b[i] else 0
        return 0

    def cross_at(self, other: "Series"):
        """A function ``f(index) -> +1, -1 or 0``: :meth:`cross` at candle ``index`` of the
        repository (in ``on_candle``, ``bar.index``: the current candle). Over a whole repository
        the crossings are computed once, vectorised, with the same comparisons (NaN compares
        False), and ``f`` reads one of them without a Python frame: an order-heavy strategy
        calls it on every bar."""
        a, b = np.asarray(self.values), np.asarray(other.values)
        if a.shape != b.shape or other.repository is not self.repository:
            return lambda index: self.cross(other)
        signs = np.zeros(a.shape, dtype=np.int8)
        if len(a) > 1:
            below, above = a < b, a > b
            signs[1:] = (below[:-1] & above[1:]).view(np.int8) - (above[:-1] & below[1:]).view(np.int8)
        return memoryview(signs).__getitem__

    def crossed_above(self, other: "Series") -> bool:
        """``self[-2] < other[-2] and self[-1] > other[-1]`` (backtesting.py's ``crossover``)."""
        i = self.repository.position
        a, b = self.values, other.values
        return i >= 1 and a[i - 1] < b[i - 1] and a[i] > b[i]

    def crossed_below(self, other: "Series") -> bool:
        """``self[-2] > other[-2] and self[-1] < other[-1]``."""
        i = self.repository.position
        a, b = self.values, other.values
        return i >= 1 and a[i - 1] > b[i - 1] and a[i] < b[i]


class GrowingSeries(Series):
    """A :class:`Series` over a repository that grows as candles are revealed (the gateway
    adapter's mirror of a remote playground's candles, where future candles are not readable).

    ``compute(column) -> values`` is re-run over the revealed candles when the series is read
    after new ones arrived; for a causal ``fn`` the values of earlier bars do not change, so the
    values read are those of the same ``fn`` computed once over the whole history.
    ``recompute_start(known) -> s | None`` (optional; see
    :func:`backtestester.data.indicators.recompute_start`): re-run ``compute`` over the revealed
    candles from ``s`` only, for the values from ``known`` on (the same numbers), instead of over
    all of them; values are kept in a buffer that grows by doubling.
    """

    __slots__ = ("_compute", "_column", "_recompute_start", "_buffer")

    def __init__(self, compute, repository, column: str, name: str = "", recompute_start=None):
        self._compute, self._column, self._recompute_start = compute, column, recompute_start
        self._buffer = None
        super().__init__(compute(repository.column(column)), repository, name)

    def _sync(self) -> None:
        size, known = len(self.repository), len(self.values)
        if known == size:
            return
        column = self.repository.column(self._column)
        start = self._recompute_start(known) if self._recompute_start is not None and known else None
        if start is None:
            self.values, self._buffer = _checked(self._compute(column), self.repository, self.name), None
            return
        tail = np.asarray(self._compute(column[start:]), dtype=np.float64)
        if tail.shape != (size - start,):
            raise ValueError(f"indicator {self.name or '?'} returned shape {tail.shape} over the last "
                             f"{size - start} candles, expected one value per candle")
        if self._buffer is None or len(self._buffer) < size:
            grown = np.empty(max(64, 2 * size))
            grown[:known] = self.values
            self._buffer = grown
        self._buffer[known:size] = tail[known - start:]
        self.values = memoryview(self._buffer[:size])

    def __getitem__(self, k: int) -> float:
        self._sync()
        return Series.__getitem__(self, k)

    def cross(self, other: "Series") -> int:
        self._sync()
        if isinstance(other, GrowingSeries):
            other._sync()
        return Series.cross(self, other)

    def cross_at(self, other: "Series"):
        """``f(index)``: :meth:`cross` at the current candle (revealed candles grow: nothing is
        computed ahead), as :meth:`Series.cross_at` gives it for the candle being handled."""
        return lambda index: self.cross(other)

    def crossed_above(self, other: "Series") -> bool:
        self._sync()
        if isinstance(other, GrowingSeries):
            other._sync()
        return Series.crossed_above(self, other)

    def crossed_below(self, other: "Series") -> bool:
        self._sync()
        if isinstance(other, GrowingSeries):
            other._sync()
        return Series.crossed_below(self, other)


class SeriesCache:
    """The series of one run, one per (repository, function, arguments, source): what makes
    ``ctx.indicator`` inside ``on_candle`` cost a dictionary look-up after its first call.

    ``resolve(symbol, period)`` finds the repository (raising for an unknown one);
    ``build(repository, fn, args, source, name)`` computes a series. Requests are remembered as
    spelled (``"aapl"``, ``60``...) for a fast hit, and every spelling of one repository shares one
    series. A function is its identity: a new lambda per call is a new function (and a new
    computation); arguments that cannot be hashed (a list) are computed on every call.
    """

    __slots__ = ("_resolve", "_build", "_requests", "_series")

    def __init__(self, resolve, build):
        self._resolve, self._build = resolve, build
        self._requests: dict = {}
        self._series: dict = {}

    def get(self, symbol, period, fn, args: tuple, source: str, name: str) -> Series:
        request = (symbol, period, fn, args, source)
        try:
            found = self._requests.get(request)
        except TypeError:  # unhashable arguments: no key to remember them by
            return self._build(self._resolve(symbol, period), fn, args, source, name)
        if found is None:
            repo = self._resolve(symbol, period)
            key = (repo, fn, args, source)
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = self._build(repo, fn, args, source, name)
            self._requests[request] = found
        return found
