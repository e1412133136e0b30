"""What the fast path returns: :class:`FastResult` (one run, with trades and the equity curve)
and :class:`BatchResult` (per-run summary columns of a batch), and their conversion from the
kernel's raw buffers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..engine.timeutil import from_ns
from ..stats import RoundTrip, benchmark_curve, compute_statistics

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
        entry, exit_ = self.trade_times(start_ns, period_ns)
        return [RoundTrip(symbol=symbol, side="long" if t["side"] > 0 else "short", quantity=float(t["quantity"]),
                          entry_time=from_ns(int(a)), exit_time=from_ns(int(b)),
                          entry_price=float(t["entry_price"]), exit_price=float(t["exit_price"]),
                          pnl=float(t["pnl"]), commission=float(t["commission"]))
                for t, a, b in zip(self.trades, entry.tolist(), exit_.tolist())]

    def statistics(self, start_ns, period_ns: int, *, close=None, periods_per_year: float = 252):
        """:class:`~backtestester.stats.Statistics` as :func:`~backtestester.strategy.run_backtest`
        computes them (identical on contiguous bars). ``close``: the bars' closes, for the
        statistics against buy-and-hold (``nan`` without them)."""
        times, equity = self.equity_curve(start_ns, period_ns)
        if self.in_market is None:
            raise ValueError("statistics need the equity curve: run with record_equity=True")
        benchmark = None
        if close is not None:
            available = np.asarray(start_ns, dtype=np.int64) + np.int64(period_ns)
            benchmark = benchmark_curve(times, [(available, close)])
        return compute_statistics(times, equity, self.round_trips(start_ns, period_ns), in_market=self.in_market,
                                  periods_per_year=periods_per_year, benchmark=benchmark)



def trade_records(k, raw: np.ndarray) -> np.ndarray:
    """The kernel's raw trade rows as a :data:`TRADE_DTYPE` array."""
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


def run_summary(k, s: np.ndarray, balance: float) -> dict:
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


def fast_result(k, raw_trades, equity, held, stats, balance, fill_model, direction) -> FastResult:
    """The :class:`FastResult` of one run from the kernel's buffers."""
    pos = float(stats[k.S_POSITION])
    return FastResult(trades=trade_records(k, raw_trades), equity=equity, final_equity=float(stats[k.S_FINAL_EQUITY]),
                      balance=balance, fill_model=fill_model, direction=direction, position=pos,
                      open_entry_index=int(stats[k.S_OPEN_ENTRY_INDEX]),
                      open_entry_price=float(stats[k.S_OPEN_ENTRY_PRICE]),
                      open_entry_commission=float(stats[k.S_OPEN_ENTRY_FEE]), in_market=held, fill_count=int(stats[k.S_FILLS]),
                      rejected=int(stats[k.S_REJECTED]), liquidations=int(stats[k.S_LIQUIDATIONS]),
                      summary=run_summary(k, stats, balance))




@dataclass
class BatchResult:
    """Per-run results of a batch. ``summary``: a dict of numpy columns (one value per run) with
    the names in :data:`SUMMARY_FIELDS`; ``trades``: a list of per-run trade arrays (only when
    asked); ``equity``: ``(runs, n_bars)`` equity points (only when asked); ``equity_at``:
    ``(runs, len(equity_at))`` equity points of the bars asked for; ``statistics``: one dict per
    run of :data:`~backtestester.fastpath.statistics.STAT_FIELDS` (only when bar times were
    given); ``seconds``: kernel wall time."""

    summary: dict
    trades: list | None = None
    equity: np.ndarray | None = None
    seconds: float = 0.0
    equity_at: np.ndarray | None = None
    statistics: list | None = None

    def __len__(self) -> int:
        return len(self.summary["final_equity"])

    def records(self) -> list[dict]:
        """One dict per run (plain Python numbers), in run order."""
        cols = {k: v.tolist() for k, v in self.summary.items()}
        return [{k: cols[k][i] for k in cols} for i in range(len(self))]

    def result(self, i: int) -> dict:
        return self.records()[i]
