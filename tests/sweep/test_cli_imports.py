"""The console script imports ray only for the commands that need it (sweep, demo, serve): not `data`,
`backtest` nor `backup`."""
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
print(json.dumps({"code": code, "ray": "ray" in sys.modules, "grpc": "grpc" in sys.modules}))
"""


@pytest.mark.parametrize("argv", [
    ["data", "ls"],
    ["backtest", "--bars", "500", "--calendar", "none"],
    ["backup", "create", "--to", "backups"],  # the gateway host's hourly timer: BACKTESTESTER_DATA's backup
])
def test_data_and_backtest_commands_do_not_import_ray(argv, tmp_path):
    env = {**os.environ, "BACKTESTESTER_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "ray": False, "grpc": False}, report
