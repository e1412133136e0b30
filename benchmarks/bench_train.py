"""Training throughput: trials per second and core utilisation of ``run_training`` (Optuna ask/tell
in the driver, trials evaluated by 1 and 2 pool actors, and by 2 actors on Ray's two-node test
cluster) against scikit-optimize's serial ``gp_minimize`` on the same objective and budget, side
by side in one run, with ratios against ``gp_minimize``.

The objective is the same for all: the SMA crossover's mean out-of-sample Sharpe over the same
anchored walk-forward folds of generated one-minute bars (the bars before the holdout), each
trial evaluated by :func:`backtestester.training.evaluate.evaluate_trial` (skopt calls it in
process, one trial after another; ``run_training`` sends batches to the actors). The space:
``fast`` 5..50, ``slow`` 60..240 (integers). All draw ``--trials`` parameter sets from the
same seed.

Timed: the whole call (``run_training``: the study's journal, the batches, the holdout's one
evaluation and the report; ``gp_minimize``: its Gaussian process fits and the evaluations). Not
timed: Ray's start, the actors' start (``run_training`` runs on 1 or 2 actors of one
:class:`~actors.pool.SweepPool` of two, started before, as a session of studies does) and one
small untimed study of each kind first (first-use imports, the actors' repositories), as
``bench_sweep.py`` does. The two-node case runs in a child process in its own process group
(a process joins one Ray cluster only): it starts the cluster (a head and a worker node of 1
CPU each, as ``tests/sweep/multinode_sweep.py`` does), a pool of one actor per node and the
untimed small study, times its study, shuts the cluster down by its handle; the benchmark then
ends the child's process group by its id.

Core utilisation (CPU use): the CPU seconds spent by the driver and the Ray worker processes it
started (sampled by a thread every 0.1 s; other processes on a shared machine do not count)
over wall seconds times the cores the run was given (1 for skopt; the number of actors for
``run_training``). 100% would be every given core busy for the whole call. Split: "evaluating"
is the share of the wall time the actors had a batch, "actors busy" the actors' CPU over that
time, "after s" the holdout's evaluation and the report (the driver alone). "ask/tell" is the
driver's time in Optuna's ask and tell (with saving each outcome) over the evaluating time; for
skopt, its GP fits and acquisition over its evaluations. "OOS per wall-s": the best mean
out-of-sample Sharpe over the call's wall seconds.

Usage: ``python benchmarks/bench_train.py [--bars N] [--trials N] [--folds K] [--rounds R]
[--batch-size B] [--cluster local|two-node|both]``. The header gives the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import psutil
from bench_sweep import machine_scaling
from rich.console import Console
from rich.table import Table

from actors import train
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
    """CPU seconds of this process and of the Ray worker processes it started (``ray::...``
    titles among its descendants: other users' Ray processes on a shared machine do not count)
    while the ``with`` block runs, sampled every ``interval`` seconds by a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                cmd = proc.cmdline()
                if proc.pid != me.pid and not (cmd and cmd[0].startswith("ray::")):
                    continue
                cpu = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seconds = cpu.user + cpu.system
            self.first.setdefault(proc.pid, seconds)
            self.last[proc.pid] = seconds

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

    @property
    def worker_seconds(self) -> float:
        """CPU seconds of the Ray worker processes alone (the driver's left out)."""
        return sum(self.last[pid] - self.first[pid] for pid in self.last if pid != os.getpid())


class DriverClock:
    """Seconds the training driver spends asking and telling Optuna (``_Driver.ask_batch``;
    ``_Driver.tell``, which also saves the trial's outcome file), waiting for the actors to
    evaluate the batches (``_Evaluator.evaluate``) and, after the search, evaluating the best
    trial on the holdout and writing the report (``_holdout``, ``write_report``), while the ``with`` block runs: the methods
    are wrapped for the block and restored after it. Measurement only: nothing else changes."""

    WRAPPED = ((train._Driver, "ask_batch", "ask_tell"), (train._Driver, "tell", "ask_tell"),
               (train._Evaluator, "evaluate", "evaluate"), (train, "_holdout", "after"),
               (train, "write_report", "after"))

    def __init__(self):
        self.seconds = {"ask_tell": 0.0, "evaluate": 0.0, "after": 0.0}
        self.saved = []

    def _timed(self, method, key):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - t0
        return timed

    def __enter__(self):
        for cls, name, key in self.WRAPPED:
            method = getattr(cls, name)
            self.saved.append((cls, name, method))
            setattr(cls, name, self._timed(method, key))
        return self

    def __exit__(self, *exc):
        for cls, name, method in self.saved:
            setattr(cls, name, method)


def search_folds(n_bars: int, folds: int) -> list:
    """The walk-forward folds of the bars before the holdout (20%), as ``run_training`` makes them."""
    search_end, _ = split_holdout(n_bars, 0.2)
    return walk_forward(search_end, folds=folds, scheme="anchored")


def ours(tables, trials: int, folds: int, workers: int, seed: int, pool: SweepPool, batch: int) -> dict:
    spec = TrainSpec(strategy=STRATEGY, symbols=("SYNTH",), timeframe="1m",
                     space={name: f"int:{lo}:{hi}" for name, (lo, hi) in SPACE.items()},
                     trials=trials, folds=folds, holdout=0.2, seed=seed, batch_size=batch)
    with tempfile.TemporaryDirectory() as out:
        spec.out = out
        with CpuMeter() as meter, DriverClock() as clock:
            t0 = time.perf_counter()
            result = run_training(spec, tables=tables, workers=workers, show_progress=False, pool=pool)
            wall = time.perf_counter() - t0
    counted = [o for o in result.outcomes if o.error is None]
    best = max((o.score[0] for o in counted if o.score), default=float("nan"))
    return {"wall": wall, "cpu": meter.seconds, "cores": workers, "trials": len(result.outcomes), "best": best,
            "overhead": clock.seconds["ask_tell"], "evaluating": clock.seconds["evaluate"],
            "after": clock.seconds["after"], "actors_busy": meter.worker_seconds / (clock.seconds["evaluate"] * workers)}


def skopt_serial(tables, trials: int, folds: int, seed: int) -> dict:
    from skopt import gp_minimize
    from skopt.space import Integer

    fold_list = search_folds(tables[("SYNTH", "1m")].num_rows, folds)
    cache: dict = {}
    count = iter(range(10**9))
    evaluating = [0.0]

    def objective(x):
        t0 = time.perf_counter()
        spec = TrialSpec(number=next(count), params=dict(zip(SPACE, map(int, x))), strategy=STRATEGY,
                         symbols=("SYNTH",), timeframe="1m", folds=fold_list)
        score = evaluate_trial(spec, tables, cache=cache).score
        value = score[0] if score else float("nan")
        evaluating[0] += time.perf_counter() - t0
        return 10.0 if not np.isfinite(value) else -value  # skopt minimises; a failed trial scores badly

    # gp_minimize proposes a point it has evaluated again when its GP is stuck, warns and draws a
    # random one instead: part of how it searches, said once here rather than on every call.
    warnings.filterwarnings("ignore", message="The objective has been evaluated at point")
    t0, cpu0 = time.perf_counter(), time.process_time()
    res = gp_minimize(objective, [Integer(lo, hi, name=name) for name, (lo, hi) in SPACE.items()],
                      n_calls=trials, n_initial_points=min(10, trials), random_state=seed)
    wall = time.perf_counter() - t0
    # Its overhead: the Gaussian process fits and acquisition (the call less the evaluations).
    return {"wall": wall, "cpu": time.process_time() - cpu0, "cores": 1, "trials": len(res.func_vals),
            "best": -float(res.fun), "overhead": wall - evaluating[0], "evaluating": evaluating[0]}


def two_node_child(args) -> None:
    """Run in a child process (``--two-node-child``): start Ray's two-node test cluster (a head
    and a worker node of 1 CPU each, separate processes on this machine, as
    ``tests/sweep/multinode_sweep.py`` does), one pool actor per node, one untimed small study,
    then the timed study; print its measurement as one JSON line; shut the cluster down by its
    own handle (its node processes)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray = init_ray(cluster.address)
        pool = SweepPool(2, address=cluster.address, engines="event")
        small, tables = bars(20_000), bars(args.bars)
        ours(small, 4, 2, 2, args.seed, pool, args.batch_size)  # first-use imports, untimed
        print(json.dumps(ours(tables, args.trials, args.folds, 2, args.seed, pool, args.batch_size)), flush=True)
        pool.close()
        ray.shutdown()
    finally:
        cluster.shutdown()


def two_node(args) -> dict:
    """One timed study on the two-node test cluster, run by a child process in its own process
    group (a process can join one Ray cluster only); the group is ended by its id afterwards, so
    nothing the child started outlives the benchmark."""
    cmd = [sys.executable, __file__, "--two-node-child", "--bars", str(args.bars), "--trials", str(args.trials),
           "--folds", str(args.folds), "--seed", str(args.seed), "--batch-size", str(args.batch_size)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = child.communicate(timeout=1800)
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"the two-node run failed (exit {child.returncode}); its output: {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def bars(n: int) -> dict:
    return {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=n, seed=11)}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=TrainSpec.batch_size,
                        help="run_training's batch size (trials asked and told together)")
    parser.add_argument("--cluster", choices=("local", "two-node", "both"), default="both",
                        help="ours on the embedded cluster (1 and 2 actors), on the two-node test cluster, or both")
    parser.add_argument("--two-node-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.two_node_child:
        return two_node_child(args)
    console = Console(width=150)
    runs, pool = {}, None
    if args.cluster in ("local", "both"):
        init_ray(num_cpus=2)
        pool = SweepPool(2, engines="event")
        ours(bars(20_000), 4, 2, 2, args.seed, pool, args.batch_size)      # first-use imports, untimed
        tables = bars(args.bars)
        runs["ours, 1 actor"] = lambda: ours(tables, args.trials, args.folds, 1, args.seed, pool, args.batch_size)
        runs["ours, 2 actors"] = lambda: ours(tables, args.trials, args.folds, 2, args.seed, pool, args.batch_size)
    if args.cluster in ("two-node", "both"):
        runs["ours, two-node cluster"] = lambda: two_node(args)
    tables = bars(args.bars)
    skopt_serial(bars(20_000), 4, 2, args.seed)
    runs["skopt gp_minimize"] = lambda: skopt_serial(tables, args.trials, args.folds, args.seed)
    load = os.getloadavg()
    console.print(f"{args.trials} trials (batches of {args.batch_size}), {args.folds} anchored folds over "
                  f"{args.bars:,} one-minute bars (20% held out), {args.rounds} round(s); {os.cpu_count()} cores; "
                  f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) before the rounds",
                  highlight=False)
    measured, machine = {name: [] for name in runs}, []
    for k in range(args.rounds):
        if pool is not None:
            machine.append(machine_scaling(init_ray()))
        order = list(runs) if k % 2 == 0 else list(runs)[::-1]
        for name in order:
            measured[name].append(runs[name]())
    console.print(result_table(measured))
    if machine:
        console.print(f"the machine's own scaling before each round (one CPU-bound task's time / two at once's; 100% "
                      f"with two free cores, 50% with one): {', '.join(f'{m:.0%}' for m in machine)}", highlight=False)
    console.print(f"load average after the rounds {os.getloadavg()[0]:.1f}; " + LEGEND, highlight=False)
    if pool is not None:
        pool.close()


LEGEND = ("ours: run_training (Optuna TPE); skopt: gp_minimize, serial. CPU use: CPU seconds / (wall seconds x "
          "the run's cores). evaluating: the share of the wall time the trials were being evaluated (the rest: the driver alone, "
          "asking, telling, the holdout's evaluation, the report). actors busy: the actors' CPU seconds over (those seconds x the actors). after s: the seconds after the search (the holdout's one evaluation and the report, in the driver). ask/tell: the driver's seconds in Optuna's ask and tell (and saving each trial's "
          "outcome) over the seconds the trials were being evaluated; for skopt its GP fits and acquisition over "
          "its evaluations. best OOS: the best mean out-of-sample Sharpe found; per wall-s: that over the "
          "call's wall seconds. Ratios (x) are against gp_minimize in the same run.")


def result_table(measured: dict) -> Table:
    """The medians of the rounds for each contestant, with ratios against gp_minimize."""
    def med(rows, f):
        return statistics.median(f(m) for m in rows)

    ref = measured["skopt gp_minimize"]
    ref_rate = med(ref, lambda m: m["trials"] / m["wall"])
    ref_score = med(ref, lambda m: m["best"] / m["wall"])
    table = Table(title="Training throughput (median of the rounds)")
    table.add_column("search", no_wrap=True)
    for col in ("wall s", "trials/s", "vs skopt", "CPU use", "evaluating", "actors busy", "after s", "ask/tell", "best OOS", "OOS per wall-s",
                "vs skopt"):
        table.add_column(col, justify="right")
    for name, rows in measured.items():
        rate = med(rows, lambda m: m["trials"] / m["wall"])
        per_second = med(rows, lambda m: m["best"] / m["wall"])
        table.add_row(name, f"{med(rows, lambda m: m['wall']):.1f}", f"{rate:.2f}", f"{rate / ref_rate:.2f}x",
                      f"{med(rows, lambda m: m['cpu'] / (m['wall'] * m['cores'])):.0%}",
                      f"{med(rows, lambda m: m['evaluating'] / m['wall']):.0%}",
                      f"{med(rows, lambda m: m['actors_busy']):.0%}" if "actors_busy" in rows[0] else "-",
                      f"{med(rows, lambda m: m['after']):.1f}" if "after" in rows[0] else "-",
                      f"{med(rows, lambda m: m['overhead'] / m['evaluating']):.1%}",
                      f"{med(rows, lambda m: m['best']):.3f}", f"{per_second:.4f}",
                      f"{per_second / ref_score:.2f}x" if ref_score > 0 else "n/a")
    return table


if __name__ == "__main__":
    main()
