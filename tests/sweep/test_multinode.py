"""The same sweep runs on a two-node Ray cluster (Ray's multi-node test cluster on this machine)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def test_sweep_spreads_over_two_nodes(tmp_path):
    script = Path(__file__).with_name("multinode_sweep.py")
    # Its own session: if it hangs, killing that process group ends the nodes it started too.
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["cluster_nodes"] == 2
    assert report["ran"] == 8 and report["failed"] == 0
    assert len(report["nodes"]) == 2  # both nodes ran backtests
    assert report["line"].startswith("ran on 2 nodes: ")  # and the sweep's nodes line says so
    assert all(f"{node[:8]}... " in report["line"] for node in report["nodes"])
