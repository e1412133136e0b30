"""Backtest statistics with written-down definitions.

Peers (backtesting.py, quantstats, empyrical, pyfolio, ...) disagree on what
"Sharpe ratio", "volatility" or "max drawdown duration" mean exactly, so every
statistic computed here is defined below, and the tests check these
definitions, not some peer's.

Conventions
-----------
Equity curve
    ``times[i]`` is the instant (UTC) at which the account was worth
    ``equity[i]``; ``equity[0]`` is the initial equity and must be > 0.

Daily returns ``r``
    The equity curve is resampled to the *last* value of each UTC calendar day
    that has at least one point (days without points are skipped, not filled),
    and percent-changed: ``r[k] = E_day[k] / E_day[k-1] - 1``.  For a curve
    that already has one point per day this is the curve itself.  For an
    intraday curve the movement between ``equity[0]`` and the close of the
    first day is therefore not part of ``r`` (same as
    ``series.resample("D").last().dropna().pct_change()`` in pandas, as used by
    backtesting.py).  ``n`` is the number of daily returns.

``periods_per_year`` (``P``, default 252)
    Number of return periods (trading days) per year, used to annualise
    volatility, Sharpe and Sortino.  If the curve has one point per week, pass
    ``periods_per_year=52``.

``risk_free_rate`` (``R``, default 0)
    Annual, compounded.  Per period: ``rf = (1 + R) ** (1 / P) - 1``.
    Excess returns: ``x = r - rf``.

Calendar span
    ``span = times[-1] - times[0]`` in calendar time; a year is 365.25 days.

Definitions (``nan`` means "undefined": never an exception or a warning)
------------------------------------------------------------------------
* ``total_return = equity[-1] / equity[0] - 1``.
* ``annualized_return`` (CAGR) ``= (equity[-1] / equity[0]) ** (365.25 days /
  span) - 1``; ``nan`` if ``span == 0``; ``-1`` if the final equity is <= 0.
  Note the calendar-time annualisation (unlike volatility/Sharpe, which use
  ``P``).
* ``volatility = std(r, ddof=1) * sqrt(P)``; ``nan`` if ``n < 2``.
* ``sharpe = mean(x) / std(x, ddof=1) * sqrt(P)``; ``nan`` if ``n < 2`` or the
  standard deviation is zero (below 1e-14, i.e. floating-point noise).
* ``sortino = mean(x) / DD * sqrt(P)`` with the downside deviation
  ``DD = sqrt(mean(min(x, 0) ** 2))`` taken over *all* ``n`` excess returns
  (target return = the risk-free rate, so ``min(r, 0)`` when ``R == 0``);
  ``nan`` if ``n < 2`` or ``DD`` is zero (no losing day).
* ``max_drawdown = min(equity / cummax(equity) - 1)`` over every point of the
  curve (not only the daily closes): a fraction <= 0, ``0.0`` if the curve
  never falls below a previous peak.
* ``max_drawdown_duration``: for every drawdown, the time from the peak (the
  last point at the running maximum before the fall) to the first later point
  whose equity is >= that peak, or to ``times[-1]`` if it never recovers; the
  longest of these, as a ``timedelta`` (``timedelta(0)`` if no drawdown).
* ``avg_drawdown_duration``: the mean of the durations of all drawdowns
  defined as for ``max_drawdown_duration`` (the unrecovered one included);
  ``timedelta(0)`` if no drawdown.
* ``calmar = annualized_return / abs(max_drawdown)``; ``nan`` if there is no
  drawdown.
* ``peak_equity = max(equity)``.

Against buy-and-hold, given ``benchmark`` values ``B`` at every point of the
curve (``nan`` without them).  :func:`benchmark_curve` builds ``B`` from bars:
the equal-weighted mean over the instruments of ``close / first close``, each
close the last one known at the point's time (the first close before any is),
so for one instrument ``B`` is its close price scaled to start at 1:

* ``buy_and_hold_return = B[-1] / B[0] - 1`` (for one instrument: last close /
  first close - 1).
* ``beta = cov(le, lb) / var(lb)`` (``ddof=1``) where ``le`` and ``lb`` are the
  daily *log* returns of the equity and of ``B`` (both resampled to the last
  point of each UTC day, as ``r``); ``nan`` with fewer than two returns, a
  non-positive equity or a flat benchmark.
* ``alpha = total_return - R - beta * (buy_and_hold_return - R)``: Jensen's
  alpha over the whole period (not annualised; ``R`` subtracted once, as
  backtesting.py does); ``nan`` when ``beta`` is.

Trade statistics, over the closed round trips (``N = trade_count``), each with
``pnl`` (money, after commission) and ``return_pct = pnl / (entry_price *
quantity)`` (a fraction; trips with a zero notional are left out of the return
statistics).  Every one is ``nan`` if ``N == 0``.  Computed in
:mod:`backtestester.trade_stats`:

* ``win_rate = #(pnl > 0) / N``.
* ``profit_factor = sum(pnl > 0) / abs(sum(pnl < 0))`` (money);
  ``profit_factor_return`` is the same of ``return_pct``.  ``inf`` if there is
  no loss but some gain; ``nan`` if nothing was gained or lost.
* ``expectancy = mean(pnl)`` (money per trade);
  ``avg_trade_return = mean(return_pct)`` (the expectancy as a return).
* ``geometric_trade_return = prod(1 + return_pct) ** (1 / N) - 1``; ``nan`` if
  a trade lost 100 % or more.
* ``best_trade = max(return_pct)``, ``worst_trade = min(return_pct)``
  (fractions, not money).
* ``sqn = sqrt(N) * mean(pnl) / std(pnl, ddof=1)`` (Van Tharp's system
  quality number); ``nan`` if ``N < 2`` or the deviation is zero.
* ``kelly = W - (1 - W) / (mean(pnl > 0) / abs(mean(pnl < 0)))`` with
  ``W = win_rate``: the Kelly fraction; ``nan`` without both a winning and a
  losing trade.
* ``avg_trade_duration = mean(exit_time - entry_time)``,
  ``max_trade_duration = max(exit_time - entry_time)``; ``None`` if ``N == 0``
  (``None`` is the ``timedelta`` stand-in for ``nan``).
* ``total_commission = sum(commission)`` (``0.0`` if ``N == 0``).
* ``exposure = mean(in_market)``: fraction of equity points at which a
  position was held; ``nan`` if ``in_market`` was not given.

All ratios are plain fractions (0.1 means 10 %).

docs/statistics.md lists them for users, with units and how each differs
from backtesting.py's.  This module is part of the pure core: it imports only
the standard library and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

import numpy as np

from .arrays import float_array
from .trade_stats import RoundTrip, round_trip_stats

__all__ = ["RoundTrip", "Statistics", "benchmark_curve", "compute_statistics", "statistic_names"]

_NS_PER_DAY = 86_400 * 10**9
_DAYS_PER_YEAR = 365.25
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# A standard deviation (or downside deviation) of daily returns below this is
# floating-point noise (returns are computed as a ratio minus one, so their
# rounding error is ~1e-16 in absolute terms): treated as zero.
_ZERO_DISPERSION = 1e-14
_NAN = float("nan")


_LABELS = {
    "start": "Start",
    "end": "End",
    "duration": "Duration",
    "initial_equity": "Initial equity",
    "final_equity": "Final equity",
    "peak_equity": "Peak equity",
    "total_return": "Total return",
    "buy_and_hold_return": "Buy & hold return",
    "annualized_return": "CAGR",
    "volatility": "Volatility (ann.)",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "alpha": "Alpha",
    "beta": "Beta",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Max drawdown duration",
    "avg_drawdown_duration": "Avg drawdown duration",
    "calmar": "Calmar ratio",
    "trade_count": "Trades",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "profit_factor_return": "Profit factor (returns)",
    "expectancy": "Expectancy",
    "avg_trade_return": "Expectancy (return)",
    "geometric_trade_return": "Avg trade (geometric)",
    "best_trade": "Best trade",
    "worst_trade": "Worst trade",
    "sqn": "SQN",
    "kelly": "Kelly criterion",
    "avg_trade_duration": "Avg trade duration",
    "max_trade_duration": "Max trade duration",
    "total_commission": "Commissions",
    "exposure": "Exposure time",
}


# Where a statistic appears besides :class:`Statistics` (see :func:`statistic_names`): "batch",
# the fast path's batch statistics (everything that needs no point's time); "sweep", a column
# of a sweep's results.
_BATCH = {"batch": True}
_BATCH_AND_SWEEP = {"batch": True, "sweep": True}


@dataclass(frozen=True)
class Statistics:
    """Summary statistics of one backtest; see the module docstring for definitions.

    Fractions are plain fractions (``0.1`` = 10 %); undefined values are
    ``nan`` (``None`` for ``avg_trade_duration`` and ``max_trade_duration``; the statistics
    against the benchmark are ``nan`` when no benchmark was given).
    """

    start: datetime
    end: datetime
    duration: timedelta
    initial_equity: float
    final_equity: float = field(metadata=_BATCH_AND_SWEEP)
    peak_equity: float = field(metadata=_BATCH)
    total_return: float = field(metadata=_BATCH_AND_SWEEP)
    buy_and_hold_return: float
    annualized_return: float = field(metadata=_BATCH_AND_SWEEP)
    volatility: float = field(metadata=_BATCH_AND_SWEEP)
    sharpe: float = field(metadata=_BATCH_AND_SWEEP)
    sortino: float = field(metadata=_BATCH_AND_SWEEP)
    alpha: float
    beta: float
    max_drawdown: float = field(metadata=_BATCH_AND_SWEEP)
    max_drawdown_duration: timedelta
    avg_drawdown_duration: timedelta
    calmar: float = field(metadata=_BATCH_AND_SWEEP)
    trade_count: int = field(metadata=_BATCH_AND_SWEEP)
    win_rate: float = field(metadata=_BATCH_AND_SWEEP)
    profit_factor: float = field(metadata=_BATCH_AND_SWEEP)
    profit_factor_return: float = field(metadata=_BATCH)
    expectancy: float = field(metadata=_BATCH_AND_SWEEP)
    avg_trade_return: float = field(metadata=_BATCH)
    geometric_trade_return: float = field(metadata=_BATCH)
    best_trade: float = field(metadata=_BATCH)
    worst_trade: float = field(metadata=_BATCH)
    sqn: float = field(metadata=_BATCH)
    kelly: float = field(metadata=_BATCH)
    avg_trade_duration: timedelta | None
    max_trade_duration: timedelta | None
    total_commission: float = field(metadata=_BATCH)
    exposure: float = field(metadata=_BATCH_AND_SWEEP)

    def as_dict(self, *, labels: bool = False) -> dict[str, Any]:
        """The statistics as an ordered dict.

        Args:
            labels: If true, keys are human labels (``"Sharpe ratio"``) instead
                of field names (``"sharpe"``).  Values are unchanged (fractions
                are not multiplied by 100).
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            out[_LABELS[f.name] if labels else f.name] = getattr(self, f.name)
        return out


def statistic_names(where: str | None = None) -> tuple[str, ...]:
    """The :class:`Statistics` field names in order: the one list of statistic names. ``where``
    ``"batch"`` keeps those the fast path's batch statistics compute
    (:data:`backtestester.fastpath.STAT_FIELDS`), ``"sweep"`` those a sweep's results record
    (:data:`backtestester.sweep.execute.METRICS`)."""
    return tuple(f.name for f in fields(Statistics) if where is None or f.metadata.get(where))


# --------------------------------------------------------------------------- #
# Input conversion
# --------------------------------------------------------------------------- #


def _datetime_to_ns(value: Any, index: int) -> int:
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(
                f"times must be timezone-aware datetimes (or numpy datetime64 in UTC); "
                f"times[{index}] = {value!r} is naive"
            )
        ns = getattr(value, "value", None)  # pandas.Timestamp keeps nanoseconds
        if isinstance(ns, (int, np.integer)) and not isinstance(ns, bool):
            return int(ns)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if isinstance(value, date):
        raise ValueError(f"times must be datetimes, not dates; times[{index}] = {value!r}")
    raise ValueError(
        f"times must be timezone-aware datetimes or numpy datetime64 values; "
        f"times[{index}] is {type(value).__name__}"
    )


def _times_to_ns(times: Any) -> np.ndarray:
    """Convert ``times`` to a 1-D int64 array of nanoseconds since the Unix epoch (UTC)."""
    if type(times).__module__.startswith("pyarrow"):
        # pyarrow Array / ChunkedArray of timestamps (values are stored as UTC).
        import pyarrow as pa  # noqa: PLC0415  (pure-core dependency, imported lazily)

        if not pa.types.is_timestamp(times.type):
            raise ValueError(f"times must be a timestamp array, got pyarrow type {times.type}")
        times = times.cast(pa.timestamp("ns", tz=times.type.tz)).to_numpy()
    arr = np.asarray(times)
    if arr.ndim != 1:
        raise ValueError(f"times must be 1-D, got an array of shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.datetime64):
        if arr.size and np.isnat(arr).any():
            raise ValueError("times contains NaT")
        return arr.astype("datetime64[ns]").astype(np.int64)
    if arr.dtype == object:
        return np.fromiter(
            (_datetime_to_ns(v, i) for i, v in enumerate(arr)), dtype=np.int64, count=arr.size
        )
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    raise ValueError(
        f"times must be timezone-aware datetimes or numpy datetime64 values, got dtype {arr.dtype}"
    )


def _ns_to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def _ns_to_timedelta(ns: int) -> timedelta:
    return timedelta(microseconds=int(ns) // 1000)


def _as_bool_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be booleans (or 0/1), got dtype {arr.dtype}") from None
    if not np.isin(num, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be booleans (or 0/1); found other values")
    return num.astype(bool)


# --------------------------------------------------------------------------- #
# Statistics
# --------------------------------------------------------------------------- #


def daily_returns(times_ns: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Daily returns as defined in the module docstring.

    Args:
        times_ns: Strictly increasing int64 nanoseconds since the epoch (UTC).
        equity: Equity values, same length.

    Returns:
        ``E_day[1:] / E_day[:-1] - 1`` where ``E_day`` is the last equity value
        of each UTC calendar day that has points.
    """
    if equity.size == 0:
        return np.empty(0)
    day = np.floor_divide(times_ns, _NS_PER_DAY)
    last_of_day = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    e = equity[last_of_day]
    with np.errstate(divide="ignore", invalid="ignore"):
        return e[1:] / e[:-1] - 1.0


def _drawdown(times_ns: np.ndarray, equity: np.ndarray) -> tuple[float, int, int]:
    """(max drawdown fraction <= 0, max and mean drawdown duration in ns)."""
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = equity / peak - 1.0
    max_dd = float(dd.min())
    if not math.isfinite(max_dd):  # a peak of 0 (equity never positive after a wipe-out)
        max_dd = -1.0 if (equity < peak).any() else 0.0
    max_dd = min(max_dd, 0.0)

    at_peak = equity >= peak
    if at_peak.all():
        return max_dd, 0, 0
    idx = np.arange(equity.size)
    # Index of the most recent point at the running maximum, for every point.
    last_peak = np.maximum.accumulate(np.where(at_peak, idx, 0))
    # Recoveries: points at the peak whose predecessor was under water.
    rec = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    durations = times_ns[rec] - times_ns[last_peak[rec - 1]]
    if not at_peak[-1]:  # still under water at the end
        durations = np.append(durations, times_ns[-1] - times_ns[last_peak[-1]])
    return max_dd, int(durations.max()), int(round(float(durations.mean())))


def benchmark_curve(times: Any, closes: Iterable[tuple[Any, Any]]) -> np.ndarray:
    """The buy-and-hold benchmark at each of ``times``: the equal-weighted mean over the
    instruments of ``close / first close``, where ``close`` is each instrument's last close
    available at that time (its first close before any is).

    Args:
        times: The equity curve's instants (as :func:`compute_statistics` takes them).
        closes: One ``(available_ns, close)`` pair of arrays per instrument: when each bar's
            close became known (int64 ns since the epoch, increasing) and the close.
    """
    t = _times_to_ns(times)
    curve = np.zeros(t.size)
    count = 0
    for available_ns, close in closes:
        c = float_array(close, "close")
        if c.size == 0:
            continue
        if not (np.isfinite(c).all() and (c > 0).all()):
            raise ValueError("benchmark closes must be finite and > 0")
        at = np.searchsorted(np.asarray(available_ns, dtype=np.int64), t, side="right") - 1
        curve += c[np.maximum(at, 0)] / c[0]
        count += 1
    if count == 0:
        raise ValueError("benchmark_curve needs at least one instrument with closes")
    return curve / count


def _benchmark_stats(t: np.ndarray, e: np.ndarray, benchmark: Any, rfr: float) -> tuple[float, float, float]:
    """(buy_and_hold_return, alpha, beta) of the curve against ``benchmark`` (see the module
    docstring); all ``nan`` without one."""
    if benchmark is None:
        return _NAN, _NAN, _NAN
    b = float_array(benchmark, "benchmark")
    if b.size != e.size:
        raise ValueError(f"benchmark must have the same length as equity, got {b.size} and {e.size}")
    if not (np.isfinite(b).all() and (b > 0).all()):
        raise ValueError("benchmark values must be finite and > 0")
    bh = float(b[-1] / b[0] - 1.0)
    day = np.floor_divide(t, _NS_PER_DAY)
    last_of_day = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    e_day, b_day = e[last_of_day], b[last_of_day]
    beta = _NAN
    if e_day.size >= 3 and (e_day > 0).all():
        le, lb = np.diff(np.log(e_day)), np.diff(np.log(b_day))
        cov = np.cov(le, lb)
        if cov[1, 1] > _ZERO_DISPERSION**2:
            beta = float(cov[0, 1] / cov[1, 1])
    if math.isnan(beta):
        return bh, _NAN, _NAN
    return bh, float(e[-1] / e[0] - 1.0) - rfr - beta * (bh - rfr), beta


def ratio_stats(r: np.ndarray, periods_per_year: float, risk_free_rate: float) -> tuple[float, float, float]:
    """(volatility, sharpe, sortino) of the daily returns ``r``."""
    if r.size < 2 or not np.isfinite(r).all():
        return _NAN, _NAN, _NAN
    ann = math.sqrt(periods_per_year)
    rf = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    x = r - rf
    std = float(np.std(r, ddof=1))
    volatility = std * ann
    mean_x = float(np.mean(x))
    sharpe = mean_x / std * ann if std > _ZERO_DISPERSION else _NAN
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    sortino = mean_x / downside * ann if downside > _ZERO_DISPERSION else _NAN
    return volatility, sharpe, sortino


def cagr(initial: float, final: float, span_ns: int) -> float:
    if span_ns <= 0:
        return _NAN
    if final <= 0:
        return -1.0
    years = span_ns / _NS_PER_DAY / _DAYS_PER_YEAR
    log_growth = math.log(final / initial) / years
    if log_growth > 700:  # exp would overflow: the annualised return is astronomically large
        return math.inf
    return math.expm1(log_growth)


def _checked_inputs(times, equity, in_market, periods_per_year, risk_free_rate):
    """:func:`compute_statistics`' arguments checked and converted: ``(times_ns, equity,
    exposure, periods_per_year, risk_free_rate)``."""
    t = _times_to_ns(times)
    e = float_array(equity, "equity")
    if t.size == 0 or e.size == 0:
        raise ValueError("times and equity must not be empty")
    if t.size != e.size:
        raise ValueError(f"times and equity must have the same length, got {t.size} and {e.size}")
    if not np.isfinite(e).all():
        bad = int(np.flatnonzero(~np.isfinite(e))[0])
        raise ValueError(f"equity must be finite; equity[{bad}] = {e[bad]!r}")
    if e[0] <= 0:
        raise ValueError(f"the initial equity (equity[0]) must be > 0, got {e[0]!r}")
    if t.size > 1:
        steps = np.diff(t)
        if (steps <= 0).any():
            bad = int(np.flatnonzero(steps <= 0)[0])
            raise ValueError(
                f"times must be strictly increasing; times[{bad + 1}] <= times[{bad}]"
            )
    if in_market is not None:
        market = _as_bool_array(in_market, "in_market")
        if market.size != e.size:
            raise ValueError(
                f"in_market must have the same length as equity, got {market.size} and {e.size}"
            )
        exposure = float(np.count_nonzero(market)) / market.size
    else:
        exposure = _NAN
    try:
        ppy = float(periods_per_year)
    except (TypeError, ValueError):
        raise ValueError(f"periods_per_year must be a number > 0, got {periods_per_year!r}") from None
    if not (math.isfinite(ppy) and ppy > 0):
        raise ValueError(f"periods_per_year must be a finite number > 0, got {periods_per_year!r}")
    try:
        rfr = float(risk_free_rate)
    except (TypeError, ValueError):
        raise ValueError(f"risk_free_rate must be a number > -1, got {risk_free_rate!r}") from None
    if not (math.isfinite(rfr) and rfr > -1):
        raise ValueError(f"risk_free_rate must be a finite number > -1, got {risk_free_rate!r}")
    return t, e, exposure, ppy, rfr


def compute_statistics(
    times: Any,
    equity: Any,
    round_trips: Iterable[RoundTrip] | None,
    *,
    in_market: Any = None,
    periods_per_year: float = 252,
    risk_free_rate: float = 0.0,
    benchmark: Any = None,
) -> Statistics:
    """Compute the backtest statistics defined in the module docstring.

    Args:
        times: Instants of the equity curve: a sequence/array of timezone-aware
            datetimes, a numpy ``datetime64`` array (taken as UTC) or a pyarrow
            timestamp array.  Strictly increasing.
        equity: Account equity at each instant (same length, finite, first
            value = initial equity > 0).
        round_trips: Closed round trips (may be empty or ``None``).
        in_market: Optional booleans (same length): true where a position was
            held.  Gives ``exposure``; ``nan`` if omitted.
        periods_per_year: Daily-return periods per year for annualising
            volatility, Sharpe and Sortino (default 252 trading days).
        risk_free_rate: Annual compounded risk-free rate for Sharpe/Sortino (and, as
            backtesting.py does, subtracted once from the returns in ``alpha``).
        benchmark: Optional buy-and-hold benchmark values at each instant (same length,
            finite, > 0; :func:`benchmark_curve` builds them from closes). Gives
            ``buy_and_hold_return``, ``alpha`` and ``beta``; ``nan`` if omitted.

    Returns:
        A :class:`Statistics`.

    Raises:
        ValueError: empty input, length mismatch, non-finite or non-positive
            initial equity, non-finite equity, naive or non-increasing times,
            bad ``in_market``, ``periods_per_year``, ``risk_free_rate`` or ``benchmark``.
    """
    t, e, exposure, ppy, rfr = _checked_inputs(times, equity, in_market, periods_per_year, risk_free_rate)
    trips = list(round_trips) if round_trips is not None else []

    initial, final = float(e[0]), float(e[-1])
    span_ns = int(t[-1] - t[0])
    r = daily_returns(t, e)
    volatility, sharpe, sortino = ratio_stats(r, ppy, rfr)
    max_dd, max_dd_ns, avg_dd_ns = _drawdown(t, e)
    buy_and_hold, alpha, beta = _benchmark_stats(t, e, benchmark, rfr)
    annualized = cagr(initial, final, span_ns)
    calmar = annualized / abs(max_dd) if max_dd < 0 and not math.isnan(annualized) else _NAN

    return Statistics(
        start=_ns_to_datetime(t[0]),
        end=_ns_to_datetime(t[-1]),
        duration=_ns_to_timedelta(span_ns),
        initial_equity=initial,
        final_equity=final,
        peak_equity=float(e.max()),
        total_return=final / initial - 1.0,
        buy_and_hold_return=buy_and_hold,
        annualized_return=annualized,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        alpha=alpha,
        beta=beta,
        max_drawdown=max_dd,
        max_drawdown_duration=_ns_to_timedelta(max_dd_ns),
        avg_drawdown_duration=_ns_to_timedelta(avg_dd_ns),
        calmar=calmar,
        exposure=exposure,
        **round_trip_stats(trips),
    )
