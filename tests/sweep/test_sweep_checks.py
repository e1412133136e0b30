"""A sweep is checked whole before Ray starts: every bad input is exit code 2 with a message that
says what was wrong and what is accepted, in a process that never imported ray."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import json, sys
from actors.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "ray": "ray" in sys.modules}))
"""


def run_cli(argv, cwd=ROOT, timeout=120):
    """The console script in a fresh process: (exit code, whether ray was imported, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip(), done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], report["ray"], done.stdout, done.stderr


@pytest.mark.parametrize("argv,message", [
    (["--symbols", "NOPE", "--grid", "fast=5"], "no data for symbol 'NOPE' (symbols in"),
    (["--timeframe", "7m", "--grid", "fast=5"], "timeframe must be one of"),
    (["--grid", "fast=a,b"], "parameter fast must be int, got 'a'"),
    (["--grid", "fast=5", "--param", "fraction=full"], "parameter fraction must be float, got 'full'"),
    (["--strategy", "backtestester.strategy.reference:GridStrategy", "--grid", "grid_size=2,3", "--engine", "fast"],
     "has none; use the event engine (--engine event)"),
    (["--grid", "fast=5", "--engine", "fast", "--symbols", "SYNTH", "OTHER"], "engine 'fast' runs one symbol"),
    (["--grid", "fast=5", "--start", "yesterday"], "start must be an ISO date"),
    (["--grid", "fast=5", "--calendar", "MOON"], "MOON"),
])
def test_a_bad_sweep_is_exit_code_2_before_ray_starts(argv, message, data_dir, tmp_path):
    code, ray_imported, out, err = run_cli(["sweep", "--data-dir", str(data_dir), "--out", str(tmp_path / "out"),
                                            "--no-progress", *argv])
    assert code == 2, out + err
    assert message in err, err
    assert "Traceback" not in err and not ray_imported
    assert not (tmp_path / "out").exists()


def test_an_unknown_symbol_names_what_the_catalog_holds(data_dir, tmp_path):
    code, ray_imported, _, err = run_cli(["sweep", "--data-dir", str(data_dir), "--symbols", "NOPE", "--grid",
                                          "fast=5", "--out", str(tmp_path / "out")])
    assert (code, ray_imported) == (2, False)
    assert "'NOPE'" in err and "SYNTH" in err and "Traceback" not in err
