"""The fingerprint of a table of bars: what tells a sweep run (:mod:`backtestester.sweep.identity`)
and a saved gateway playground (:mod:`backtestester.service.datacheck`) that their data changed.

It covers the table's column names and types, its row count, and a SHA-256 of every column's
values at up to :data:`SAMPLED_ROWS` evenly spaced rows (the first and the last included). It is
cheap at any size; a change to a bar between the sampled rows that leaves the count and the ends
alone is not seen.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

SAMPLED_ROWS = 4096
FINGERPRINT_DIGITS = 16


def table_fingerprint(table: pa.Table) -> str:
    """The fingerprint of a table of bars (see the module's docstring for what it covers)."""
    digest = hashlib.sha256(str(table.schema.remove_metadata()).encode())
    n = table.num_rows
    rows = np.unique(np.linspace(0, n - 1, num=min(n, SAMPLED_ROWS)).astype(np.int64)) if n else np.array([], np.int64)
    digest.update(f"{n}".encode())
    for name in table.column_names:  # the sampled rows include the first and the last
        values = table.column(name).take(pa.array(rows)).to_numpy()
        digest.update(name.encode() + b"\0")
        digest.update(values.tobytes() if values.dtype.kind in "biufmM" else repr(values.tolist()).encode())
    return digest.hexdigest()[:FINGERPRINT_DIGITS]
