"""A `backtestester sweep` killed with SIGKILL in the middle of its runs leaves no Ray process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import alive, descendants, kill_all, wait_gone

from .conftest import GATED_STRATEGY, read_fifo


def test_a_killed_sweep_leaves_no_ray_process(data_dir, tmp_path):
    """The sweep is held inside its second run (the gated strategy of conftest.py), so it is
    surely still running; SIGKILL of the `sweep` process alone (not its group) must take its GCS
    server, raylet, agents and workers with it (they used to outlive it by 60-90 s)."""
    gate, ready = tmp_path / "gate", tmp_path / "ready"
    os.mkfifo(gate)
    os.mkfifo(ready)
    (tmp_path / "gated.py").write_text(GATED_STRATEGY.format(gate=str(gate), ready=str(ready)))
    argv = [str(Path(sys.executable).parent / "backtestester"), "sweep", "--strategy", "gated:Gated",
            "--data-dir", str(data_dir), "--grid", "n=0:9:1", "--workers", "1", "--batch-size", "1",
            "--out", str(tmp_path / "out"), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = []
    try:
        assert "is waiting" in read_fifo(ready, proc, timeout=300)
        started = descendants(proc.pid)
        assert {"raylet", "gcs_server"} <= {p.name() for p in started}, started
        proc.kill()
        proc.wait()
        assert wait_gone(started) == [], alive(started)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(started)
