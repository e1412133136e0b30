"""A sweep's results: one flat record per run (built here, whoever runs it) and the resumable
``results.parquet`` they go to."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .config import RunConfig


def run_record(config: RunConfig) -> dict:
    """The record of a run about to start in this process, before its metrics: the config's id,
    strategy and parameters (as JSON and as one ``p_<name>`` column each), status ``ok``, worker."""
    return _record(config, "ok", "", worker=f"{socket.gethostname()}:{os.getpid()}")


def failed_record(config: RunConfig, error: str) -> dict:
    """The record of a run that never finished (its worker died, retries ran out): no metrics."""
    return _record(config, "failed", error)


def _record(config: RunConfig, status: str, error: str, worker: str | None = None) -> dict:
    record = {"config_id": config.config_id, "strategy": config.strategy,
              "params": json.dumps(config.param_dict, sort_keys=True), "status": status, "error": error}
    if worker is not None:
        record["worker"] = worker
    for name, value in config.params:
        record[f"p_{name}"] = value
    return record


class ResultsFile:
    """``results.parquet``: read on start (resume), rewritten atomically as records arrive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: list[dict] = []
        if self.path.exists():
            self.records = pq.read_table(self.path).to_pylist()

    def done_ids(self) -> set[str]:
        return {r["config_id"] for r in self.records if r.get("status") == "ok"}

    def todo(self, configs: list[RunConfig], resume: bool = True) -> list[RunConfig]:
        """The configs still to run: all of them, or with ``resume`` those with no ``ok`` record."""
        if not configs:
            raise ValueError("the sweep has no parameter sets: check the grid and the constraints")
        done = self.done_ids() if resume else set()
        return [c for c in configs if c.config_id not in done]

    def of(self, configs: list[RunConfig]) -> list[dict]:
        """The records of ``configs`` (a file may hold runs of earlier, larger sweeps)."""
        ids = {c.config_id for c in configs}  # once: an id is a hash of the whole config
        return [r for r in self.records if r["config_id"] in ids]

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
