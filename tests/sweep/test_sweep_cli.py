"""``backtestester sweep`` end to end on generated catalog data, its TOML file, its errors, Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from actors.cli import main

from ..processes import interruptible
from .conftest import GATED_STRATEGY, read_fifo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sweep.toml"


def test_sweep_command_end_to_end(ray_cluster, data_dir, tmp_path, capsys):
    code = main(["sweep", "--data-dir", str(data_dir), "--symbols", "synth", "--grid", "fast=5:15:5",
                 "--grid", "slow=20,40", "--constraint", "fast < slow", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Leaderboard (by sharpe)" in out and "fast=" in out and "report.html" in out
    # the header names every setting of the runs, the fill model (the one default of backtest and sweep) too
    assert ("SYNTH 1m, the first bar to the last bar, balance 100,000.00, fill model next_open, commission 0, "
            "slippage 0, calendar XNYS, engine event") in " ".join(out.split())
    results = pq.read_table(tmp_path / "results.parquet")
    assert len(results) == 6
    # the Ray nodes that ran the runs: one line, and each row's node in the results file
    node = ray_cluster.get_runtime_context().get_node_id()
    assert results.column("node").to_pylist() == [node] * 6
    assert f"ran on 1 node: {node[:8]}... 6\n" in out


def test_sweep_from_a_toml_file_with_command_line_overrides(ray_cluster, data_dir, tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(EXAMPLE.read_text().replace("[5, 10, 20]", "[5, 10]").replace('"40:120:40"', '"20:40:20"'))
    code = main(["sweep", "--config", str(config), "--data-dir", str(data_dir), "--metric", "total_return",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0 and "by total_return" in capsys.readouterr().out
    rows = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    assert sorted((r["p_fast"], r["p_slow"]) for r in rows) == [(5, 20), (5, 40), (10, 20), (10, 40)]
    assert {r["p_fraction"] for r in rows} == {1.0}


@pytest.mark.parametrize("argv,message", [
    (["--grid", "fast=5:1:1"], "needs STEP > 0 and STOP >= START"),
    (["--grid", "nope=1,2"], "has no parameter(s) ['nope']"),
    ([], "nothing to sweep"),
    (["--grid", "fast=5", "--metric", "luck"], "unknown metric 'luck'"),
    (["--grid", "fast=5", "--strategy", "nowhere:Thing"], "cannot import strategy module 'nowhere'"),
    (["--grid", "fast=5", "--constraint", "fast <"], "is not a valid expression"),
])
def test_sweep_command_errors_are_clear(argv, message, tmp_path, capsys):
    assert main(["sweep", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_symbol_names_the_catalog(data_dir, tmp_path, capsys):
    assert main(["sweep", "--data-dir", str(data_dir), "--symbols", "NOPE", "--grid", "fast=5", "--out",
                 str(tmp_path), "--no-progress"]) == 2
    assert "no data for symbol 'NOPE' (symbols in" in capsys.readouterr().err


def test_ctrl_c_keeps_finished_runs_and_the_next_run_resumes(data_dir, tmp_path):
    gate, ready, out = tmp_path / "gate", tmp_path / "ready", tmp_path / "out"
    os.mkfifo(gate)
    os.mkfifo(ready)
    (tmp_path / "gated.py").write_text(GATED_STRATEGY.format(gate=str(gate), ready=str(ready)))
    argv = [str(Path(sys.executable).parent / "backtestester"), "sweep", "--strategy", "gated:Gated",
            "--data-dir", str(data_dir), "--grid", "n=0:59:1", "--workers", "1", "--batch-size", "1",
            "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(interruptible(argv), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert "is waiting" in read_fifo(ready, proc, timeout=300)
        proc.send_signal(signal.SIGINT)  # one run done, the second one blocked: the sweep is not done
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output
    assert "interrupted: keeping the finished runs" in output
    assert len(pq.read_table(out / "results.parquet")) == 1
    gate.unlink()  # the resumed sweep's runs pass
    resumed = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "(1 already done, 0 failed)" in resumed.stdout.replace("\n", " ")
    assert len(pq.read_table(out / "results.parquet")) == 60
