"""Strategies with a vectorised form: ``signals(bars) -> (entries, exits)`` run through the
kernel, one strategy (:func:`run_strategy`) or a parameter sweep (:func:`run_strategy_batch`),
with :class:`Bars` memoising the indicators they share."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from .inputs import checked_prices, checked_signals, load_kernel
from .results import SUMMARY_FIELDS, BatchResult, FastResult
from .runs import daily_points, run_batch, run_signals


def crossover(a, b) -> np.ndarray:
    """Boolean array: ``a`` crossed above ``b`` at bar ``i`` (``a[i-1] < b[i-1] and a[i] > b[i]``;
    False at bar 0 and wherever a value is NaN), the vectorised :meth:`Series.cross` (backtesting.py's
    ``crossover``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(a.shape, dtype=bool)
    if a.shape[0] > 1:
        out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    return out


def crossings(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``(crossover(a, b), crossover(b, a))``: where ``a`` crossed above ``b`` and where it crossed
    below, from one comparison of each kind (a crossover strategy's entries and exits at half
    the passes over two long float arrays)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    up = np.zeros(a.shape, dtype=bool)
    down = np.zeros(a.shape, dtype=bool)
    if a.shape[0] > 1:
        below, above = a < b, a > b  # NaN compares False in both
        np.logical_and(below[:-1], above[1:], out=up[1:])
        np.logical_and(above[:-1], below[1:], out=down[1:])
    return up, down


class Bars(dict):
    """The bars a strategy's :meth:`signals` sees: a dict of equal-length numpy columns (``open``,
    ``high``, ``low``, ``close``, ``volume``, ``start`` in int64 UTC ns when known) whose
    :meth:`indicator` memoises ``fn(column, *args)``, so a sweep computes each distinct
    indicator once however many parameter sets use it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cache: dict = {}

    @classmethod
    def from_table(cls, table) -> "Bars":
        """From a pyarrow Table with ``start`` (timestamp) and ``open/high/low/close[/volume]``
        (zero-copy column views where Arrow allows)."""
        import pyarrow as pa  # noqa: PLC0415  (pyarrow is loaded only when a table is given)

        out = cls()
        for name in table.column_names:
            col = table.column(name)
            if pa.types.is_timestamp(col.type):
                out[name] = col.cast(pa.timestamp("ns", tz=col.type.tz)).to_numpy().astype(np.int64)
            elif pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                out[name] = col.to_numpy()
        return out

    def memo(self, key, compute):
        """``compute()`` once per ``key`` for these bars: what every batch of a sweep over them
        would otherwise redo (the price checks, the day boundaries: ~6 ms per million bars)."""
        key = ("memo", key)
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def indicator(self, fn, *args, source: str = "close") -> np.ndarray:
        key = (fn, args, source)
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = np.asarray(fn(self[source], *args), dtype=np.float64)
        return out


def indicator(bars: Mapping, fn, *args, source: str = "close") -> np.ndarray:
    """``fn(bars[source], *args)``, memoised when ``bars`` is a :class:`Bars` (use it in ``signals``)."""
    if isinstance(bars, Bars):
        return bars.indicator(fn, *args, source=source)
    return np.asarray(fn(bars[source], *args), dtype=np.float64)


def supports_signals(strategy) -> bool:
    """Does the strategy (class or instance) offer the vectorised form ``signals(bars)``?"""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    return callable(getattr(cls, "signals", None))


def _strategy_sizing(strategy) -> tuple[float, str]:
    fraction = getattr(strategy, "fraction", 1.0)
    direction = getattr(strategy, "direction", "long")
    return fraction, direction


def _as_bars(bars) -> Bars:
    if isinstance(bars, Bars):
        return bars
    if isinstance(bars, Mapping):
        return Bars(bars)
    if type(bars).__module__.startswith("pyarrow"):
        return Bars.from_table(bars)
    raise ValueError(f"bars must be a dict of numpy columns, a fastpath.Bars or a pyarrow Table, "
                     f"got {type(bars).__name__}")


def _strategy_signals(strategy, bars: Bars):
    if not supports_signals(strategy):
        raise ValueError(f"{type(strategy).__name__} has no vectorised form: it does not define signals(bars)")
    out = strategy.signals(bars)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(f"{type(strategy).__name__}.signals must return (entries, exits), got {type(out).__name__}")
    return out


def run_strategy(strategy, bars, *, balance: float, fill_model: str = "next_open", commission=None,
                 slippage=None, record_equity: bool = True) -> FastResult:
    """Run a strategy's vectorised form: ``strategy.signals(bars)`` gives ``(entries, exits)``;
    sizing is the strategy's ``fraction`` parameter (1.0 without one) and its ``direction``
    attribute (``"long"`` without one). ``bars``: dict of numpy columns, :class:`Bars` or a
    pyarrow Table."""
    bars = _as_bars(bars)
    entries, exits = _strategy_signals(strategy, bars)
    fraction, direction = _strategy_sizing(strategy)
    return run_signals(bars["open"], bars["high"], bars["low"], bars["close"], entries, exits, balance=balance,
                       fill_model=fill_model, fraction=fraction, commission=commission, slippage=slippage,
                       direction=direction, record_equity=record_equity)


def run_strategy_batch(strategy_cls, param_sets: Iterable[Mapping[str, Any]], bars, *, balance: float,
                       fill_model: str = "next_open", commission=None, slippage=None, parallel: bool = False,
                       return_trades: bool = False, max_signal_bytes: int = 256 * 2**20,
                       period_ns: int | None = None, start_ns=None, periods_per_year: float = 252) -> BatchResult:
    """A sweep of ``strategy_cls(**params)`` for each parameter set, through the fast path.

    Signals are computed per parameter set (indicators memoised across sets through
    :class:`Bars`), stacked in chunks of at most ``max_signal_bytes`` and run in compiled batches.
    Runs are grouped by ``direction``; results come back in ``param_sets`` order. With
    ``period_ns`` (the bar period; bar starts from ``start_ns`` or ``bars["start"]``) the result
    also has ``statistics``: per run, the numbers :meth:`FastResult.statistics` gives, without
    building any equity curve (:mod:`.statistics`). Parameter errors raise as the constructor
    raises them."""
    bars = _as_bars(bars)
    params = list(param_sets)
    strategies = [strategy_cls(**p) for p in params]
    n = len(bars["close"])
    runs = len(strategies)
    o_, c_ = bars.memo("prices", lambda: checked_prices(bars["open"], bars["high"], bars["low"], bars["close"]))
    if period_ns is not None and start_ns is None:
        if "start" not in bars:
            raise ValueError("statistics need the bars' start times: bars['start'] or start_ns")
        points = bars.memo(("points", period_ns), lambda: daily_points(bars["start"], period_ns))
    else:
        points = daily_points(start_ns, period_ns)
    per_chunk = max(1, int(max_signal_bytes // max(1, 2 * n)))
    k = load_kernel()
    summary = {name: np.zeros(runs) for name in SUMMARY_FIELDS}
    trades: list | None = [None] * runs if return_trades else None
    statistics: list | None = [None] * runs if points is not None else None
    seconds = 0.0
    by_direction: dict[str, list[int]] = {}
    for i, s in enumerate(strategies):
        by_direction.setdefault(_strategy_sizing(s)[1], []).append(i)
    for direction, indices in by_direction.items():
        for lo in range(0, len(indices), per_chunk):
            chunk = indices[lo:lo + per_chunk]
            ent = np.empty((len(chunk), n), dtype=bool)
            ext = np.empty((len(chunk), n), dtype=bool)
            for j, i in enumerate(chunk):
                e, x = _strategy_signals(strategies[i], bars)
                ent[j] = checked_signals(e, "entries", n, 1)
                ext[j] = checked_signals(x, "exits", n, 1)
            fracs = np.array([_strategy_sizing(strategies[i])[0] for i in chunk], dtype=np.float64)
            res = run_batch(k.MODE_ARRAYS, o_, c_, ent, ext, np.zeros((0, 0)), np.zeros((0, 2), dtype=np.int64),
                             len(chunk), balance=balance, fill_model=fill_model, fraction=fracs, size=None,
                             commission=commission, slippage=slippage, direction=direction, parallel=parallel,
                             return_trades=return_trades, return_equity=False, points=points,
                             periods_per_year=periods_per_year)
            seconds += res.seconds
            for j, i in enumerate(chunk):
                for name in SUMMARY_FIELDS:
                    summary[name][i] = res.summary[name][j]
                if trades is not None:
                    trades[i] = res.trades[j]
                if statistics is not None:
                    statistics[i] = res.statistics[j]
    summary["trade_count"] = summary["trade_count"].astype(np.int64)
    return BatchResult(summary, trades, None, seconds, None, statistics)
