"""The playground-host actor: runs whole backtests, many configs per call."""
from __future__ import annotations

import os


class PlaygroundHost:
    """Plain class (``ray.remote(PlaygroundHost)`` where it is spawned). Tables arrive as object
    references and are read in place (zero-copy views of the shared buffers); repositories built
    on them are cached for the next configs of the same data."""

    def __init__(self):
        self._tables: dict = {}
        self._repositories: dict = {}

    def prepare(self, engine: str = "event") -> float:
        """Import the engine (and for ``"fast"`` load the compiled kernels: ``fastpath.warmup``)
        before any work arrives; returns the seconds it took. The sweep runner calls it as soon as
        the actor exists, so this overlaps with loading the data; ``run_batch`` works without it."""
        import time

        started = time.perf_counter()
        import backtestester.sweep  # noqa: F401 - the engine, strategies and statistics

        if engine == "fast":
            from backtestester.fastpath import warmup

            warmup()
        return time.perf_counter() - started

    def run_batch(self, table_refs: dict, configs: list) -> list[dict]:
        """Records of ``configs`` in order (:func:`~backtestester.sweep.execute_batch`: fast-path
        configs that differ only in their parameters run as one compiled batch)."""
        import ray

        from backtestester.sweep import execute_batch

        for key, (ref,) in table_refs.items():
            if key not in self._tables:
                self._tables[key] = ray.get(ref)
                self._repositories.pop(key, None)
        node = ray.get_runtime_context().get_node_id()
        records = execute_batch(configs, self._tables, cache=self._repositories)
        for record in records:
            record["node"] = node
        return records

    def load(self, table_refs: dict) -> int:
        """Resolve tables and build their repositories without running anything; returns rows."""
        import ray

        from backtestester.data.synthetic import TIMEFRAMES
        from backtestester.engine import Repository

        rows = 0
        for key, (ref,) in table_refs.items():
            table = self._tables.setdefault(key, ray.get(ref))
            self._repositories[key] = Repository.from_table(key[0], TIMEFRAMES[key[1]], table)
            rows += len(table)
        return rows

    def private_memory(self) -> int:
        """Unique set size (bytes) of this worker process: memory no other process shares."""
        import psutil

        return psutil.Process().memory_full_info().uss

    def pid(self) -> int:
        return os.getpid()

    def column_addresses(self, key) -> list[int]:
        """Buffer addresses of a loaded table's columns (tests check they are shared, not copied)."""
        table = self._tables[key]
        return [table.column(name).chunk(0).buffers()[1].address for name in table.column_names]
