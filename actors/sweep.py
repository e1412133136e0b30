"""The sweep runner: parameter sets -> a pool of playground actors -> a ranked, resumable results table.

Driver-side logic around two actor kinds: one :class:`~actors.data_store.DataStore` loading the
catalog's tables into shared memory (tables handed in by the caller are put there by the driver
itself), and a pool of :class:`~actors.host.PlaygroundHost` running batches of whole backtests.
Results go to ``<out>/results.parquet`` as they arrive (atomically), so an interrupted sweep
keeps what finished and a re-run skips it.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from backtestester.sweep import RunConfig, grid_space, random_space
from backtestester.sweep.report import leaderboard_table, params_text, ranked, write_report

from .cluster import cluster_cpus, init_ray
from .data_store import DataStore
from .pool import SweepPool
from .scheduling import WorkQueues

MAX_BATCH_RETRIES = 2
# Fewest configs in an automatically sized fast-path batch: a batch costs a few milliseconds of
# its own (checks of the price columns, day boundaries) on top of its runs' ~10 ms each.
FAST_MIN_BATCH = 4


@dataclass
class SweepSpec:
    """What to sweep. ``grid`` maps parameter names to value lists; ``random`` draws that many
    distinct sets from the grid's values instead of taking all of them."""

    strategy: str
    grid: dict = field(default_factory=dict)
    constraints: tuple = ()
    fixed: dict = field(default_factory=dict)
    random: int | None = None
    seed: int = 0
    symbols: tuple = ("SYNTH",)
    timeframe: str = "1m"
    start: str | None = None
    end: str | None = None
    balance: float = 100_000.0
    fill_model: str = "next_open"
    calendar: str | None = "XNYS"
    commission_rate: float = 0.0
    slippage_rate: float = 0.0
    engine: str = "event"
    metric: str = "sharpe"

    def configs(self) -> list[RunConfig]:
        if self.random:
            params = random_space(self.grid, self.random, seed=self.seed, constraints=self.constraints, fixed=self.fixed)
        else:
            params = grid_space(self.grid, self.constraints, self.fixed)
        base = RunConfig(strategy=self.strategy, symbols=tuple(self.symbols), timeframe=self.timeframe,
                         start=self.start, end=self.end, balance=self.balance, fill_model=self.fill_model,
                         calendar=self.calendar, commission_rate=self.commission_rate,
                         slippage_rate=self.slippage_rate, engine=self.engine)
        return [replace(base, params=tuple(sorted(p.items()))) for p in params]


@dataclass
class SweepOutcome:
    records: list[dict]
    out_dir: Path
    ran: int
    skipped: int
    failed: int
    interrupted: bool
    elapsed_s: float
    reports: dict

    def best(self, metric: str) -> dict | None:
        top = ranked(self.records, metric)
        return top[0] if top else None


class ResultsFile:
    """``results.parquet``: read on start (resume), rewritten atomically as records arrive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: list[dict] = []
        if self.path.exists():
            self.records = pq.read_table(self.path).to_pylist()

    def done_ids(self) -> set[str]:
        return {r["config_id"] for r in self.records if r.get("status") == "ok"}

    def add(self, records: list[dict]) -> None:
        ids = {r["config_id"] for r in records}
        self.records = [r for r in self.records if r["config_id"] not in ids] + records

    def flush(self) -> None:
        if not self.records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        pq.write_table(pa.Table.from_pylist(self.records), tmp)
        os.replace(tmp, self.path)


def run_sweep(spec: SweepSpec, out_dir, *, data_dir=None, tables: dict | None = None, address: str | None = None,
              workers: int | None = None, batch_size: int | None = None, resume: bool = True,
              show_progress: bool = True, report_top: int = 5, console=None,
              pool: SweepPool | None = None) -> SweepOutcome:
    """Run every config of ``spec`` on a pool of actors; write results and reports to ``out_dir``.

    Data comes from the catalog at ``data_dir`` (loaded once by the data-store actor) or from
    ``tables`` ``{(symbol, timeframe): pyarrow.Table}`` handed to it. Ctrl-C stops cleanly: the
    finished runs are kept and the next run resumes after them. Without ``pool`` the sweep starts
    its own actors (``workers``, default one per CPU) and ends them; with a :class:`SweepPool` it
    runs on (at most ``workers`` of) the pool's actors and leaves them running for the next sweep.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    results = ResultsFile(out_dir / "results.parquet")
    configs = spec.configs()
    if not configs:
        raise ValueError("the sweep has no parameter sets: check the grid and the constraints")
    done = results.done_ids() if resume else set()
    todo = [c for c in configs if c.config_id not in done]
    skipped = len(configs) - len(todo)

    ray = init_ray(address)
    own_pool = pool is None
    available = pool.workers if pool else (workers or cluster_cpus())
    n_workers = max(1, min(workers or available, available, len(todo) or 1))
    queues = WorkQueues(todo, n_workers, batch_size=batch_size,
                        smallest=FAST_MIN_BATCH if spec.engine == "fast" else 1)
    # A pool of our own starts (imports, compiled kernels) while the tables go into the object store.
    if own_pool and todo:
        pool = SweepPool(n_workers, address=address, engines=spec.engine)
    hosts = pool.hosts[:n_workers] if todo else []
    stores: list = []

    def end_actors(busy=()):
        """Our own actors end; a given pool's actors stay, minus the tables of this sweep (an
        actor still running a batch of it is replaced: its work is no longer wanted)."""
        for actor in stores:
            ray.kill(actor)
        if own_pool:
            if pool:
                pool.close()
            return
        for i in sorted(set(busy)):
            pool.replace(i)
        pool.release()

    try:
        table_refs = _load_tables(ray, tables, [(s, spec.timeframe) for s in spec.symbols], data_dir, spec.calendar,
                                  stores)
    except BaseException:
        end_actors()
        raise
    in_flight: dict = {}  # ref -> (host index, batch, tries)
    interrupted = False
    ran = 0
    best_text = ""

    def submit(i):
        work = queues.take(i)
        if work:
            batch, tries = work
            in_flight[hosts[i].run_batch.remote(table_refs, batch)] = (i, batch, tries)

    progress = _progress(console, show_progress)
    try:
        with progress:
            task = progress.add_task("sweep", total=len(todo), best="")
            for i in range(n_workers):
                submit(i)
            last_flush = None  # the first records are written as soon as they arrive, then every 2 s
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                ref = ready[0]
                i, batch, tries = in_flight.pop(ref)
                try:
                    records = ray.get(ref)
                except ray.exceptions.RayActorError:  # the worker died: replace it, retry its batch
                    hosts[i] = pool.replace(i)
                    if tries < MAX_BATCH_RETRIES:
                        queues.retry(i, batch, tries + 1)
                    else:
                        records = [_failed(c, "worker died running this batch, retried "
                                              f"{MAX_BATCH_RETRIES} times") for c in batch]
                        results.add(records)
                    submit(i)
                    continue
                results.add(records)
                ran += len(records)
                best = ranked(results.records, spec.metric)
                if best:
                    best_text = f"best {spec.metric} {best[0].get(spec.metric, math.nan):.3f}: {params_text(best[0])}"
                progress.update(task, advance=len(records), best=best_text)
                submit(i)
                if last_flush is None or time.monotonic() - last_flush > 2.0:
                    results.flush()
                    last_flush = time.monotonic()
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]interrupted: keeping the finished runs; run the sweep again to resume[/]")
    finally:
        results.flush()
        end_actors(busy=[i for i, _, _ in in_flight.values()])

    ids = {c.config_id for c in configs}  # once: an id is a hash of the whole config
    records = [r for r in results.records if r["config_id"] in ids]
    failed = sum(r["status"] != "ok" for r in records)
    reports = {}
    if not interrupted and records:
        try:
            curves = _top_curves(records, configs, spec, data_dir, tables, report_top)
            reports = write_report(out_dir, records, spec.metric, curves,
                                   list(spec.grid) if len(spec.grid) == 2 else [], f"{spec.strategy} sweep")
        except KeyboardInterrupt:  # the results are all saved: only the report is missing
            interrupted = True
            console.print("[yellow]interrupted while writing the report; the results are saved: run the sweep "
                          "again to write it[/]")
    return SweepOutcome(records, out_dir, ran, skipped, failed, interrupted, time.perf_counter() - started, reports)


def _load_tables(ray, tables: dict | None, keys: list, data_dir, calendar, stores: list) -> dict:
    """``{key: [ref]}`` of the tables the sweep reads. Tables handed in are put into the object
    store by the driver (one copy; the driver holds them for the sweep); the others are loaded
    from the catalog by a data-store actor, appended to ``stores`` (the caller ends it)."""
    given = {(symbol.upper(), timeframe): table for (symbol, timeframe), table in (tables or {}).items()}
    refs = {key: [ray.put(given[key])] for key in keys if key in given}
    missing = [k for k in keys if k not in refs]
    if missing:
        store = ray.remote(num_cpus=0)(DataStore).remote(data_dir, calendar)
        stores.append(store)
        refs.update(ray.get(store.load.remote(missing)))
    return {k: refs[k] for k in keys}


def _failed(config: RunConfig, error: str) -> dict:
    record = {"config_id": config.config_id, "strategy": config.strategy, "status": "failed", "error": error,
              "params": json.dumps(config.param_dict, sort_keys=True)}
    for name, value in config.params:
        record[f"p_{name}"] = value
    return record


def _progress(console, enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[best]}"), console=console,
                    disable=not enabled, transient=False)


def _top_curves(records, configs, spec, data_dir, tables, top):
    """Equity curves of the best runs, recomputed in the driver (runs are deterministic)."""
    from backtestester.sweep import execute_run

    by_id = {c.config_id: c for c in configs}
    best = [r for r in ranked(records, spec.metric)[:top] if r["config_id"] in by_id]
    if not best:
        return []
    data = dict(tables or {})
    if any((s, spec.timeframe) not in data for s in spec.symbols):
        from backtestester.data.catalog import Catalog

        catalog = Catalog(data_dir)
        for s in spec.symbols:
            data.setdefault((s, spec.timeframe), catalog.load(s, spec.timeframe, calendar=spec.calendar))
    data = {(s.upper(), tf): t for (s, tf), t in data.items()}
    curves = []
    for record in best:
        run = execute_run(by_id[record["config_id"]], data, keep_result=True)
        if run["status"] == "ok":
            result = run["_result"]
            curves.append((params_text(record), result.equity_times, result.equity))
    return curves


def print_leaderboard(outcome: SweepOutcome, metric: str, console=None, top: int = 10) -> None:
    from rich.console import Console

    console = console or Console()
    console.print(leaderboard_table(outcome.records, metric, top))
    console.print(f"{outcome.ran} runs in {outcome.elapsed_s:.1f} s ({outcome.skipped} already done, "
                  f"{outcome.failed} failed); results: {outcome.out_dir / 'results.parquet'}")
    if "html" in outcome.reports:
        console.print(f"report: {outcome.reports['html']}")
