"""Best-of-N timing for the benchmarks that print CPU seconds beside wall seconds."""
from __future__ import annotations

import gc
import time


def timed(fn, repeat):
    """(best wall seconds, that run's CPU seconds of this process, its result) of ``repeat`` calls of ``fn``."""
    best, out = (float("inf"), 0.0), None
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best[0], best[1], out
