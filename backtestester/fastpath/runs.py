"""Running signals through the kernel: one run (:func:`run_signals`) and batches over the same
prices (:func:`run_signals_batch`, :func:`run_crossover_batch`)."""
from __future__ import annotations

import time

import numpy as np

from .inputs import (
    checked_fraction,
    checked_fractions,
    checked_prices,
    checked_signals,
    empty_samples,
    kernel_options,
    load_kernel,
    read_only,
    sample_points,
    unused_inputs,
)
from .results import SUMMARY_FIELDS, BatchResult, FastResult, fast_result, run_summary, trade_records
from .statistics import DailyPoints, run_statistics

# A batch records its round trips in one pass when a buffer sized from the signals (every round
# trip needs an opening signal) fits in this; otherwise a second pass with exact sizes.
ONE_PASS_TRADE_BYTES = 64 * 2**20


def run_signals(open, high, low, close, entries, exits, *, balance: float, fill_model: str = "next_open",
                fraction: float | None = None, size: float | None = None, commission=None, slippage=None,
                direction: str = "long", record_equity: bool = True) -> FastResult:
    """Backtest boolean ``entries``/``exits`` signals (one per bar) with the engine's rules.

    A signal on bar ``i`` places a market order after the bar closes, which fills at ``close[i]``
    (``fill_model="close"``) or ``open[i+1]`` (``"next_open"``). ``direction="long"``: an entry
    opens a long when flat, an exit closes it; ``"short"``: the same with shorts; ``"both"``: an
    entry goes long and an exit goes short, closing the other side first (two orders: the engine
    never flips in one order); both on the same bar do nothing. Opening orders are sized at the
    fill: ``floor(fraction × uninvested cash / fill price)`` whole shares (default fraction 1),
    or ``size`` shares. ``commission``/``slippage`` take the engine's :class:`Commission` and
    :class:`Slippage`. ``high``/``low`` are validated (market orders do not use them).

    Raises ``ValueError`` naming the problem for bad input (length mismatch, non-boolean
    signals, NaN or non-positive prices, bad options).
    """
    o_, c_ = checked_prices(open, high, low, close)
    n = c_.shape[0]
    ent = checked_signals(entries, "entries", n, 1)
    ext = checked_signals(exits, "exits", n, 1)
    frac = checked_fraction(fraction, size)
    opts = kernel_options(balance, fill_model, size, commission, slippage, direction)
    k = load_kernel()
    # Every closed round trip needs an opening order placed on a signal: entries (and exits for
    # "both") bound their number.
    cap = int(np.count_nonzero(ent)) + (int(np.count_nonzero(ext)) if direction == "both" else 0) + 1
    trades = np.empty((1, cap, k.N_TRADE_FIELDS))
    equity = np.empty((1 if record_equity else 0, n))
    held = np.empty((1 if record_equity else 0, n + 2), dtype=np.bool_)
    stats = np.empty((1, k.N_STAT_FIELDS))
    no_sample_at, no_samples = empty_samples()
    # A single run is a batch of one: one compiled entry point serves both.
    k.batch_serial(o_, c_, ent[None, :], ext[None, :], read_only(np.zeros((0, 0))), read_only(np.zeros((0, 2), dtype=np.int64)),
                   k.MODE_ARRAYS, opts["balance"], opts["fill_close"], opts["direction"], read_only(np.array([frac])),
                   opts["size"], opts["has_comm"], opts["c_ps"], opts["c_rate"], opts["c_po"], opts["c_min"],
                   opts["has_slip"], opts["s_ps"], opts["s_rate"], equity, held, trades, stats, no_sample_at,
                   no_samples, *unused_inputs(k))
    ntr = int(stats[0, k.S_TRADE_COUNT])
    if ntr > cap:  # cannot happen (see cap); kept as a guard against silent truncation
        raise RuntimeError(f"fast path: {ntr} round trips exceed the buffer of {cap}")
    return fast_result(k, trades[0, :ntr], equity[0] if record_equity else np.empty(0),
                   held[0] if record_equity else None, stats[0], opts["balance"], fill_model, direction)


def _trade_capacity(k, mode, ent, ext, direction: str, runs: int) -> int | None:
    """Round-trip buffer rows per run for a single pass, or None (too big, or crossover mode)."""
    if mode != k.MODE_ARRAYS or runs == 0:
        return None
    counts = np.count_nonzero(ent, axis=1)
    if direction == "both":
        counts = counts + np.count_nonzero(ext, axis=1)
    cap = int(counts.max()) + 1
    return cap if runs * cap * k.N_TRADE_FIELDS * 8 <= ONE_PASS_TRADE_BYTES else None


def run_batch(mode, o_, c_, ent, ext, lines, pairs, runs, *, balance, fill_model, fraction, size, commission,
               slippage, direction, parallel, return_trades, return_equity, equity_at=None, points=None,
               periods_per_year=252) -> BatchResult:
    """``points``: the bars' :class:`~.statistics.DailyPoints`, to compute :attr:`BatchResult.statistics`."""
    fracs = checked_fractions(fraction, size, runs)
    ent, ext, lines, pairs = read_only(ent), read_only(ext), read_only(lines), read_only(pairs)
    opts = kernel_options(balance, fill_model, size, commission, slippage, direction)
    k = load_kernel()
    n = c_.shape[0]
    if points is not None and points.n_bars != n:
        raise ValueError(f"length mismatch: the prices have {n} bars but the start times {points.n_bars}")
    sample_at, samples = empty_samples()
    if points is not None:
        sample_at = sample_points(points.bars, n)
    elif equity_at is not None:
        sample_at = sample_points(equity_at, n)
    if points is not None or equity_at is not None:
        samples = np.empty((runs, sample_at.shape[0]))
    need_trades = return_trades or points is not None
    fn = k.batch_parallel if parallel else k.batch_serial
    stats = np.empty((runs, k.N_STAT_FIELDS))
    equity = np.empty((runs, n)) if return_equity else np.empty((0, 0))
    args = (o_, c_, ent, ext, lines, pairs, mode, opts["balance"], opts["fill_close"], opts["direction"], fracs,
            opts["size"], opts["has_comm"], opts["c_ps"], opts["c_rate"], opts["c_po"], opts["c_min"],
            opts["has_slip"], opts["s_ps"], opts["s_rate"])
    dummies = unused_inputs(k)
    no_held = np.empty((0, n + 2), dtype=np.bool_)
    cap = _trade_capacity(k, mode, ent, ext, direction, runs) if need_trades else None
    t0 = time.perf_counter()
    buf = np.empty((runs, cap, k.N_TRADE_FIELDS)) if cap else np.empty((0, 0, k.N_TRADE_FIELDS))
    fn(*args, equity, no_held, buf, stats, sample_at, samples, *dummies)
    trades = None
    if need_trades:
        if not cap:  # a second pass with buffers sized from the first pass's counts
            cap = max(int(stats[:, k.S_TRADE_COUNT].max()) if runs else 0, 1)
            buf = np.empty((runs, cap, k.N_TRADE_FIELDS))
            no_sample_at, no_samples = empty_samples()
            fn(*args, np.empty((0, 0)), no_held, buf, np.empty_like(stats), no_sample_at, no_samples, *dummies)
        counts = stats[:, k.S_TRADE_COUNT].astype(np.int64)
        if runs and counts.max() > cap:  # cannot happen (see _trade_capacity): no silent truncation
            raise RuntimeError(f"fast path: {counts.max()} round trips exceed the buffer of {cap}")
        trades = [trade_records(k, buf[r, :counts[r]]) for r in range(runs)]
    seconds = time.perf_counter() - t0
    rows = [run_summary(k, stats[r], opts["balance"]) for r in range(runs)]
    summary = {name: np.array([row[name] for row in rows]) for name in SUMMARY_FIELDS}
    if runs == 0:
        summary = {name: np.zeros(0) for name in SUMMARY_FIELDS}
    statistics = None
    if points is not None:
        statistics = [run_statistics(points, opts["balance"], rows[r], samples[r], trades[r],
                                     periods_per_year=periods_per_year) for r in range(runs)]
    return BatchResult(summary, trades if return_trades else None, equity if return_equity else None, seconds,
                       samples if equity_at is not None else None, statistics)


def daily_points(start_ns, period_ns):
    """The day boundaries for the statistics, or None when no times are given."""
    if (start_ns is None) != (period_ns is None):
        raise ValueError("statistics need both start_ns (bar start times) and period_ns")
    return None if start_ns is None else DailyPoints.of(start_ns, period_ns)


def run_signals_batch(open, high, low, close, entries, exits, *, balance: float, fill_model: str = "next_open",
                      fraction=None, size: float | None = None, commission=None, slippage=None,
                      direction: str = "long", parallel: bool = False, return_trades: bool = False,
                      return_equity: bool = False, equity_at=None, start_ns=None, period_ns: int | None = None,
                      periods_per_year: float = 252) -> BatchResult:
    """Many signal sets over the same prices in one compiled call: ``entries``/``exits`` are
    boolean ``(n_runs, n_bars)``; every run follows :func:`run_signals`' rules (``fraction`` may
    be one value per run). Returns per-run summary numbers; trade lists and equity curves only
    when asked; ``equity_at`` (strictly increasing bar indices): the equity points of those bars
    (``BatchResult.equity_at``); ``start_ns`` (int64 bar starts) and ``period_ns``: also
    ``BatchResult.statistics``, each run's statistics as :meth:`FastResult.statistics` computes
    them (see :mod:`.statistics`). ``parallel=True`` spreads the runs over numba's threads
    (``NUMBA_NUM_THREADS``; results are identical). It is off by default: sweep actors already
    use one core each, and threads inside them would oversubscribe the machine."""
    o_, c_ = checked_prices(open, high, low, close)
    n = c_.shape[0]
    ent = checked_signals(entries, "entries", n, 2)
    ext = checked_signals(exits, "exits", n, 2)
    if ent.shape[0] != ext.shape[0]:
        raise ValueError(f"entries has {ent.shape[0]} runs but exits has {ext.shape[0]}")
    return run_batch(load_kernel().MODE_ARRAYS, o_, c_, ent, ext, np.zeros((0, 0)), np.zeros((0, 2), dtype=np.int64),
                      ent.shape[0], balance=balance, fill_model=fill_model, fraction=fraction, size=size,
                      commission=commission, slippage=slippage, direction=direction, parallel=parallel,
                      return_trades=return_trades, return_equity=return_equity, equity_at=equity_at,
                      points=daily_points(start_ns, period_ns), periods_per_year=periods_per_year)


def run_crossover_batch(open, high, low, close, lines, pairs, *, balance: float, fill_model: str = "next_open",
                        fraction=None, size: float | None = None, commission=None, slippage=None,
                        direction: str = "long", parallel: bool = False, return_trades: bool = False,
                        return_equity: bool = False, equity_at=None, start_ns=None, period_ns: int | None = None,
                        periods_per_year: float = 252) -> BatchResult:
    """Crossover sweeps without materialising signals: ``lines`` is ``(n_lines, n_bars)`` float
    (e.g. one SMA per distinct window, NaN in the warm-up), ``pairs`` ``(n_runs, 2)`` indices into
    ``lines``. Run ``r`` enters when ``lines[pairs[r, 0]]`` crosses above ``lines[pairs[r, 1]]``
    and exits when it crosses below (``a[i-1] < b[i-1] and a[i] > b[i]``, :func:`crossover`),
    otherwise as :func:`run_signals_batch` (options included)."""
    o_, c_ = checked_prices(open, high, low, close)
    n = c_.shape[0]
    try:
        lines = read_only(np.asarray(lines, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lines must be a 2-D array of numbers: {exc}") from None
    if lines.ndim != 2 or lines.shape[1] != n:
        raise ValueError(f"lines must have shape (n_lines, {n}) (one value per bar), got {lines.shape}")
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"pairs must be an integer array of shape (n_runs, 2), got {pairs.dtype} {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= lines.shape[0]):
        raise ValueError(f"pairs index lines out of range 0..{lines.shape[0] - 1}")
    pairs = read_only(pairs.astype(np.int64, copy=False))
    empty = read_only(np.zeros((0, 0), dtype=np.bool_))
    return run_batch(load_kernel().MODE_CROSS, o_, c_, empty, empty, lines, pairs, pairs.shape[0], balance=balance,
                      fill_model=fill_model, fraction=fraction, size=size, commission=commission,
                      slippage=slippage, direction=direction, parallel=parallel, return_trades=return_trades,
                      return_equity=return_equity, equity_at=equity_at, points=daily_points(start_ns, period_ns),
                      periods_per_year=periods_per_year)


def warmup(parallel: bool = False) -> float:
    """Load (or compile, the first time on a machine) the kernel on a tiny input (and the
    threaded one with ``parallel=True``); returns the seconds it took. Actors call it once at
    start so the first real run pays nothing."""
    t0 = time.perf_counter()
    o = np.array([10.0, 11.0, 12.0, 11.0])
    e = np.array([True, False, False, False])
    x = np.array([False, False, True, False])
    run_signals(o, o, o, o, e, x, balance=100.0)
    run_signals_batch(o, o, o, o, e[None, :], x[None, :], balance=100.0, parallel=False)
    run_crossover_batch(o, o, o, o, np.vstack([o, o[::-1]]), [[0, 1]], balance=100.0, parallel=False)
    if parallel:
        run_signals_batch(o, o, o, o, e[None, :], x[None, :], balance=100.0, parallel=True)
    return time.perf_counter() - t0
