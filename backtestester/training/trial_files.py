"""Each evaluated trial's outcome as one Arrow file, ``<study dir>/trials/<number>.arrow``: per
fold, the out-of-sample per-period returns and their times (the diagnostics' inputs: DSR and PBO
need every trial's series, not a scalar), with the trial's parameters, scores, state and error in
the schema's metadata. The driver writes a trial's file (atomically) before it tells the study,
so every finished trial of a resumed study has its file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from .evaluate import TrialOutcome

_META = b"trial"


def trial_path(directory, number: int) -> Path:
    return Path(directory) / "trials" / f"{number:06d}.arrow"


def save_outcome(directory, outcome: TrialOutcome) -> Path:
    """Write ``outcome`` to its file; returns the path."""
    folds, times, returns = [], [], []
    for k, (t, r) in enumerate(zip(outcome.oos_times, outcome.oos_returns)):
        folds.append(np.full(len(r), k, dtype=np.int32))
        times.append(np.asarray(t, dtype=np.int64))
        returns.append(np.asarray(r, dtype=np.float64))

    def cat(parts, dtype):
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    meta = {"number": outcome.number, "params": outcome.params, "is_scores": outcome.is_scores,
            "oos_scores": outcome.oos_scores, "error": outcome.error, "pruned": outcome.pruned,
            "artefacts": outcome.artefacts}
    table = pa.table({"fold": cat(folds, np.int32), "time": cat(times, np.int64), "ret": cat(returns, np.float64)})
    table = table.replace_schema_metadata({_META: json.dumps(meta, default=float).encode()})
    path = trial_path(directory, outcome.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with ipc.new_file(tmp, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)
    return path


def load_outcome(directory, number: int) -> TrialOutcome:
    """The outcome saved for trial ``number``."""
    with ipc.open_file(trial_path(directory, number)) as reader:
        table = reader.read_all()
    meta = json.loads(table.schema.metadata[_META])
    fold = table.column("fold").to_numpy()
    times, returns = table.column("time").to_numpy(), table.column("ret").to_numpy()
    n_folds = len(meta["oos_scores"])
    outcome = TrialOutcome(number=meta["number"], params=meta["params"], is_scores=meta["is_scores"],
                           oos_scores=meta["oos_scores"],
                           oos_returns=[returns[fold == k].copy() for k in range(n_folds)],
                           oos_times=[times[fold == k].copy() for k in range(n_folds)], error=meta["error"],
                           pruned=meta["pruned"], artefacts=meta["artefacts"])
    return outcome
