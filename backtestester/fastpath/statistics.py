"""Statistics of a batch without its equity curves: the numbers ``run_backtest`` reports
(:func:`backtestester.stats.compute_statistics`), from what the kernel gives per run (summary,
round trips, and the equity points of each day's last bar).

Everything here uses the same functions or the same floating-point operations as
``compute_statistics`` on :meth:`FastResult.equity_curve`, so each value equals
``FastResult.statistics(start_ns, period_ns)``'s exactly (``tests/fastpath/test_batches.py`` checks it);
a sweep gets them for a fraction of the cost of building the curve and the round-trip objects of
every run. Not here: the drawdown and trade durations (they need every point's time) and the
statistics against buy-and-hold (they need the closes): use :meth:`FastResult.statistics`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..stats import cagr, ratio_stats, statistic_names
from ..trade_stats import trade_metrics

# The Statistics fields a batch computes (see the module docstring for those left out).
STAT_FIELDS = statistic_names("batch")

_NS_PER_DAY = 86_400 * 10**9
_NAN = float("nan")


@dataclass(frozen=True)
class DailyPoints:
    """Where the daily closes are on a fast-path equity curve (:meth:`FastResult.equity_curve`:
    the balance, one point per bar, the completion point). ``curve_index``: the last point of
    each UTC day that has points (``stats.daily_returns``' resampling); ``bars``: the bars behind
    those that are bar points (the kernel's ``sample_at``); ``span_ns``: the curve's span."""

    curve_index: np.ndarray
    bars: np.ndarray
    n_bars: int
    span_ns: int

    @classmethod
    def of(cls, start_ns, period_ns: int) -> "DailyPoints":
        start_ns = np.asarray(start_ns, dtype=np.int64)
        n = start_ns.shape[0]
        if n == 0:
            raise ValueError("no bars: the statistics need at least one")
        period = np.int64(period_ns)
        times = np.concatenate([start_ns[:1], start_ns + period, start_ns[-1:] + 2 * period])
        if (np.diff(times) <= 0).any():
            raise ValueError("bar start times must be strictly increasing and at least one period apart at the end")
        day = np.floor_divide(times, _NS_PER_DAY)
        last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
        bars = last[(last >= 1) & (last <= n)] - 1
        return cls(last, bars, n, int(times[-1] - times[0]))

    def day_equity(self, balance: float, samples: np.ndarray, final: float) -> np.ndarray:
        """The curve's values at :attr:`curve_index`, from the equity points of :attr:`bars`."""
        e = np.empty(self.curve_index.shape[0])
        inner = (self.curve_index >= 1) & (self.curve_index <= self.n_bars)
        e[inner] = samples
        e[self.curve_index == 0] = balance
        e[-1] = final   # the completion point is always the last of its day
        return e


def run_statistics(points: DailyPoints, balance: float, summary: dict, samples: np.ndarray, trades: np.ndarray, *,
                   periods_per_year: float = 252) -> dict:
    """:data:`STAT_FIELDS` of one run: ``summary`` is its :data:`SUMMARY_FIELDS` dict, ``samples``
    its equity points at ``points.bars``, ``trades`` its :data:`TRADE_DTYPE` round trips."""
    final = float(summary["final_equity"])
    initial = float(balance)
    e = points.day_equity(initial, samples, final)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e[1:] / e[:-1] - 1.0            # stats.daily_returns
    volatility, sharpe, sortino = ratio_stats(r, float(periods_per_year), 0.0)
    max_dd = float(summary["max_drawdown"])  # the kernel's: bit for bit compute_statistics'
    annualized = cagr(initial, final, points.span_ns)  # compute_statistics' own arithmetic
    calmar = annualized / abs(max_dd) if max_dd < 0 and not math.isnan(annualized) else _NAN
    out = {"final_equity": final, "peak_equity": float(summary["peak_equity"]), "total_return": final / initial - 1.0,
           "annualized_return": annualized, "volatility": volatility, "sharpe": sharpe, "sortino": sortino,
           "max_drawdown": max_dd, "calmar": calmar, "exposure": float(summary["exposure"])}
    out.update(_trade_array_stats(trades))
    return out


def _trade_array_stats(trades: np.ndarray) -> dict:
    """:func:`backtestester.trade_stats.trade_metrics` of a :data:`TRADE_DTYPE` array (the return of
    each trade as ``RoundTrip.return_pct`` computes it)."""
    pnl = np.ascontiguousarray(trades["pnl"], dtype=np.float64)
    notional = trades["entry_price"] * trades["quantity"]             # RoundTrip.return_pct
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(notional == 0, _NAN, pnl / np.abs(notional))
    return trade_metrics(pnl, ret, trades["commission"].tolist())
