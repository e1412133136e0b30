"""A run's identity includes the fingerprints of the strategy's code and of the data: a sweep never
reuses (nor shows as current) a result of other code or data; those are kept apart, and a results
folder that cannot hold the sweep's parameter types is refused clearly."""
from __future__ import annotations

import importlib
import io
import sys

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from actors.sweep import run_sweep
from backtestester.data.synthetic import generate_bars
from backtestester.sweep import SweepSpec
from backtestester.sweep.identity import strategy_fingerprint, table_fingerprint
from backtestester.sweep.prepare import prepare_sweep

SMA = "backtestester.strategy.reference:SmaCross"

STRATEGY_SOURCE = '''
from backtestester.strategy import Strategy


class Edited(Strategy):
    lookback: int = 5

    def on_candle(self, ctx, bar):
        pass  # VERSION
'''


def spec(**overrides):
    return SweepSpec(**{"strategy": SMA, "grid": {"fast": [5, 10], "slow": [30]}, **overrides})


def test_a_table_fingerprint_sees_a_changed_bar_the_count_and_the_ends(tables):
    table = tables[("SYNTH", "1m")]
    base = table_fingerprint(table)
    assert base == table_fingerprint(generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=5))
    assert base != table_fingerprint(generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=6))
    assert base != table_fingerprint(table.slice(0, 19_999))
    assert base != table_fingerprint(table.slice(1))
    close = table.column("close").to_numpy().copy()
    close[0] += 0.01  # the first row is always sampled
    assert base != table_fingerprint(table.set_column(table.column_names.index("close"), "close", [close]))


def test_an_edited_strategy_module_gives_new_run_ids(tables, tmp_path, monkeypatch):
    (tmp_path / "edited_strategy.py").write_text(STRATEGY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sweep = SweepSpec(strategy="edited_strategy:Edited", grid={"lookback": [5, 10]})
    try:
        before = prepare_sweep(sweep, tables=tables)
        (tmp_path / "edited_strategy.py").write_text(STRATEGY_SOURCE.replace("VERSION", "VERSION 2"))
        after = prepare_sweep(sweep, tables=tables)
    finally:
        sys.modules.pop("edited_strategy", None)
    assert before.fingerprints[0] != after.fingerprints[0] and before.fingerprints[1] == after.fingerprints[1]
    assert not {c.config_id for c in before.configs} & {c.config_id for c in after.configs}
    assert strategy_fingerprint(importlib.import_module("backtestester.strategy.reference").SmaCross) \
        == prepare_sweep(spec(), tables=tables).fingerprints[0]


def test_runs_of_other_data_are_kept_apart_and_come_back(ray_cluster, tables, tmp_path):
    """Sweeping other data in the same folder runs everything again (the old runs are moved to
    earlier/, not shown, and said so); sweeping the first data again answers from the kept runs."""
    other = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=20_000, seed=6)}
    first = run_sweep(spec(), tmp_path, tables=tables, show_progress=False, report_top=0)
    assert (first.ran, first.skipped) == (2, 0)
    console = Console(file=io.StringIO(), width=300)
    second = run_sweep(spec(), tmp_path, tables=other, show_progress=False, report_top=0, console=console)
    assert (second.ran, second.skipped) == (2, 0)
    assert {r["config_id"] for r in second.records}.isdisjoint({r["config_id"] for r in first.records})
    said = console.file.getvalue()
    assert said.count("\n") == 1 and "2 runs of other strategy code or data kept apart in" in said, said
    assert len(pq.read_table(tmp_path / "results.parquet")) == 2  # only the current data's runs
    kept = list((tmp_path / "earlier").glob("*.parquet"))
    assert len(kept) == 1 and len(pq.read_table(kept[0])) == 2
    third = run_sweep(spec(), tmp_path, tables=tables, show_progress=False, report_top=0)
    assert (third.ran, third.skipped) == (0, 2)
    assert sorted(r["final_equity"] for r in third.records) == sorted(r["final_equity"] for r in first.records)


def test_a_results_folder_of_another_parameter_type_is_refused(tables, tmp_path):
    """A str parameter swept where the folder's runs of the same code and data hold numbers (a
    pyarrow error when writing, before) is refused before anything runs."""
    from backtestester.sweep.results import ResultsFile, run_record

    prepared = prepare_sweep(SweepSpec(strategy="backtestester.strategy.reference:GridStrategy",
                                       grid={"symbol": ["SYNTH"]}), tables=tables)
    results = ResultsFile(tmp_path / "results.parquet")
    old = run_record(prepared.configs[0])
    old["params"], old["p_symbol"] = '{"symbol": 7}', 7
    results.add([old])
    results.flush()
    with pytest.raises(ValueError, match="holds parameter 'symbol' as number, this sweep gives str"):
        ResultsFile(tmp_path / "results.parquet").check_types(prepared.configs)


def test_a_folder_of_runs_from_before_fingerprints_is_kept_apart_not_a_pyarrow_error(ray_cluster, tables, tmp_path):
    """Runs written before run ids had fingerprints (here with ``fast`` as text, as a strategy of
    the time had it) are kept apart, and the sweep runs."""
    import pyarrow as pa

    legacy = [{"config_id": "0123456789abcdef", "strategy": SMA, "params": '{"fast": "quick"}', "status": "ok",
               "error": "", "p_fast": "quick", "sharpe": 1.0}]
    pq.write_table(pa.Table.from_pylist(legacy), tmp_path / "results.parquet")
    outcome = run_sweep(spec(), tmp_path, tables=tables, show_progress=False, report_top=0)
    assert (outcome.ran, outcome.failed) == (2, 0)
    assert pq.read_table(tmp_path / "earlier" / "strategy-unknown-data-unknown.parquet").to_pylist() == legacy
