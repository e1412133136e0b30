"""A sweep whose runs are all done answers from its results file: no Ray, the same leaderboard."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import json, sys
from actors.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "ray": "ray" in sys.modules}))
"""


def sweep(argv):
    done = subprocess.run([sys.executable, "-c", RUN, "sweep", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report, done.stdout


def leaderboard(out: str) -> str:
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "Leaderboard" in line)
    last = next(i for i, line in enumerate(lines) if " runs in " in line)
    return "\n".join(lines[first:last])


def test_a_finished_sweep_answers_without_ray_and_prints_the_same_leaderboard(data_dir, tmp_path):
    argv = ["--data-dir", str(data_dir), "--grid", "fast=5:15:5", "--grid", "slow=20,40", "--constraint",
            "fast < slow", "--out", str(tmp_path / "out"), "--no-progress", "--workers", "2"]
    first, first_out = sweep(argv)
    assert first == {"code": 0, "ray": True}
    again, again_out = sweep(argv)
    assert again == {"code": 0, "ray": False}
    assert "6 of 6 runs already done" in again_out and "0 runs in" in again_out
    assert leaderboard(again_out) == leaderboard(first_out)
    assert (tmp_path / "out" / "report.html").exists()
