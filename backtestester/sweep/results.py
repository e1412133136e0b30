"""A sweep's results: one flat record per run (built here, whoever runs it) and the resumable
``results.parquet`` they go to. The file holds the runs of one strategy code and one data
(their fingerprints, :mod:`~backtestester.sweep.identity`); runs of other code or data are kept
apart in ``earlier/`` next to it, and come back if that code and data are swept again."""
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
              "params": json.dumps(config.param_dict, sort_keys=True), "status": status, "error": error,
              "strategy_fingerprint": config.strategy_fingerprint, "data_fingerprint": config.data_fingerprint}
    if worker is not None:
        record["worker"] = worker
    for name, value in config.params:
        record[f"p_{name}"] = value
    return record


EARLIER_DIR = "earlier"


def _identity(record: dict) -> tuple[str, str]:
    return record.get("strategy_fingerprint") or "", record.get("data_fingerprint") or ""


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        return pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"cannot read the results file {path}: {exc}; move it away or choose another --out") from None


def _write(path: Path, records: list[dict]) -> None:
    """``records`` (columns: every key any record has) to ``path``, atomically."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    table = pa.table({key: [record.get(key) for record in records] for key in columns})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _kind(value) -> str | None:
    """A parameter value's kind as the results file stores it (int and float both are numbers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


class ResultsFile:
    """``results.parquet``: read on start (resume), rewritten atomically as records arrive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: list[dict] = _read(self.path)

    def earlier_path(self, identity: tuple[str, str]) -> Path:
        """Where the runs of another strategy code and data (``identity``: the two fingerprints) are kept."""
        strategy, data = (part or "unknown" for part in identity)
        return self.earlier_dir / f"strategy-{strategy}-data-{data}.parquet"

    @property
    def earlier_dir(self) -> Path:
        """The folder of the runs of other strategy code or data: ``earlier/`` next to the file."""
        return self.path.parent / EARLIER_DIR

    def keep_apart(self, strategy_fingerprint: str, data_fingerprint: str) -> int:
        """Move the records of other fingerprints to :meth:`earlier_path` (added to those kept
        there before) and bring back the kept records of these; the number moved away."""
        current = (strategy_fingerprint, data_fingerprint)
        others: dict = {}
        for record in self.records:
            if _identity(record) != current:
                others.setdefault(_identity(record), []).append(record)
        back = self.earlier_path(current)
        returning = _read(back)
        if not others and not returning:
            return 0
        for identity, records in others.items():
            path = self.earlier_path(identity)
            kept = {r["config_id"]: r for r in _read(path)}
            kept.update({r["config_id"]: r for r in records})
            _write(path, list(kept.values()))
        here = [r for r in self.records if _identity(r) == current]
        ids = {r["config_id"] for r in here}
        self.records = [r for r in returning if r["config_id"] not in ids] + here
        if self.records:
            _write(self.path, self.records)
        elif self.path.exists():
            self.path.unlink()
        if returning:
            back.unlink()
        return sum(len(records) for records in others.values())

    def check_types(self, configs: list[RunConfig]) -> None:
        """Refuse (``ValueError``) a sweep whose parameter values are of another kind than the
        file's records of the same parameter (a number where it holds text, say): they cannot
        share a column."""
        stored: dict = {}
        for record in self.records:
            for name, value in json.loads(record["params"]).items():
                stored.setdefault(name, set()).add(_kind(value))
        for config in configs:
            for name, value in config.params:
                kinds = stored.get(name, set()) - {None}
                if kinds and _kind(value) not in kinds:
                    raise ValueError(
                        f"{self.path} holds parameter {name!r} as {'/'.join(sorted(kinds))}, this sweep gives "
                        f"{_kind(value)} ({value!r}): they cannot share the results file; choose another --out "
                        f"(or move {self.path} away)")

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
        if self.records:
            _write(self.path, self.records)
