"""Tables put once in Ray's object store are read in place by every playground actor."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from actors.data_store import DataStore
from actors.sweep_worker import SweepWorker

MIB = 2**20


def big_table(rows: int) -> pa.Table:
    start = np.arange(rows, dtype=np.int64) * 60_000_000_000 + 1_577_836_800_000_000_000
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, rows))
    return pa.table({"start": pa.array(start, pa.timestamp("ns", tz="UTC")), "open": close, "high": close + 0.05,
                     "low": close - 0.05, "close": close, "volume": np.ones(rows)})


def test_actors_private_memory_does_not_grow_with_the_table(ray_cluster):
    ray = ray_cluster
    table = big_table(6_000_000)
    size = table.nbytes
    assert size > 250 * MIB
    store = ray.remote(num_cpus=0)(DataStore).remote()
    refs = ray.get(store.put.remote("BIG", "1m", table))
    del table
    hosts = [ray.remote(num_cpus=1)(SweepWorker).remote() for _ in range(2)]
    try:
        before = ray.get([h.private_memory.remote() for h in hosts])
        rows = ray.get([h.load.remote({("BIG", "1m"): refs}) for h in hosts])
        after = ray.get([h.private_memory.remote() for h in hosts])
        assert rows == [6_000_000, 6_000_000]
        growth = [a - b for a, b in zip(after, before)]
        # Imports and bookkeeping cost a fixed few tens of MiB; a copy would cost the table's 275 MiB.
        assert all(g < 100 * MIB for g in growth), [g / MIB for g in growth]
    finally:
        for actor in (*hosts, store):
            ray.kill(actor)
