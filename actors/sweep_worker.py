"""The sweep-worker actor: runs whole backtests, many configs per call."""
from __future__ import annotations

import os
import time


class SweepWorker:
    """Plain class (``ray.remote(SweepWorker)`` where it is spawned). Tables arrive as object
    references and are read in place (zero-copy views of the shared buffers); repositories built
    on them are cached for the next configs of the same data."""

    def __init__(self):
        self._tables: dict = {}
        self._table_ids: dict = {}  # key -> id of the object the table came from
        self._repositories: dict = {}
        self._judge: tuple = (None, None)  # (id of the pruning object, the judge built from it)

    def prepare(self, engines=("event",)) -> float:
        """Import the engine (and with ``"fast"`` among ``engines`` load the compiled kernels:
        ``fastpath.warmup``) before any work arrives; returns the seconds it took. The sweep runner
        calls it as soon as the actor exists, so this overlaps with loading the data; ``run_batch``
        works without it."""
        started = time.perf_counter()
        import backtestester.sweep  # noqa: F401, PLC0415 - the engine, strategies and statistics, timed

        if "fast" in ((engines,) if isinstance(engines, str) else engines):
            from backtestester.fastpath import warmup  # noqa: PLC0415  (numba only for the fast path)

            warmup()
        return time.perf_counter() - started

    def run_batch(self, table_refs: dict, configs: list) -> list[dict]:
        """Records of ``configs`` in order (:func:`~backtestester.sweep.execute_batch`: fast-path
        configs that differ only in their parameters run as one compiled batch)."""
        import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

        from backtestester.sweep import execute_batch  # noqa: PLC0415  (the worker imports the engine in prepare, timed)

        self._resolve(table_refs)
        node = ray.get_runtime_context().get_node_id()
        records = execute_batch(configs, self._tables, cache=self._repositories)
        for record in records:
            record["node"] = node
        return records

    def chart_run(self, table_refs: dict, config):
        """:func:`~backtestester.sweep.report.chart_run` of ``config`` on the tables read in place:
        one of the best runs, run again and drawn for the report while the driver waits."""
        from backtestester.sweep.report import chart_run  # noqa: PLC0415  (the worker imports the engine in prepare, timed)

        self._resolve(table_refs)
        return chart_run(config, self._tables)

    def run_trials(self, table_refs: dict, specs: list, pruning_ref=None) -> list:
        """Outcomes of training trials (:class:`~backtestester.training.evaluate.TrialSpec` s) in
        order, each evaluated fold by fold on the tables read in place. ``pruning_ref`` is
        ``[reference]`` to ``(pruner, directions, complete trials)``, one object per batch: the
        pruner stops a trial between folds, judging against the trials complete when its batch was
        asked (the driver's snapshot, so any actor decides alike). The judge built from it is kept
        for the batch's next trials on this actor."""
        from backtestester.training.evaluate import evaluate_trial  # noqa: PLC0415  (optuna: only in training)
        from backtestester.training.search import fold_pruner  # noqa: PLC0415

        self._resolve(table_refs)
        judge = self._pruning_judge(pruning_ref) if pruning_ref else None
        outcomes = []
        for spec in specs:
            report = fold_pruner(judge, spec.number)
            outcomes.append(evaluate_trial(spec, self._tables, report=report, cache=self._repositories))
        return outcomes

    def _pruning_judge(self, pruning_ref: list):
        """:func:`~backtestester.training.search.pruning_judge` of the object ``pruning_ref``
        names, built once per object (a batch's snapshot grows with the study)."""
        import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

        from backtestester.training.search import pruning_judge  # noqa: PLC0415

        (ref,) = pruning_ref
        if self._judge[0] != ref.hex():
            self._judge = (ref.hex(), pruning_judge(*ray.get(ref)))
        return self._judge[1]

    def release(self) -> None:
        """Drop the tables and everything built on them (repositories, memoised indicators), so
        an actor kept between sweeps pins no object of a finished sweep in the object store."""
        self._tables.clear()
        self._table_ids.clear()
        self._repositories.clear()
        self._judge = (None, None)

    def _resolve(self, table_refs: dict) -> None:
        """Read the tables in place; a key whose object changed (a later sweep of a kept actor)
        drops every repository and indicator built so far: they may rest on the old table."""
        import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

        for key, (ref,) in table_refs.items():
            if self._table_ids.get(key) != ref.hex():
                if key in self._tables:
                    self._repositories.clear()
                self._tables[key] = ray.get(ref)
                self._table_ids[key] = ref.hex()

    def load(self, table_refs: dict) -> int:
        """Resolve tables and build their repositories without running anything; returns rows."""
        from backtestester.data.schema import TIMEFRAMES  # noqa: PLC0415  (the worker imports the engine in prepare, timed)
        from backtestester.engine import Repository  # noqa: PLC0415

        self._resolve(table_refs)
        rows = 0
        for key in table_refs:
            table = self._tables[key]
            self._repositories[key] = Repository.from_table(key[0], TIMEFRAMES[key[1]], table)
            rows += len(table)
        return rows

    def private_memory(self) -> int:
        """Unique set size (bytes) of this worker process: memory no other process shares."""
        import psutil  # noqa: PLC0415  (Ray's own copy: importable in its worker processes)

        return psutil.Process().memory_full_info().uss

    def pid(self) -> int:
        return os.getpid()
