"""Event-driven engine speed next to backtesting.py and NautilusTrader, in one invocation.

The SMA-cross cases of ``bench_engine.py`` (long-only, all-in, next-bar-open fills, no costs,
1,000,000 generated one-minute XNYS bars, seed 11): 10/30, order-heavy (about 19,600 round
trips), and 50/200. Every engine reads the same SMA series (``backtestester.data.indicators.sma``).
NautilusTrader (1.222+ needs Python 3.12) runs from its own virtualenv,
``benchmarks/peers/.venv`` (``make bench-nautilus`` builds it), as a subprocess
(``benchmarks/peers/nautilus_sma.py``, whose docstring says the configuration measured: cash
account, HEDGING, bars plus one trade tick per bar at the next open, the analyzer's quadratic
per-trade record patched to an append) reading the same bars from a Parquet file; without that
virtualenv the Nautilus rows are skipped with a note; ``--nautilus-as-shipped`` adds a row with
a NETTING account and the analyzer unpatched. Wall and CPU seconds are printed: on a shared
machine the CPU ratio is the steadier one. Usage:
``python benchmarks/bench_nautilus.py [--bars N] [--repeat K] [--cases 10/30,50/200] [--nautilus-as-shipped]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from timing import timed

from backtestester.data.indicators import sma
from backtestester.data.synthetic import generate_bars

NAUTILUS_PY = Path(__file__).resolve().parent / "peers" / ".venv" / "bin" / "python"
NAUTILUS_SCRIPT = Path(__file__).resolve().parent / "peers" / "nautilus_sma.py"
CASH = 1_000_000
SIZING_NOTE = ("backtesting.py sizes an all-in order as floor((1 - machine epsilon) x its float cash / price), and so "
               "does ours here (bench_engine's ALL_IN): when the cash is a whole multiple of the price that buys one "
               "share fewer than exact arithmetic (Nautilus' fixed-point money, ours with fraction=1.0). On the default bars, SMA 10/30: the 1,294th entry, $1,189,111.14 at $102.21 buys "
               "11,633 shares there, 11,634 here; the later all-in sizes follow the cash, a few dollars apart.")

from bench_engine import make_frames, run_backtesting_py, run_ours


def write_bars(table, fast, slow, directory) -> Path:
    """The bars and both SMA series as a Parquet file for the Nautilus subprocess."""
    close = np.asarray(table.column("close").to_numpy(), dtype=float)
    out = pa.table({"start": table.column("start").cast(pa.int64()),
                    **{c: table.column(c) for c in ("open", "high", "low", "close")},
                    "fast": sma(close, fast), "slow": sma(close, slow)})
    path = Path(directory) / f"bars-{fast}-{slow}.parquet"
    pq.write_table(out, path)
    return path


def run_nautilus(path, repeat, extra=()):
    """The subprocess's JSON answer (seconds, setup_seconds, final_equity, trades, version...)."""
    cmd = [str(NAUTILUS_PY), str(NAUTILUS_SCRIPT), str(path), "--cash", str(CASH), "--repeat", str(repeat), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"NautilusTrader run failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(console, table, df, fast, slow, args, directory):
    console.print(f"SMA {fast}/{slow} on {args.bars:,} one-minute XNYS bars, best of {args.repeat}")
    rows = []
    for name, fn in (("backtestester (event-driven)", lambda: run_ours(table, fast, slow)),
                     ("backtesting.py", lambda: run_backtesting_py(df, fast, slow))):
        seconds, cpu, (equity, trades) = timed(fn, args.repeat)
        rows.append((name, seconds, cpu, equity, trades))
        console.print(f"  {name}: {seconds:.2f} s")
    note = None
    if NAUTILUS_PY.exists():
        path = write_bars(table, fast, slow, directory)
        variants = [()] + ([("--oms", "NETTING", "--no-patch-analyzer")] if args.nautilus_as_shipped else [])
        for extra in variants:
            answer = run_nautilus(path, args.repeat, extra)
            name = (f"NautilusTrader {answer['version']} ({answer['oms']}, analyzer "
                    f"{'patched' if answer['analyzer_patched'] else 'as shipped'})")
            rows.append((name, answer["seconds"], answer["cpu_seconds"], answer["final_equity"], answer["trades"]))
            console.print(f"  {name}: {answer['seconds']:.2f} s (+ {answer['setup_seconds']:.1f} s building its "
                          "data objects, not timed)")
    else:
        note = (f"NautilusTrader skipped: {NAUTILUS_PY} not found (`make bench-nautilus` builds it; it needs "
                "Python 3.12 or newer)")
    ours, ours_cpu = rows[0][1], rows[0][2]
    out = Table(title=f"SMA {fast}/{slow}, {args.bars:,} bars: event-driven backtest speed")
    for col in ("engine", "seconds", "CPU s", "bars/s", "ours is faster by", "(by CPU)", "final equity",
                "round trips"):
        out.add_column(col, justify="left" if col == "engine" else "right")
    for name, seconds, cpu, equity, trades in rows:
        out.add_row(name, f"{seconds:.2f}", f"{cpu:.2f}", f"{args.bars / seconds:,.0f}", f"{seconds / ours:.2f}x",
                    f"{cpu / ours_cpu:.2f}x", f"{equity:,.2f}", str(trades))
    console.print(out)
    if note:
        console.print(note)
    if any(abs(r[3] - rows[0][3]) >= 0.005 for r in rows[1:]):
        console.print(SIZING_NOTE)
    agree = all(abs(r[3] - rows[0][3]) < 0.005 and r[4] == rows[0][4] for r in rows[1:])
    console.print("All engines agree on final equity and round trips." if agree else
                  "Final equities or round trips differ: " + "; ".join(f"{r[0]} {r[3]:,.2f} / {r[4]}" for r in rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cases", default="10/30,50/200", help="fast/slow pairs, comma-separated")
    parser.add_argument("--nautilus-as-shipped", action="store_true",
                        help="also run NautilusTrader with a NETTING account and its analyzer unpatched (quadratic)")
    args = parser.parse_args()
    console = Console(width=180)
    table, df = make_frames(generate_bars("SYNTH", timeframe="1m", n_bars=args.bars, seed=11, calendar="XNYS"))
    with tempfile.TemporaryDirectory() as directory:
        for case in args.cases.split(","):
            fast, slow = (int(x) for x in case.split("/"))
            run_case(console, table, df, fast, slow, args, directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
