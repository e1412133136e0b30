"""``backtestester live`` as an operator runs it: a subprocess against a real live gateway. SIGTERM
stops it cleanly (exit code 0, the strategy's result printed); a restart with the same
``--client-id`` picks up the same live playground instead of creating another."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from backtestester.rpc import playground_pb2 as pb
from tests.gateway.livekit import data_dir, live_config, live_gateways, until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATEGY = "backtestester.strategy.reference:SmaCross"


def _live(address, *extra):
    cmd = [sys.executable, "-m", "actors.cli", "live", "--strategy", STRATEGY, "--gateway", address, "--broker", "sim",
           "--symbols", "AAA", "--timeframe", "1m", "--client-id", "cli-1", "--param", "fast=2", "--param", "slow=5",
           "--poll-seconds", "0.05", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _ticked(stub, pid):
    return stub.GetAccountStats(pb.GetAccountStatsRequest(playground_id=pid, equity_plot=True), timeout=30).equity_plot


def test_live_cli_sigterm_exits_0_and_a_restart_picks_the_same_playground(ray_cluster, tmp_path):
    with live_gateways(ray_cluster) as gws:
        _, stub, address = gws.start(data_dir(tmp_path), live_config())

        def mine():
            return [s.playground_id for s in stub.GetPlaygrounds(pb.GetPlaygroundsRequest(), timeout=30).playgrounds
                    if s.meta.client_id == "cli-1"]
        first = _live(address)
        try:
            [pid] = until(mine, "the live playground of --client-id cli-1", timeout=60)
            until(lambda: _ticked(stub, pid), "the runner's first ticks", timeout=60)
            os.kill(first.pid, signal.SIGTERM)
            out, err = first.communicate(timeout=60)
        finally:
            _stop(first)
        assert first.returncode == 0, err
        assert f"live playground {pid}" in out

        second = _live(address, "--max-bars", "2")
        try:
            out, err = second.communicate(timeout=120)
        finally:
            _stop(second)
        assert second.returncode == 0, err
        assert re.search(rf"live playground {pid}\b", out), out
        assert mine() == [pid]  # picked up, not created again
