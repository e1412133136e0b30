"""Sweep throughput on the embedded Ray cluster: a 100-combination SMA sweep over generated
one-minute bars with 1 and 2 playground actors (scaling efficiency), the same sweep through the
compiled fast path, and the private memory each extra actor pays for a large shared table.

Each round times the sweep with 1 and 2 actors (alternating which goes first) and, just before,
the machine's own scaling: two CPU-bound Ray tasks against one (100% when two cores are free;
a sweep cannot scale better than that). Timed: all of ``run_sweep`` (actors started, tables
put into the object store, runs, results file and report written). Not timed, because a real
sweep pays them once and a benchmark timing several sweeps in one process would otherwise put
them into whichever it times first: Ray's start; compiling the fast path's kernels
(``fastpath.warmup()`` in the driver fills numba's on-disk cache: a machine compiles once, and
every sweep's actors then load the cache, which is timed); the driver's own first-use imports
(matplotlib for the report, ~0.5 s), paid by an untimed 4-run sweep over 1,000 bars. With
``--actors new`` every timed sweep starts new actors (process, imports, kernels, repositories),
as a one-off sweep does.

With ``--actors pool`` (by default both kinds are measured) the sweeps run instead on one
:class:`~actors.pool.SweepPool` of two actors started before the rounds, as a session of sweeps
does: actor start, imports and kernels are then paid once, outside the timings.

With ``--source catalog`` the sweeps read the bars from a data catalog on disk (written once,
untimed) as ``backtestester sweep`` does: ``prepare_sweep`` reads and fingerprints them, then
``run_sweep`` runs; both timed.

With ``--actors command`` each timed sweep is the whole ``backtestester sweep`` command in a
process of its own, as a user runs it (``--workers 1`` and ``2``, the catalog written once):
Python's start and imports, Ray's start, the actors, the runs and the report with its five
best runs' charts are all timed (numba's on-disk cache is filled, as on a machine that swept
before).

The last table gives each kind of sweep's scaling efficiency (1 -> 2 actors) by number of
combinations: ``--engines fast --grid 10x10 20x20 40x25`` measures the one-off sweep (``new``)
and the pool at 100, 400 and 1,000 combinations.

Usage: ``python benchmarks/bench_sweep.py [--bars N] [--grid FASTxSLOW ...] [--rounds R]
[--engines event fast] [--actors new pool] [--source memory catalog] [--table-gib G]
[--skip-memory]`` (``--grid 20x20``: 400 combinations, fast 5..100, slow 110..490).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from actors.cluster import init_ray
from actors.data_store import DataStore
from actors.pool import SweepPool
from actors.sweep import run_sweep
from actors.sweep_worker import SweepWorker
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.sweep import SweepSpec
from backtestester.sweep.prepare import prepare_sweep


def sma_grid(n_fast: int = 10, n_slow: int = 10) -> dict:
    """fast 5, 10, ... and slow windows 20 apart above them; 10x10: fast 5..50, slow 60..240."""
    return {"fast": [5 * (i + 1) for i in range(n_fast)], "slow": [5 * n_fast + 10 + 20 * j for j in range(n_slow)]}


def sweep_seconds(tables, workers: int, engine: str, grid: dict, pool=None, data_dir=None) -> tuple[float, float]:
    """(wall seconds of the sweep, seconds its runs took summed over the actors). With ``data_dir``
    the sweep reads SYNTH from that catalog as ``backtestester sweep`` does (``prepare_sweep``,
    then ``run_sweep``; both timed), else it is handed ``tables``."""
    spec = SweepSpec(strategy="backtestester.strategy.reference:SmaCross", grid=grid, engine=engine)
    runs = len(grid["fast"]) * len(grid["slow"])
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        source = dict(data_dir=data_dir) if data_dir else dict(tables=tables)
        prepared = prepare_sweep(spec, **source)
        outcome = run_sweep(spec, out, **source, workers=workers, show_progress=False, report_top=0, pool=pool,
                            prepared=prepared)
        seconds = time.perf_counter() - t0
    assert outcome.ran == runs and outcome.failed == 0, outcome.records[:1]
    return seconds, sum(r["elapsed_s"] for r in outcome.records)


def command_seconds(workers: int, engine: str, grid: dict, data_dir) -> tuple[float, float]:
    """(wall seconds, seconds of the runs summed) of ``backtestester sweep`` in a process of its own."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    command = Path(sys.executable).with_name("backtestester")
    with tempfile.TemporaryDirectory() as out:
        argv = [str(command), "sweep", "--engine", engine, "--data-dir", str(data_dir), "--workers", str(workers),
                "--out", out, "--no-progress", *(a for name, values in grid.items()
                                                 for a in ("--grid", f"{name}={','.join(map(str, values))}"))]
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        elapsed = pq.read_table(Path(out) / "results.parquet", columns=["elapsed_s"]).column(0).to_pylist()
    assert len(elapsed) == len(grid["fast"]) * len(grid["slow"])
    return seconds, sum(elapsed)


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def machine_scaling(ray, n: int = 10_000_000) -> float:
    """Time of one CPU-bound task / time of two at once: 1.0 with two free cores, 0.5 with one.
    The tasks reserve no CPU: a pool's idle actors hold both."""
    spin = ray.remote(num_cpus=0)(_spin)
    ray.get([spin.remote(1000), spin.remote(1000)])
    t0 = time.perf_counter()
    ray.get(spin.remote(n))
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.get([spin.remote(n), spin.remote(n)])
    return one / (time.perf_counter() - t0)


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
    hosts = [ray.remote(num_cpus=1)(SweepWorker).remote() for _ in range(2)]
    before = ray.get([h.private_memory.remote() for h in hosts])
    ray.get([h.load.remote({("BIG", "1m"): refs}) for h in hosts])
    after = ray.get([h.private_memory.remote() for h in hosts])
    for actor in (*hosts, store):
        ray.kill(actor)
    return size / 2**20, [(a - b) / 2**20 for a, b in zip(after, before)]


def _spread(values, fmt: str) -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--grid", nargs="+", default=["10x10"],
                        help="FASTxSLOW: numbers of fast and slow windows; several grids are measured in turn "
                             "(10x10 20x20 40x25: 100, 400 and 1,000 combinations)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--table-gib", type=float, default=1.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--engines", nargs="+", default=["event", "fast"])
    parser.add_argument("--actors", nargs="+", default=["new", "pool"], choices=["new", "pool", "command"],
                        help="new: every sweep starts its actors (a one-off sweep); pool: sweeps run on a "
                             "SweepPool of 2 actors started before the rounds (a session of sweeps); command: "
                             "the whole `backtestester sweep` command, timed as a user waits for it")
    parser.add_argument("--source", nargs="+", default=["memory"], choices=["memory", "catalog"],
                        help="memory: the tables are handed to the sweep; catalog: the sweep reads them from a "
                             "data catalog on disk, as `backtestester sweep` does (the read is timed)")
    return parser.parse_args()


def _rounds(ray, args, tables, data_dir, engine: str, grid: dict, pool, out: Table, label: tuple) -> list:
    """``args.rounds`` rounds of 1 and 2 actors (alternating which goes first), each a row of ``out``."""
    runs = len(grid["fast"]) * len(grid["slow"])
    rows = []
    for k in range(args.rounds):
        machine = machine_scaling(ray)
        order = (1, 2) if k % 2 == 0 else (2, 1)
        timed = {w: command_seconds(w, engine, grid, data_dir) if label[2] == "command"
                 else sweep_seconds(tables, w, engine, grid, pool, data_dir) for w in order}
        (one, work1), (two, work2) = timed[1], timed[2]
        rows.append((machine, one, two, one / (2 * two)))
        out.add_row(*label, str(k + 1), f"{machine:.0%}", f"{one:.1f}", f"{two:.1f}", f"{runs / two:.1f}",
                    f"{one / (2 * two):.0%}", f"{work1:.1f} / {work2:.1f}", f"{os.getloadavg()[0]:.1f}")
    return rows


def main():
    args = _arguments()
    console = Console() if sys.stdout.isatty() else Console(width=200)  # a log keeps the tables' columns whole
    ray = init_ray(num_cpus=2)
    tables = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=args.bars, seed=11)}
    if "fast" in args.engines:
        from backtestester.fastpath import warmup

        console.print(f"numba kernels ready in the driver (on-disk cache filled): {warmup():.1f} s")
    grids = {spec: sma_grid(*(int(x) for x in spec.lower().split("x"))) for spec in args.grid}
    sizes = ", ".join(str(len(g["fast"]) * len(g["slow"])) for g in grids.values())
    console.print(f"SMA sweeps of {sizes} combinations over {args.bars:,} one-minute bars, {args.rounds} rounds")
    out = Table(title="Sweep throughput")
    for col in ("source", "engine", "actors", "runs", "round", "machine scaling", "1 actor s", "2 actors s",
                "runs/s (2)", "scaling efficiency", "run time s (1 / 2)", "load avg"):
        out.add_column(col, justify="right")
    summary = {}
    small = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=1_000, seed=11)}
    with tempfile.TemporaryDirectory() as catalog:
        if "catalog" in args.source or "command" in args.actors:
            Catalog(catalog).write("SYNTH", "1m", tables[("SYNTH", "1m")])
        for engine in args.engines:
            sweep_seconds(small, 2, engine, sma_grid(2, 2))  # the driver's first-use imports, untimed
            for actors in args.actors:
                pool = SweepPool(2, engines=engine) if actors == "pool" else None
                if pool:
                    sweep_seconds(small, 2, engine, sma_grid(2, 2), pool)  # the pool's actors ready, untimed
                for source in args.source if actors != "command" else ["catalog"]:
                    data_dir = catalog if source == "catalog" else None
                    for grid in grids.values():
                        label = (source, engine, actors, str(len(grid["fast"]) * len(grid["slow"])))
                        summary[label] = _rounds(ray, args, tables, data_dir, engine, grid, pool, out, label)
                if pool:
                    pool.close()
    console.print(out)
    _print_summary(console, summary)
    if not args.skip_memory:
        size, growth = memory_per_actor(ray, args.table_gib)
        console.print(f"shared table {size:,.0f} MiB: private memory growth per actor "
                      + ", ".join(f"{g:.0f} MiB" for g in growth))


def _print_summary(console, summary: dict) -> None:
    """Scaling efficiency (1 -> 2 actors) by kind of sweep and number of combinations."""
    out = Table(title="Scaling efficiency, 1 -> 2 actors: median (min-max) of the rounds")
    for col in ("source", "engine", "actors", "runs", "1 actor s", "2 actors s", "efficiency", "machine scaling"):
        out.add_column(col, justify="right")
    for label, rows in summary.items():
        machine, one, two, eff = zip(*rows)
        out.add_row(*label, _spread(one, "{:.1f}"), _spread(two, "{:.1f}"), _spread(eff, "{:.0%}"),
                    _spread(machine, "{:.0%}"))
    console.print(out)


if __name__ == "__main__":
    main()
