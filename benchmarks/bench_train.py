"""Training throughput: trials per second and core utilisation of ``run_training`` (Optuna ask/tell
in the driver, trials evaluated by 1 and 2 pool actors) against scikit-optimize's serial
``gp_minimize`` on the same objective and budget, side by side in one run.

The objective is the same for both: the SMA crossover's mean out-of-sample Sharpe over the same
anchored walk-forward folds of generated one-minute bars (the bars before the holdout), each
trial evaluated by :func:`backtestester.training.evaluate.evaluate_trial` (skopt calls it in
process, one trial after another; ``run_training`` sends batches to the actors). The space:
``fast`` 5..50, ``slow`` 60..240 (integers). Both draw ``--trials`` parameter sets from the
same seed.

Timed: the whole call (``run_training``: the study's journal, the batches, the holdout's one
evaluation and the report; ``gp_minimize``: its Gaussian process fits and the evaluations). Not
timed: Ray's start, the actors' start (``run_training`` runs on 1 or 2 actors of one
:class:`~actors.pool.SweepPool` of two, started before, as a session of studies does) and one
small untimed study of each kind first (first-use imports, the actors' repositories), as
``bench_sweep.py`` does.

Core utilisation: the CPU seconds spent (the driver and every Ray worker process, sampled by a
thread every 0.1 s, so an actor's last 0.1 s may be missed) over wall seconds times the cores
the run was given (1 for skopt; the number of actors for ``run_training``). 100% would be every
given core busy for the whole call.

Usage: ``python benchmarks/bench_train.py [--bars N] [--trials N] [--folds K] [--rounds R]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import warnings

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from actors.cluster import init_ray
from actors.pool import SweepPool
from actors.train import run_training
from backtestester.data.synthetic import generate_bars
from backtestester.training.evaluate import TrialSpec, evaluate_trial
from backtestester.training.folds import split_holdout, walk_forward
from backtestester.training.spec import TrainSpec

STRATEGY = "backtestester.strategy.reference:SmaCross"
SPACE = {"fast": (5, 50), "slow": (60, 240)}


class CpuMeter:
    """CPU seconds of this process and of Ray's worker processes (``ray::...`` titles) while
    the ``with`` block runs, sampled every ``interval`` seconds by a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()

    def _sample(self) -> None:
        me = os.getpid()
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                cmd = proc.info["cmdline"] or []
                if proc.info["pid"] != me and not (cmd and cmd[0].startswith("ray::")):
                    continue
                cpu = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seconds = cpu.user + cpu.system
            self.first.setdefault(proc.info["pid"], seconds)
            self.last[proc.info["pid"]] = seconds

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        """CPU seconds used in the block (a process started in it counts from the first sample that saw it)."""
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def search_folds(n_bars: int, folds: int) -> list:
    """The walk-forward folds of the bars before the holdout (20%), as ``run_training`` makes them."""
    search_end, _ = split_holdout(n_bars, 0.2)
    return walk_forward(search_end, folds=folds, scheme="anchored")


def ours(tables, trials: int, folds: int, workers: int, seed: int, pool: SweepPool) -> dict:
    spec = TrainSpec(strategy=STRATEGY, symbols=("SYNTH",), timeframe="1m",
                     space={name: f"int:{lo}:{hi}" for name, (lo, hi) in SPACE.items()},
                     trials=trials, folds=folds, holdout=0.2, seed=seed)
    with tempfile.TemporaryDirectory() as out:
        spec.out = out
        with CpuMeter() as meter:
            t0 = time.perf_counter()
            result = run_training(spec, tables=tables, workers=workers, show_progress=False, pool=pool)
            wall = time.perf_counter() - t0
    counted = [o for o in result.outcomes if o.error is None]
    best = max((o.score[0] for o in counted if o.score), default=float("nan"))
    return {"wall": wall, "cpu": meter.seconds, "cores": workers, "trials": len(result.outcomes), "best": best}


def skopt_serial(tables, trials: int, folds: int, seed: int) -> dict:
    from skopt import gp_minimize
    from skopt.space import Integer

    fold_list = search_folds(tables[("SYNTH", "1m")].num_rows, folds)
    cache: dict = {}
    count = iter(range(10**9))

    def objective(x):
        spec = TrialSpec(number=next(count), params=dict(zip(SPACE, map(int, x))), strategy=STRATEGY,
                         symbols=("SYNTH",), timeframe="1m", folds=fold_list)
        score = evaluate_trial(spec, tables, cache=cache).score
        value = score[0] if score else float("nan")
        return 10.0 if not np.isfinite(value) else -value  # skopt minimises; a failed trial scores badly

    # gp_minimize proposes a point it has evaluated again when its GP is stuck, warns and draws a
    # random one instead: part of how it searches, said once here rather than on every call.
    warnings.filterwarnings("ignore", message="The objective has been evaluated at point")
    t0, cpu0 = time.perf_counter(), time.process_time()
    res = gp_minimize(objective, [Integer(lo, hi, name=name) for name, (lo, hi) in SPACE.items()],
                      n_calls=trials, n_initial_points=min(10, trials), random_state=seed)
    wall = time.perf_counter() - t0
    return {"wall": wall, "cpu": time.process_time() - cpu0, "cores": 1, "trials": len(res.func_vals),
            "best": -float(res.fun)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    init_ray(num_cpus=2)
    tables = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=args.bars, seed=11)}
    small = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=11)}
    pool = SweepPool(2, engines="event")
    ours(small, 4, 2, 2, args.seed, pool)      # first-use imports, untimed
    skopt_serial(small, 4, 2, args.seed)
    console.print(f"{args.trials} trials, {args.folds} anchored folds over {args.bars:,} one-minute bars "
                  f"(20% held out), {args.rounds} round(s); load average {os.getloadavg()[0]:.1f}")
    runs = {"ours, 1 actor": lambda: ours(tables, args.trials, args.folds, 1, args.seed, pool),
            "ours, 2 actors": lambda: ours(tables, args.trials, args.folds, 2, args.seed, pool),
            "skopt gp_minimize": lambda: skopt_serial(tables, args.trials, args.folds, args.seed)}
    measured = {name: [] for name in runs}
    for k in range(args.rounds):
        order = list(runs) if k % 2 == 0 else list(runs)[::-1]
        for name in order:
            measured[name].append(runs[name]())
    reference = statistics.median(m["trials"] / m["wall"] for m in measured["skopt gp_minimize"])
    table = Table(title="Training throughput (median of the rounds)")
    table.add_column("search", no_wrap=True)
    for col in ("wall s", "trials/s", "vs skopt", "CPU use", "best OOS"):
        table.add_column(col, justify="right")
    for name, rows in measured.items():
        rate = statistics.median(m["trials"] / m["wall"] for m in rows)
        use = statistics.median(m["cpu"] / (m["wall"] * m["cores"]) for m in rows)
        table.add_row(name, f"{statistics.median(m['wall'] for m in rows):.1f}", f"{rate:.2f}",
                      f"{rate / reference:.2f}x", f"{use:.0%}", f"{statistics.median(m['best'] for m in rows):.3f}")
    console.print(table)
    console.print("ours: run_training (Optuna TPE, batches of the spec's batch size); skopt: gp_minimize, serial; "
                  "CPU use: CPU seconds / (wall seconds x the run's cores); best OOS: the best mean out-of-sample "
                  "Sharpe found", highlight=False)
    pool.close()


if __name__ == "__main__":
    main()
