"""Event-driven engine speed next to backtesting.py, in one invocation, on the same data.

SMA-crossover backtests (long-only, all-in, next-bar-open fills, no costs) over one million
generated one-minute XNYS bars (seed 11): ``--case sma`` is fast 50 / slow 200 (about 3,100
round trips), ``--case orders`` the order-heavy fast 10 / slow 30 (about 19,000 round trips,
38,000 orders); the default runs both. Both engines get the same vectorised SMA
(``backtestester.data.indicators.sma``) as an indicator series read bar by bar (backtesting.py's
``self.I``, our ``ctx.indicator``) and both test the crossover on every bar, so the final
equities agree and the times compare the engines. Usage:
``python benchmarks/bench_engine.py [--case sma|orders|rsi] [--bars N] [--repeat K] [--cpu]``
(``--cpu``: CPU seconds of the process, steadier than wall-clock on a shared machine).

``--case rsi`` times instead an RSI strategy written as the docs suggest (``ctx.indicator``
asked for in every ``on_candle``) next to the same strategy keeping the series it asked for once
in ``on_start``-style state: with the context's series cache (one computation per run and key)
the two take the same time, where each call used to recompute the whole series
(``python benchmarks/bench_engine.py --case rsi --bars 10000`` and ``--bars 40000``).
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from backtestester.data.indicators import rsi, sma
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.strategy import SmaCross, Strategy, run_backtest

CASH = 1_000_000
ALL_IN = 1 - sys.float_info.epsilon  # backtesting.py's default order size: the same whole-share sizing
CASES = {"sma": (50, 200), "orders": (10, 30)}  # (fast, slow) of each SMA-crossover case


def timed(fn, repeat, cpu=False):
    """Best of ``repeat`` runs of ``fn``: ``(seconds, fn's result)``; wall-clock seconds, or the
    process's CPU seconds with ``cpu`` (less disturbed by other jobs on a shared machine)."""
    clock = time.process_time if cpu else time.perf_counter
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def make_frames(bars):
    """``(table, df)``: the generated bars as our Arrow table and as backtesting.py's DataFrame."""
    df = bars.to_pandas().set_index("start")
    df.columns = [c.capitalize() for c in df.columns]
    return bars, df


def run_ours(table, fast, slow):
    """Our SMA ``fast``/``slow`` crossover over ``table``: ``(final_equity, round_trips)``."""
    repo = Repository.from_table("SYNTH", timedelta(minutes=1), table)
    result = run_backtest(SmaCross(fast=fast, slow=slow, fraction=ALL_IN), [repo], balance=CASH, fill_model="next_open",
                          calendar="XNYS")
    return result.final_equity, len(result.round_trips)


class RsiEachCandle(Strategy):
    """RSI(14) mean reversion, the series asked for in every on_candle (as the docs suggest)."""

    def on_candle(self, ctx, bar):
        line = ctx.indicator(bar.symbol, bar.period, rsi, 14)
        held = ctx.position(bar.symbol).quantity
        if line[-1] < 30 and not held:
            ctx.buy(bar.symbol, fraction=1.0)
        elif line[-1] > 70 and held:
            ctx.close(bar.symbol)


class RsiKept(RsiEachCandle):
    """The same, keeping the series it asked for once (the workaround before the cache)."""

    def on_candle(self, ctx, bar):
        line = getattr(self, "line", None)
        if line is None:
            line = self.line = ctx.indicator(bar.symbol, bar.period, rsi, 14)
        held = ctx.position(bar.symbol).quantity
        if line[-1] < 30 and not held:
            ctx.buy(bar.symbol, fraction=1.0)
        elif line[-1] > 70 and held:
            ctx.close(bar.symbol)


def run_rsi(table, cls):
    repo = Repository.from_table("SYNTH", timedelta(minutes=1), table)
    result = run_backtest(cls(), [repo], balance=CASH, fill_model="next_open", calendar="XNYS")
    return result.final_equity, len(result.round_trips)


def rsi_case(console, table, args):
    out = Table(title=f"RSI(14) strategy via ctx.indicator, {args.bars:,} one-minute bars")
    for col in ("series", "seconds", "bars/s", "final equity", "round trips"):
        out.add_column(col, justify="left" if col == "series" else "right")
    run_rsi(table.slice(0, 1000), RsiEachCandle)  # warm-up: imports and the indicator's first call
    for name, cls in (("asked for in every on_candle", RsiEachCandle), ("kept by the strategy", RsiKept)):
        seconds, (equity, trades) = timed(lambda: run_rsi(table, cls), args.repeat)
        out.add_row(name, f"{seconds:.2f}", f"{args.bars / seconds:,.0f}", f"{equity:,.2f}", str(trades))
    console.print(out)


def run_backtesting_py(df, fast, slow):
    """backtesting.py's SMA ``fast``/``slow`` crossover over ``df``: ``(final_equity, trades)``."""
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class PeerSmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(df, PeerSmaCross, cash=CASH, commission=0).run()
    return stats["Equity Final [$]"], stats["# Trades"]


def sma_case(console, table, df, args, fast, slow):
    """Time ours and backtesting.py on the SMA ``fast``/``slow`` crossover; print the table."""
    kind = "CPU" if args.cpu else "wall-clock"
    console.print(f"{args.bars:,} one-minute XNYS bars, SMA cross {fast}/{slow}, best of {args.repeat}, {kind} s")
    rows = []
    for name, fn in (("backtestester (event-driven)", lambda: run_ours(table, fast, slow)),
                     ("backtesting.py", lambda: run_backtesting_py(df, fast, slow))):
        seconds, (equity, trades) = timed(fn, args.repeat, args.cpu)
        rows.append((name, seconds, equity, trades))
        console.print(f"  {name}: {seconds:.2f} s")
    peer = rows[1][1]
    out = Table(title=f"Event-driven backtest speed, SMA {fast}/{slow} ({kind} seconds)")
    for col in ("engine", "seconds", "bars/s", "speed vs backtesting.py", "final equity", "round trips"):
        out.add_column(col, justify="left" if col == "engine" else "right")
    for name, seconds, equity, trades in rows:
        out.add_row(name, f"{seconds:.2f}", f"{args.bars / seconds:,.0f}", f"{peer / seconds:.2f}x",
                    f"{equity:,.2f}", str(trades))
    console.print(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cpu", action="store_true",
                        help="time CPU seconds of this process instead of wall-clock (a loaded machine)")
    parser.add_argument("--case", choices=("all", *CASES, "rsi"), default="all",
                        help="sma: SMA 50/200 next to backtesting.py; orders: SMA 10/30 (order-heavy); "
                             "all: both; rsi: ctx.indicator in on_candle vs a kept series")
    args = parser.parse_args()
    console = Console(width=120)
    bars = generate_bars("SYNTH", timeframe="1m", n_bars=args.bars, seed=11, calendar="XNYS")
    if args.case == "rsi":
        rsi_case(console, bars, args)
        return
    table, df = make_frames(bars)
    for case in CASES if args.case == "all" else (args.case,):
        sma_case(console, table, df, args, *CASES[case])


if __name__ == "__main__":
    main()
