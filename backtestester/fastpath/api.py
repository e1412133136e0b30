"""Public API of the fast path: validated numpy in, results out; the loops run in :mod:`.kernel`.

Pure numpy (numba is imported on first use, never ray or grpc), so the sweep runner can call it
from actors and the gateway from anywhere. See ``docs/fastpath.md`` for the rules.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

FILL_MODELS = ("close", "next_open")
DIRECTIONS = ("long", "short", "both")

TRADE_DTYPE = np.dtype([
    ("entry_index", np.int64),       # bar whose price opened the position (open or close, see fill model)
    ("exit_index", np.int64),        # bar whose price closed it
    ("side", np.int8),               # +1 long, -1 short
    ("quantity", np.float64),        # unsigned
    ("entry_price", np.float64),     # after slippage
    ("exit_price", np.float64),
    ("entry_commission", np.float64),
    ("exit_commission", np.float64),
    ("commission", np.float64),      # the round trip's commission, as the engine's RoundTrip
    ("pnl", np.float64),             # after commission
    ("liquidation", np.bool_),       # closed by the engine's liquidation (at the close of exit_index)
])

SUMMARY_FIELDS = ("final_equity", "total_return", "peak_equity", "max_drawdown", "trade_count", "win_count",
                  "win_rate", "gross_profit", "gross_loss", "profit_factor", "expectancy", "total_commission",
                  "total_fees", "exposure", "fills", "rejected", "liquidations", "position")


def _ro(arr: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (a copy only if not contiguous). Every kernel input goes
    through here: numba types read-only and writable arrays apart, and Arrow's zero-copy columns
    are read-only, so one kind for all keeps one compiled specialisation."""
    view = np.ascontiguousarray(arr).view()
    view.flags.writeable = False
    return view


def _dummies(k) -> tuple:
    """Empty stand-ins for the kernels' unused inputs (read-only) and unrecorded outputs."""
    return (_ro(np.zeros(0, dtype=np.bool_)), _ro(np.zeros(0)), np.zeros(0, dtype=np.bool_), np.zeros(0),
            np.zeros((0, k.N_TRADE_FIELDS)))


def _kernel():
    from . import kernel  # numba is imported here, on first use

    return kernel


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _prices(open, high, low, close) -> tuple[np.ndarray, np.ndarray]:
    cols = {}
    for name, values in (("open", open), ("high", high), ("low", low), ("close", close)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a 1-D array of numbers: {exc}") from None
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
        cols[name] = arr
    n = cols["close"].shape[0]
    if n == 0:
        raise ValueError("the price arrays are empty: need at least one bar")
    for name, arr in cols.items():
        if arr.shape[0] != n:
            raise ValueError(f"length mismatch: close has {n} bars but {name} has {arr.shape[0]}")
    for name, arr in cols.items():
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} is not finite at index {i} ({arr[i]}): NaN or infinite prices are refused")
    for name in ("open", "close"):
        bad = np.flatnonzero(cols[name] <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} must be > 0 (orders need a positive price), got {cols[name][i]} at index {i}")
    return _ro(cols["open"]), _ro(cols["close"])


def _signals(values, name: str, n: int, ndim: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean array (dtype bool), got dtype {arr.dtype}")
    if arr.ndim != ndim:
        shape = "(n_bars,)" if ndim == 1 else "(n_runs, n_bars)"
        raise ValueError(f"{name} must be {ndim}-D {shape}, got shape {arr.shape}")
    if arr.shape[-1] != n:
        raise ValueError(f"length mismatch: the prices have {n} bars but {name} has {arr.shape[-1]}")
    return _ro(arr)


def _finite(value, name: str, *, low=None, high=None, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def _options(balance, fill_model, size, commission, slippage, direction) -> dict:
    from ..engine.costs import Commission, Slippage

    balance = _finite(balance, "balance", low=0.0, low_open=True)
    if fill_model not in FILL_MODELS:
        raise ValueError(f"fill_model must be one of {FILL_MODELS}, got {fill_model!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if size is not None:
        size = _finite(size, "size", low=0.0, low_open=True)
    if commission is not None and not isinstance(commission, Commission):
        raise ValueError(f"commission must be None or a Commission(...), got {commission!r}")
    if slippage is not None and not isinstance(slippage, Slippage):
        raise ValueError(f"slippage must be None or a Slippage(...), got {slippage!r}")
    c = commission or Commission()
    s = slippage or Slippage()
    return dict(balance=balance, fill_close=fill_model == "close", direction=DIRECTIONS.index(direction),
                size=0.0 if size is None else size, has_comm=commission is not None, c_ps=float(c.per_share),
                c_rate=float(c.rate), c_po=float(c.per_order), c_min=float(c.minimum),
                has_slip=slippage is not None, s_ps=float(s.per_share), s_rate=float(s.rate))
    # (plain floats, bools and ints only: numba compiles one specialisation per argument type)


def _fraction(fraction, size) -> float:
    if size is not None:
        if fraction is not None:
            raise ValueError("give either fraction (sizing from uninvested cash) or size (fixed quantity), not both")
        return 1.0
    return _finite(1.0 if fraction is None else fraction, "fraction", low=0.0, high=1.0, low_open=True)


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


@dataclass
class FastResult:
    """One fast-path backtest.

    ``trades``: closed round trips (numpy structured array, :data:`TRADE_DTYPE`). ``equity``: one
    point per bar, the engine's equity at the tick that reveals the bar (``balance + (close -
    cost) × quantity``, before the orders that the bar's signals place fill, even under the
    ``close`` model). ``final_equity``: after the completion tick (``close`` fills of a signal
    on the last bar included). ``position``: final signed quantity; ``open_entry_*`` describe
    it (index -1 when flat). ``in_market``: per point of :meth:`equity_curve`, whether the engine
    counts a position as held there (its ``in_market``, for ``exposure``). Counters:
    ``fill_count``, ``rejected`` (orders the engine would reject: zero shares, insufficient
    margin, nothing left to close), ``liquidations``. ``summary``: the numbers a batch reports
    (:data:`SUMMARY_FIELDS`).
    """

    trades: np.ndarray
    equity: np.ndarray
    final_equity: float
    balance: float
    fill_model: str
    direction: str
    position: float
    open_entry_index: int
    open_entry_price: float
    open_entry_commission: float
    in_market: np.ndarray | None
    fill_count: int
    rejected: int
    liquidations: int
    summary: dict = field(default_factory=dict)

    @property
    def trade_count(self) -> int:
        return len(self.trades)

    def fill_times(self, index, start_ns, period_ns: int, *, at_close) -> np.ndarray:
        """Engine time stamps (int64 UTC ns) of fills on bars ``index``: a fill at a bar's open is
        stamped with its start, a fill at its close with ``start + period`` (when it becomes
        available; the engine fills it on the next tick, stamped with the tick's start)."""
        start_ns = np.asarray(start_ns, dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        return start_ns[index] + np.where(np.asarray(at_close, dtype=bool), np.int64(period_ns), np.int64(0))

    def trade_times(self, start_ns, period_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """``(entry_ns, exit_ns)`` of the round trips as the event-driven engine stamps them, for
        bars starting at ``start_ns`` on a 24/7 clock stepping by ``period_ns``."""
        close_model = self.fill_model == "close"
        entry = self.fill_times(self.trades["entry_index"], start_ns, period_ns,
                                at_close=np.full(len(self.trades), close_model))
        exit_ = self.fill_times(self.trades["exit_index"], start_ns, period_ns,
                                at_close=close_model | self.trades["liquidation"])
        return entry, exit_

    def fills(self) -> np.ndarray:
        """Every fill in the engine's order (a flip's close before its open): structured array with
        ``index`` (bar), ``at_close`` (filled at that bar's close, else at its open), signed
        ``quantity``, ``price`` and ``commission``; the open position's entry included."""
        close_model = self.fill_model == "close"
        rows = []
        for t in self.trades:
            q = float(t["quantity"]) * int(t["side"])
            rows.append((int(t["entry_index"]), close_model, 1, q, float(t["entry_price"]), float(t["entry_commission"])))
            rows.append((int(t["exit_index"]), close_model or bool(t["liquidation"]), 0, -q, float(t["exit_price"]),
                         float(t["exit_commission"])))
        if self.position != 0:
            rows.append((self.open_entry_index, close_model, 1, self.position, self.open_entry_price,
                         self.open_entry_commission))
        # time order: a bar's open before its close, and a close before an open at the same instant
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        out = np.empty(len(rows), dtype=[("index", np.int64), ("at_close", np.bool_), ("quantity", np.float64),
                                         ("price", np.float64), ("commission", np.float64)])
        for i, (index, at_close, _, q, price, fee) in enumerate(rows):
            out[i] = (index, at_close, q, price, fee)
        return out

    def equity_curve(self, start_ns, period_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """``(times datetime64[ns], equity)`` laid out as :class:`~backtestester.strategy.runner.BacktestResult`:
        the initial balance at the first bar's start, one point per bar when it becomes available
        (``start + period``), and the completion point one period after the last. On contiguous
        bars (a 24/7 clock stepping by the period) this is exactly the engine's curve; with gaps
        the engine has extra points in them and these are its points at the bars' times."""
        start_ns = np.asarray(start_ns, dtype=np.int64)
        if start_ns.shape != self.equity.shape:
            raise ValueError(f"length mismatch: {len(self.equity)} bars but start_ns has {start_ns.shape[0]}")
        times = np.concatenate([start_ns[:1], start_ns + np.int64(period_ns),
                                start_ns[-1:] + np.int64(2 * period_ns)]).astype("datetime64[ns]")
        equity = np.concatenate([[self.balance], self.equity, [self.final_equity]])
        return times, equity

    def round_trips(self, start_ns, period_ns: int, symbol: str = "X") -> list:
        """The trades as :class:`~backtestester.stats.RoundTrip` objects (engine time stamps)."""
        from ..engine.timeutil import from_ns
        from ..stats import RoundTrip

        entry, exit_ = self.trade_times(start_ns, period_ns)
        return [RoundTrip(symbol=symbol, side="long" if t["side"] > 0 else "short", quantity=float(t["quantity"]),
                          entry_time=from_ns(int(a)), exit_time=from_ns(int(b)),
                          entry_price=float(t["entry_price"]), exit_price=float(t["exit_price"]),
                          pnl=float(t["pnl"]), commission=float(t["commission"]))
                for t, a, b in zip(self.trades, entry.tolist(), exit_.tolist())]

    def statistics(self, start_ns, period_ns: int, *, periods_per_year: float = 252):
        """:class:`~backtestester.stats.Statistics` as :func:`~backtestester.strategy.run_backtest`
        computes them (identical on contiguous bars)."""
        from ..stats import compute_statistics

        times, equity = self.equity_curve(start_ns, period_ns)
        if self.in_market is None:
            raise ValueError("statistics need the equity curve: run with record_equity=True")
        return compute_statistics(times, equity, self.round_trips(start_ns, period_ns),
                                  in_market=self.in_market, periods_per_year=periods_per_year)


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
    o_, c_ = _prices(open, high, low, close)
    n = c_.shape[0]
    ent = _signals(entries, "entries", n, 1)
    ext = _signals(exits, "exits", n, 1)
    frac = _fraction(fraction, size)
    opts = _options(balance, fill_model, size, commission, slippage, direction)
    k = _kernel()
    # Every closed round trip needs an opening order placed on a signal: entries (and exits for
    # "both") bound their number.
    cap = int(np.count_nonzero(ent)) + (int(np.count_nonzero(ext)) if direction == "both" else 0) + 1
    trades = np.empty((1, cap, k.N_TRADE_FIELDS))
    equity = np.empty((1 if record_equity else 0, n))
    held = np.empty((1 if record_equity else 0, n + 2), dtype=np.bool_)
    stats = np.empty((1, k.N_STAT_FIELDS))
    # A single run is a batch of one: one compiled entry point serves both.
    k.batch_serial(o_, c_, ent[None, :], ext[None, :], _ro(np.zeros((0, 0))), _ro(np.zeros((0, 2), dtype=np.int64)),
                   k.MODE_ARRAYS, opts["balance"], opts["fill_close"], opts["direction"], _ro(np.array([frac])),
                   opts["size"], opts["has_comm"], opts["c_ps"], opts["c_rate"], opts["c_po"], opts["c_min"],
                   opts["has_slip"], opts["s_ps"], opts["s_rate"], equity, held, trades, stats, *_dummies(k))
    ntr = int(stats[0, k.S_TRADE_COUNT])
    if ntr > cap:  # cannot happen (see cap); kept as a guard against silent truncation
        raise RuntimeError(f"fast path: {ntr} round trips exceed the buffer of {cap}")
    return _result(k, trades[0, :ntr], equity[0] if record_equity else np.empty(0),
                   held[0] if record_equity else None, stats[0], opts["balance"], fill_model, direction)


def _trade_records(k, raw: np.ndarray) -> np.ndarray:
    out = np.empty(len(raw), dtype=TRADE_DTYPE)
    out["entry_index"] = raw[:, k.T_ENTRY_INDEX]
    out["exit_index"] = raw[:, k.T_EXIT_INDEX]
    out["side"] = raw[:, k.T_SIDE]
    out["quantity"] = raw[:, k.T_QUANTITY]
    out["entry_price"] = raw[:, k.T_ENTRY_PRICE]
    out["exit_price"] = raw[:, k.T_EXIT_PRICE]
    out["entry_commission"] = raw[:, k.T_ENTRY_FEE]
    out["exit_commission"] = raw[:, k.T_EXIT_FEE]
    out["commission"] = raw[:, k.T_COMMISSION]
    out["pnl"] = raw[:, k.T_PNL]
    out["liquidation"] = raw[:, k.T_LIQUIDATION] != 0
    return out


def _summary(k, s: np.ndarray, balance: float) -> dict:
    """Summary numbers of one run from the kernel's stats row (see ``docs/fastpath.md``)."""
    n_tr = int(s[k.S_TRADE_COUNT])
    wins = int(s[k.S_WIN_COUNT])
    gp, gl = float(s[k.S_GROSS_PROFIT]), float(s[k.S_GROSS_LOSS])
    if n_tr == 0 or (gp == 0 and gl == 0):
        pf = math.nan
    elif gl == 0:
        pf = math.inf
    else:
        pf = gp / abs(gl)
    final = float(s[k.S_FINAL_EQUITY])
    return {"final_equity": final, "total_return": final / balance - 1, "peak_equity": float(s[k.S_PEAK_EQUITY]),
            "max_drawdown": float(s[k.S_MAX_DRAWDOWN]), "trade_count": n_tr, "win_count": wins,
            "win_rate": wins / n_tr if n_tr else math.nan, "gross_profit": gp, "gross_loss": gl,
            "profit_factor": pf, "expectancy": (gp + gl) / n_tr if n_tr else math.nan,
            "total_commission": float(s[k.S_TOTAL_COMMISSION]), "total_fees": float(s[k.S_FEES]),
            "exposure": float(s[k.S_IN_MARKET]) / float(s[k.S_POINTS]), "fills": int(s[k.S_FILLS]),
            "rejected": int(s[k.S_REJECTED]), "liquidations": int(s[k.S_LIQUIDATIONS]),
            "position": float(s[k.S_POSITION])}


def _result(k, raw_trades, equity, held, stats, balance, fill_model, direction) -> FastResult:
    pos = float(stats[k.S_POSITION])
    return FastResult(trades=_trade_records(k, raw_trades), equity=equity, final_equity=float(stats[k.S_FINAL_EQUITY]),
                      balance=balance, fill_model=fill_model, direction=direction, position=pos,
                      open_entry_index=int(stats[k.S_OPEN_ENTRY_INDEX]),
                      open_entry_price=float(stats[k.S_OPEN_ENTRY_PRICE]),
                      open_entry_commission=float(stats[k.S_OPEN_ENTRY_FEE]), in_market=held, fill_count=int(stats[k.S_FILLS]),
                      rejected=int(stats[k.S_REJECTED]), liquidations=int(stats[k.S_LIQUIDATIONS]),
                      summary=_summary(k, stats, balance))


# --------------------------------------------------------------------------------------------
# Many runs over the same prices
# --------------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """Per-run results of a batch. ``summary``: a dict of numpy columns (one value per run) with
    the names in :data:`SUMMARY_FIELDS`; ``trades``: a list of per-run trade arrays (only when
    asked); ``equity``: ``(runs, n_bars)`` equity points (only when asked); ``seconds``: kernel
    wall time."""

    summary: dict
    trades: list | None = None
    equity: np.ndarray | None = None
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.summary["final_equity"])

    def records(self) -> list[dict]:
        """One dict per run (plain Python numbers), in run order."""
        cols = {k: v.tolist() for k, v in self.summary.items()}
        return [{k: cols[k][i] for k in cols} for i in range(len(self))]

    def result(self, i: int) -> dict:
        return self.records()[i]


def _fractions(fraction, size, runs: int) -> np.ndarray:
    if size is not None:
        if fraction is not None:
            raise ValueError("give either fraction (sizing from uninvested cash) or size (fixed quantity), not both")
        return _ro(np.ones(runs))
    if fraction is None or np.ndim(fraction) == 0:
        return _ro(np.full(runs, _fraction(fraction, None)))
    arr = np.asarray(fraction, dtype=np.float64)
    if arr.shape != (runs,):
        raise ValueError(f"fraction must be a number or one per run (shape ({runs},)), got shape {arr.shape}")
    if not (np.isfinite(arr).all() and (arr > 0).all() and (arr <= 1).all()):
        raise ValueError("fraction values must be finite and in (0, 1]")
    return _ro(arr)


def _run_batch(mode, o_, c_, ent, ext, lines, pairs, runs, *, balance, fill_model, fraction, size, commission,
               slippage, direction, parallel, return_trades, return_equity) -> BatchResult:
    fracs = _fractions(fraction, size, runs)
    ent, ext, lines, pairs = _ro(ent), _ro(ext), _ro(lines), _ro(pairs)
    opts = _options(balance, fill_model, size, commission, slippage, direction)
    k = _kernel()
    n = c_.shape[0]
    fn = k.batch_parallel if parallel else k.batch_serial
    stats = np.empty((runs, k.N_STAT_FIELDS))
    equity = np.empty((runs, n)) if return_equity else np.empty((0, 0))
    args = (o_, c_, ent, ext, lines, pairs, mode, opts["balance"], opts["fill_close"], opts["direction"], fracs,
            opts["size"], opts["has_comm"], opts["c_ps"], opts["c_rate"], opts["c_po"], opts["c_min"],
            opts["has_slip"], opts["s_ps"], opts["s_rate"])
    dummies = _dummies(k)
    no_held = np.empty((0, n + 2), dtype=np.bool_)
    t0 = time.perf_counter()
    fn(*args, equity, no_held, np.empty((0, 0, k.N_TRADE_FIELDS)), stats, *dummies)
    trades = None
    if return_trades:  # a second pass with buffers sized from the first pass's counts
        cap = int(stats[:, k.S_TRADE_COUNT].max()) if runs else 0
        buf = np.empty((runs, max(cap, 1), k.N_TRADE_FIELDS))
        stats2 = np.empty_like(stats)
        fn(*args, np.empty((0, 0)), no_held, buf, stats2, *dummies)
        trades = [_trade_records(k, buf[r, :int(stats[r, k.S_TRADE_COUNT])]) for r in range(runs)]
    seconds = time.perf_counter() - t0
    rows = [_summary(k, stats[r], opts["balance"]) for r in range(runs)]
    summary = {name: np.array([row[name] for row in rows]) for name in SUMMARY_FIELDS}
    if runs == 0:
        summary = {name: np.zeros(0) for name in SUMMARY_FIELDS}
    return BatchResult(summary, trades, equity if return_equity else None, seconds)


def run_signals_batch(open, high, low, close, entries, exits, *, balance: float, fill_model: str = "next_open",
                      fraction=None, size: float | None = None, commission=None, slippage=None,
                      direction: str = "long", parallel: bool = False, return_trades: bool = False,
                      return_equity: bool = False) -> BatchResult:
    """Many signal sets over the same prices in one compiled call: ``entries``/``exits`` are
    boolean ``(n_runs, n_bars)``; every run follows :func:`run_signals`' rules (``fraction`` may
    be one value per run). Returns per-run summary numbers; trade lists and equity curves only
    when asked. ``parallel=True`` spreads the runs over numba's threads (``NUMBA_NUM_THREADS``;
    results are identical). It is off by default: sweep actors already use one core each, and
    threads inside them would oversubscribe the machine."""
    o_, c_ = _prices(open, high, low, close)
    n = c_.shape[0]
    ent = _signals(entries, "entries", n, 2)
    ext = _signals(exits, "exits", n, 2)
    if ent.shape[0] != ext.shape[0]:
        raise ValueError(f"entries has {ent.shape[0]} runs but exits has {ext.shape[0]}")
    return _run_batch(_kernel().MODE_ARRAYS, o_, c_, ent, ext, np.zeros((0, 0)), np.zeros((0, 2), dtype=np.int64),
                      ent.shape[0], balance=balance, fill_model=fill_model, fraction=fraction, size=size,
                      commission=commission, slippage=slippage, direction=direction, parallel=parallel,
                      return_trades=return_trades, return_equity=return_equity)


def run_crossover_batch(open, high, low, close, lines, pairs, *, balance: float, fill_model: str = "next_open",
                        fraction=None, size: float | None = None, commission=None, slippage=None,
                        direction: str = "long", parallel: bool = False, return_trades: bool = False,
                        return_equity: bool = False) -> BatchResult:
    """Crossover sweeps without materialising signals: ``lines`` is ``(n_lines, n_bars)`` float
    (e.g. one SMA per distinct window, NaN in the warm-up), ``pairs`` ``(n_runs, 2)`` indices into
    ``lines``. Run ``r`` enters when ``lines[pairs[r, 0]]`` crosses above ``lines[pairs[r, 1]]``
    and exits when it crosses below (``a[i-1] < b[i-1] and a[i] > b[i]``, :func:`crossover`),
    otherwise as :func:`run_signals_batch`."""
    o_, c_ = _prices(open, high, low, close)
    n = c_.shape[0]
    try:
        lines = _ro(np.asarray(lines, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lines must be a 2-D array of numbers: {exc}") from None
    if lines.ndim != 2 or lines.shape[1] != n:
        raise ValueError(f"lines must have shape (n_lines, {n}) (one value per bar), got {lines.shape}")
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"pairs must be an integer array of shape (n_runs, 2), got {pairs.dtype} {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= lines.shape[0]):
        raise ValueError(f"pairs index lines out of range 0..{lines.shape[0] - 1}")
    pairs = _ro(pairs.astype(np.int64, copy=False))
    empty = _ro(np.zeros((0, 0), dtype=np.bool_))
    return _run_batch(_kernel().MODE_CROSS, o_, c_, empty, empty, lines, pairs, pairs.shape[0], balance=balance,
                      fill_model=fill_model, fraction=fraction, size=size, commission=commission,
                      slippage=slippage, direction=direction, parallel=parallel, return_trades=return_trades,
                      return_equity=return_equity)


# --------------------------------------------------------------------------------------------
# Strategies with a vectorised form
# --------------------------------------------------------------------------------------------


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
        import pyarrow as pa

        out = cls()
        for name in table.column_names:
            col = table.column(name)
            if pa.types.is_timestamp(col.type):
                out[name] = col.cast(pa.timestamp("ns", tz=col.type.tz)).to_numpy().astype(np.int64)
            elif pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                out[name] = col.to_numpy()
        return out

    @classmethod
    def from_repository(cls, repo) -> "Bars":
        return cls(start=repo.start_ns, open=repo.open, high=repo.high, low=repo.low, close=repo.close,
                   volume=repo.volume)

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
                       return_trades: bool = False, max_signal_bytes: int = 256 * 2**20) -> BatchResult:
    """A sweep of ``strategy_cls(**params)`` for each parameter set, through the fast path.

    Signals are computed per parameter set (indicators memoised across sets through
    :class:`Bars`), stacked in chunks of at most ``max_signal_bytes`` and run in compiled batches.
    Runs are grouped by ``direction``; results come back in ``param_sets`` order. Parameter
    errors raise as the constructor raises them."""
    bars = _as_bars(bars)
    params = list(param_sets)
    strategies = [strategy_cls(**p) for p in params]
    n = len(bars["close"])
    runs = len(strategies)
    o_, c_ = _prices(bars["open"], bars["high"], bars["low"], bars["close"])
    per_chunk = max(1, int(max_signal_bytes // max(1, 2 * n)))
    k = _kernel()
    summary = {name: np.zeros(runs) for name in SUMMARY_FIELDS}
    trades: list | None = [None] * runs if return_trades else None
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
                ent[j] = _signals(e, "entries", n, 1)
                ext[j] = _signals(x, "exits", n, 1)
            fracs = np.array([_strategy_sizing(strategies[i])[0] for i in chunk], dtype=np.float64)
            res = _run_batch(k.MODE_ARRAYS, o_, c_, ent, ext, np.zeros((0, 0)), np.zeros((0, 2), dtype=np.int64),
                             len(chunk), balance=balance, fill_model=fill_model, fraction=fracs, size=None,
                             commission=commission, slippage=slippage, direction=direction, parallel=parallel,
                             return_trades=return_trades, return_equity=False)
            seconds += res.seconds
            for j, i in enumerate(chunk):
                for name in SUMMARY_FIELDS:
                    summary[name][i] = res.summary[name][j]
                if trades is not None:
                    trades[i] = res.trades[j]
    summary["trade_count"] = summary["trade_count"].astype(np.int64)
    return BatchResult(summary, trades, None, seconds)


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
