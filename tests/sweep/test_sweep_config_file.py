"""The ``--config`` TOML file: the documented example in the repository runs, and both grid forms
(a list of values, a "START:STOP:STEP" text) work."""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from actors.cli import main
from backtestester.sweep.arguments import add_sweep_arguments, spec_from_args
from backtestester.sweep.prepare import prepare_sweep

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sweep.toml"


def spec_of(*argv):
    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    return spec_from_args(parser.parse_args(list(argv)))


def test_the_example_file_runs(ray_cluster, data_dir, tmp_path, capsys):
    code = main(["sweep", "--config", str(EXAMPLE), "--data-dir", str(data_dir), "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "Leaderboard (by sharpe)" in capsys.readouterr().out
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert sorted((r["p_fast"], r["p_slow"]) for r in rows) == [(f, s) for f in (5, 10, 20) for s in (40, 80, 120)]
    assert {r["p_fraction"] for r in rows} == {1.0}


@pytest.mark.parametrize("grid,values", [
    ("fast = [5, 10, 20]", [5, 10, 20]),
    ('fast = "5:15:5"', [5, 10, 15]),
    ('fast = "5,10"', [5, 10]),
    ("fast = 7", [7]),
    ("fraction = [0.5, 1]", [0.5, 1.0]),
])
def test_both_grid_forms_work(grid, values, tables, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(f"[grid]\n{grid}\n")
    prepared = prepare_sweep(spec_of("--config", str(config)), tables=tables)
    name = grid.split()[0]
    assert [c.param_dict[name] for c in prepared.configs] == values
    assert all(type(c.param_dict[name]) is type(values[0]) for c in prepared.configs)


def test_a_bad_grid_value_in_the_file_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text('[grid]\nfast = ["five"]\n')
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "parameter fast must be int, got 'five'" in capsys.readouterr().err
