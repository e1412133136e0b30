"""Fixtures of the sweep tests: generated bars in memory and in a data catalog; a strategy whose
runs can be held (for the tests that interrupt or kill a running sweep)."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars


@pytest.fixture(scope="module")
def tables():
    """``{(symbol, timeframe): table}`` of 20,000 generated one-minute bars, as sweeps take them."""
    return {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=5)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data catalog holding 30,000 generated one-minute bars of SYNTH."""
    path = tmp_path_factory.mktemp("catalog")
    Catalog(path).write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=30_000, seed=2))
    return path


# A strategy in the user's directory (imported from the current directory, no PYTHONPATH) whose
# runs block, after the first run of their worker process, on opening the FIFO `gate` for reading
# (no writer ever comes: the interrupted sweep kills the worker); the blocked run first reports
# through the FIFO `ready` (a rendezvous: opening it for writing blocks until the test reads it).
# So a test can interrupt or kill a sweep that has finished exactly one run and cannot finish first.
GATED_STRATEGY = """
import os
from backtestester import Strategy

GATE, READY = {gate!r}, {ready!r}
_runs = []


class Gated(Strategy):
    n: int = 0

    def on_start(self, ctx):
        _runs.append(self.n)
        if len(_runs) > 1 and os.path.exists(GATE):
            with open(READY, "w") as ready:
                ready.write(f"run n={{self.n}} is waiting")
            with open(GATE) as gate:
                gate.read()
"""


def read_fifo(path: Path, proc: subprocess.Popen, timeout: float) -> str:
    """What a writer of the FIFO ``path`` wrote, once one opened and closed it; fails if ``proc``
    ends first or nothing comes within ``timeout`` s (a bound on a stuck run, not a synchronisation)."""
    got = []
    reader = threading.Thread(target=lambda: got.append(path.read_text()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive():
        reader.join(0.5)
        if reader.is_alive() and (proc.poll() is not None or time.monotonic() > deadline):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # release the reader
            reader.join()
            raise AssertionError(f"no run reached the gate: {proc.poll()=}, {got}")
    return got[0]
