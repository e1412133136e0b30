"""Sweep throughput on the embedded Ray cluster: a 100-combination SMA sweep over generated
one-minute bars with 1 and 2 playground actors (scaling efficiency), the same sweep through the
compiled fast path, and the private memory each extra actor pays for a large shared table.

Usage: ``python benchmarks/bench_sweep.py [--bars N] [--table-gib G] [--skip-memory]``.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from actors.cluster import init_ray
from actors.data_store import DataStore
from actors.host import PlaygroundHost
from actors.sweep import SweepSpec, run_sweep
from backtestester.data.synthetic import generate_bars

GRID = {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50], "slow": [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]}


def sweep_seconds(tables, workers: int, engine: str) -> float:
    spec = SweepSpec(strategy="backtestester.strategy.reference:SmaCross", grid=GRID, engine=engine)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        outcome = run_sweep(spec, out, tables=tables, workers=workers, show_progress=False, report_top=0)
        seconds = time.perf_counter() - t0
    assert outcome.ran == 100 and outcome.failed == 0, outcome.records[:1]
    return seconds


def memory_per_actor(ray, gib: float) -> tuple[float, list[float]]:
    rows = int(gib * 2**30 / 48)
    start = np.arange(rows, dtype=np.int64) * 60_000_000_000 + 1_577_836_800_000_000_000
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, rows))
    table = pa.table({"start": pa.array(start, pa.timestamp("ns", tz="UTC")), "open": close, "high": close + 0.05,
                      "low": close - 0.05, "close": close, "volume": np.ones(rows)})
    size = table.nbytes
    store = ray.remote(num_cpus=0)(DataStore).remote()
    refs = ray.get(store.put.remote("BIG", "1m", table))
    del table, start, close
    hosts = [ray.remote(num_cpus=1)(PlaygroundHost).remote() for _ in range(2)]
    before = ray.get([h.private_memory.remote() for h in hosts])
    ray.get([h.load.remote({("BIG", "1m"): refs}) for h in hosts])
    after = ray.get([h.private_memory.remote() for h in hosts])
    for actor in (*hosts, store):
        ray.kill(actor)
    return size / 2**20, [(a - b) / 2**20 for a, b in zip(after, before)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--table-gib", type=float, default=1.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--engines", nargs="+", default=["event", "fast"])
    args = parser.parse_args()
    console = Console()
    ray = init_ray(num_cpus=2)
    tables = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=args.bars, seed=11)}
    console.print(f"100-combination SMA sweep over {args.bars:,} one-minute bars")
    out = Table(title="Sweep throughput")
    for col in ("engine", "actors", "seconds", "runs/s", "scaling efficiency"):
        out.add_column(col, justify="right")
    for engine in args.engines:
        one = sweep_seconds(tables, 1, engine)
        two = sweep_seconds(tables, 2, engine)
        out.add_row(engine, "1", f"{one:.1f}", f"{100 / one:.2f}", "")
        out.add_row(engine, "2", f"{two:.1f}", f"{100 / two:.2f}", f"{one / (2 * two):.0%}")
    console.print(out)
    if not args.skip_memory:
        size, growth = memory_per_actor(ray, args.table_gib)
        console.print(f"shared table {size:,.0f} MiB: private memory growth per actor "
                      + ", ".join(f"{g:.0f} MiB" for g in growth))


if __name__ == "__main__":
    main()
