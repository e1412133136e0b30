"""The sweep runner: parameter sets -> a pool of sweep workers -> a ranked, resumable results table.

The Ray side of a sweep, in five steps: :func:`run_sweep` starts (or borrows) the workers, puts
the tables the sweep was prepared (and fingerprinted) with into shared memory while they start,
submits batches of whole backtests to the :class:`~actors.sweep_worker.SweepWorker` s and
collects their records (a killed worker's batch is retried on a new actor), has the workers run
and draw the best runs' charts, then writes the report. Everything else (the spec, scheduling,
records, the results file, the report) is pure and lives in :mod:`backtestester.sweep`. Results go to
``<out>/results.parquet`` as they arrive (atomically), so an interrupted sweep keeps what finished
and a re-run skips it.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from backtestester.sweep import SweepSpec
from backtestester.sweep.prepare import PreparedSweep, prepare_sweep
from backtestester.sweep.report import SweepOutcome, best_configs, chart_run, params_text, ranked, write_sweep_report
from backtestester.sweep.results import ResultsFile, failed_record
from backtestester.sweep.scheduling import WorkQueues

from .cluster import cluster_cpus, init_ray
from .pool import SweepPool

MAX_BATCH_RETRIES = 2
# Fewest configs in an automatically sized fast-path batch: a batch costs a few milliseconds of
# its own (checks of the price columns, day boundaries) on top of its runs' ~10 ms each.
FAST_MIN_BATCH = 4


def run_sweep(spec: SweepSpec, out_dir, *, data_dir=None, tables: dict | None = None, address: str | None = None,
              workers: int | None = None, batch_size: int | None = None, resume: bool = True,
              show_progress: bool = True, report_top: int = 5, console=None, pool: SweepPool | None = None,
              prepared: PreparedSweep | None = None) -> SweepOutcome:
    """Run every config of ``spec`` on a pool of actors; write results and reports to ``out_dir``.

    The sweep is checked whole first (:func:`~backtestester.sweep.prepare.prepare_sweep`; a bad
    spec is a ``ValueError`` before any actor starts). Data comes from the catalog at
    ``data_dir`` or from ``tables`` ``{(symbol, timeframe): pyarrow.Table}`` handed to it, read
    once by the driver (the tables fingerprinted are the tables run) and put into shared memory
    while the actors start. Runs already in ``out_dir`` with the
    same strategy code and data are reused (``resume``); runs of other code or data are kept
    apart in ``out_dir/earlier/``. A sweep whose runs are all done starts no actor (nor Ray): it
    answers from the results file. Ctrl-C stops cleanly: the finished runs are kept and the next
    run resumes after them. Without ``pool`` the sweep starts its own actors (``workers``,
    default one per CPU) and ends them; with a :class:`SweepPool` it runs on (at most
    ``workers`` of) the pool's actors and leaves them running for the next sweep. ``prepared``
    is ``prepare_sweep(spec, ...)`` for a caller that has it already.
    """
    console = console or Console(stderr=True)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    prepared = prepared or prepare_sweep(spec, data_dir=data_dir, tables=tables)
    spec, configs = prepared.spec, prepared.configs
    results = ResultsFile(out_dir / "results.parquet")
    moved = results.keep_apart(*prepared.fingerprints)
    if moved:
        console.print(f"{moved} runs of other strategy code or data kept apart in {results.earlier_dir} "
                      f"(not shown); this sweep's runs start afresh")
    results.check_types(configs)
    todo = results.todo(configs, resume)
    if len(todo) < len(configs):
        console.print(f"{len(configs) - len(todo)} of {len(configs)} runs already done in {out_dir} with this strategy "
                      f"code and data: reused (--no-resume runs them again)")
    interrupted, ran, charted = False, 0, None
    if todo:  # else the answer comes from the results file: no actor, no Ray (the driver draws the report)
        sweep = _Sweep(spec, todo, results, address=address, workers=workers, batch_size=batch_size, pool=pool)
        sweep.load(prepared.tables)
        try:
            interrupted, ran = sweep.collect(console, show_progress), sweep.ran
            if not interrupted and report_top:
                best = best_configs(results.of(configs), configs, spec.metric, report_top)
                charted, interrupted = sweep.chart(best, prepared.tables, console, show_progress)
        finally:
            sweep.end()
    records = results.of(configs)
    failed = sum(r["status"] != "ok" for r in records)
    reports = {}
    if not interrupted and records:
        reports, interrupted = _report(out_dir, records, configs, spec, data_dir, prepared.tables, report_top,
                                       console, charted)
    return SweepOutcome(records, out_dir, ran, len(configs) - len(todo), failed, interrupted,
                        time.perf_counter() - started, reports)


class _Sweep:
    """The driver's side of one sweep: its workers and data-store actors, the batches in flight."""

    def __init__(self, spec: SweepSpec, todo: list, results: ResultsFile, *, address, workers, batch_size, pool):
        self.ray = init_ray(address)
        self.spec = spec
        self.todo = todo
        self.results = results
        self.own_pool = pool is None
        available = pool.workers if pool else (workers or cluster_cpus())
        self.n_workers = max(1, min(workers or available, available, len(todo) or 1))
        self.queues = WorkQueues(todo, self.n_workers, batch_size=batch_size,
                                 smallest=FAST_MIN_BATCH if spec.engine == "fast" else 1)
        # A pool of our own starts (imports, compiled kernels) while the tables go into the object store.
        if self.own_pool and todo:
            pool = SweepPool(self.n_workers, address=address, engines=spec.engine)
        self.pool = pool
        self.workers = pool.hosts[:self.n_workers] if todo else []
        self.table_refs: dict = {}
        self.in_flight: dict = {}  # ref -> (worker index, batch or a chart's rank, tries)
        self.ran = 0
        self.best_text = ""

    def load(self, tables: dict) -> None:
        """``{key: [ref]}`` of the tables the sweep reads: the prepared ones (read once by the driver,
        from the catalog or handed in, and fingerprinted), put into the object store by the driver
        (one copy, held for the sweep). No data-store actor re-reads the catalog: on 2 cores it
        was a third process starting beside the workers, and a second read that could see other
        data than the fingerprinted one."""
        try:
            self.table_refs = {key: [self.ray.put(tables[key])]
                               for key in ((symbol.upper(), self.spec.timeframe) for symbol in self.spec.symbols)}
        except BaseException:
            self.end()
            raise

    def submit(self, i: int) -> None:
        """Worker ``i``'s next batch (its own, else stolen), if any is left."""
        work = self.queues.take(i)
        if work:
            batch, tries = work
            self.in_flight[self.workers[i].run_batch.remote(self.table_refs, batch)] = (i, batch, tries)

    def collect(self, console, show_progress: bool) -> bool:
        """Keep every worker busy until all batches are done, recording as they return; True if
        Ctrl-C stopped the sweep (the finished runs are kept)."""
        progress = _progress(console, show_progress, "sweep")
        try:
            with progress:
                task = progress.add_task("sweep", total=len(self.todo), best="")
                for i in range(self.n_workers):
                    self.submit(i)
                last_flush = None  # the first records are written as soon as they arrive, then every 2 s
                while self.in_flight:
                    i, records = self.receive()
                    if records is not None:
                        progress.update(task, advance=len(records), best=self.best())
                    self.submit(i)
                    if records is not None and (last_flush is None or time.monotonic() - last_flush > 2.0):
                        self.results.flush()
                        last_flush = time.monotonic()
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: keeping the finished runs; run the sweep again to resume[/]")
            return True
        finally:
            self.results.flush()
        return False

    def chart(self, best: list, tables: dict, console, show_progress: bool) -> tuple[list, bool]:
        """The ``best`` configs run again and drawn for the report on the actors, each as soon as
        one is free (a chart is a whole event-engine run: the driver alone drew them one after
        the other); ``(charted runs best first, interrupted)``. An actor that dies is replaced and
        its chart drawn by the driver, which also shows the error of a chart that fails."""
        charted, todo = [None] * len(best), list(enumerate(best))
        progress = _progress(console, show_progress and bool(best), "charts")
        try:
            with progress:
                task = progress.add_task("charts", total=len(best), best="")
                for i in range(self.n_workers):
                    self.submit_chart(i, todo)
                while self.in_flight:
                    ready, _ = self.ray.wait(list(self.in_flight), num_returns=1)
                    i, k, _ = self.in_flight.pop(ready[0])
                    try:
                        charted[k] = self.ray.get(ready[0])
                    except self.ray.exceptions.RayError as exc:
                        if isinstance(exc, self.ray.exceptions.RayActorError):
                            self.workers[i] = self.pool.replace(i)
                        charted[k] = chart_run(best[k], tables)
                    progress.update(task, advance=1)
                    self.submit_chart(i, todo)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted while drawing the best runs; the results are saved: run the sweep "
                          "again to write the report[/]")
            return [], True
        return [run for run in charted if run is not None], False

    def submit_chart(self, i: int, todo: list) -> None:
        """Worker ``i`` draws the next of ``todo`` (``(rank, config)`` pairs), if any is left."""
        if todo:
            k, config = todo.pop(0)
            self.in_flight[self.workers[i].chart_run.remote(self.table_refs, config)] = (i, k, 0)

    def receive(self) -> tuple[int, list | None]:
        """The next batch to return: ``(worker, records)``, the records added to the results; or
        ``(worker, None)`` if the worker died (it is replaced, its batch retried)."""
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=1)
        i, batch, tries = self.in_flight.pop(ready[0])
        try:
            records = self.ray.get(ready[0])
        except self.ray.exceptions.RayActorError:
            self.workers[i] = self.pool.replace(i)
            if tries < MAX_BATCH_RETRIES:
                self.queues.retry(i, batch, tries + 1)
            else:
                self.results.add([failed_record(c, "worker died running this batch, retried "
                                                   f"{MAX_BATCH_RETRIES} times") for c in batch])
            return i, None
        self.results.add(records)
        self.ran += len(records)
        return i, records

    def best(self) -> str:
        """The progress line's best run so far (the last one known if none has succeeded since)."""
        top = ranked(self.results.records, self.spec.metric)
        if top:
            self.best_text = f"best {self.spec.metric} {top[0].get(self.spec.metric, math.nan):.3f}: {params_text(top[0])}"
        return self.best_text

    def end(self) -> None:
        """Our own actors end; a given pool's actors stay, minus the tables of this sweep (an
        actor still running a batch or chart of it is replaced: its work is no longer wanted)."""
        if self.own_pool:
            if self.pool:
                self.pool.close()
            return
        for i in sorted({i for i, _, _ in self.in_flight.values()}):
            self.pool.replace(i)
        self.in_flight.clear()
        self.pool.release()


def _report(out_dir, records, configs, spec, data_dir, tables, top, console, charted) -> tuple[dict, bool]:
    """The report's files, and whether Ctrl-C stopped writing them."""
    try:
        return write_sweep_report(out_dir, records, configs, spec, data_dir, tables, top, charted), False
    except KeyboardInterrupt:  # the results are all saved: only the report is missing
        console.print("[yellow]interrupted while writing the report; the results are saved: run the sweep "
                      "again to write it[/]")
        return {}, True


def _progress(console, enabled: bool, label: str) -> Progress:
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[best]}"), console=console,
                    disable=not enabled, transient=False)
