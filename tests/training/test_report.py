"""The training report: a leaderboard of trials with in-sample and out-of-sample scores side by
side (console at 80 columns, parquet), the out-of-sample equity stitched across folds, the
optimisation history and parameter importances, the diagnostics' verdict, one HTML page, and
the best configuration as a TOML file that ``backtest``, ``sweep`` and ``live`` read unchanged.

Built on hand-made study results of the shapes of the training contract (plain data: the
outcomes a driver would hand over), so no search and no backtest runs here but the one that
proves ``backtest --config best.toml`` runs the best parameters."""
from __future__ import annotations

import io
import json
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from actors.cli import main, parse_args
from backtestester.sweep.arguments import read_run_file
from backtestester.training.report import (
    importances,
    leaderboard_records,
    leaderboard_table,
    print_summary,
    stitched_oos,
    write_best_config,
    write_report,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DAY = 86_400_000_000_000
STRATEGY = "backtestester.strategy.reference:SmaCross"


@dataclass
class Spec:
    """The fields of the contract's TrainSpec that the report reads."""

    strategy: str = STRATEGY
    symbols: tuple = ("SYNTH",)
    timeframe: str = "1m"
    objectives: tuple = ("sharpe",)
    study_name: str = "smacross-synth"
    options: dict = field(default_factory=lambda: {"balance": 50_000.0, "fill_model": "next_open",
                                                   "commission_rate": 0.0005, "slippage_rate": 0.0})


@dataclass
class Outcome:
    """The contract's TrialOutcome, as plain data."""

    number: int
    params: dict
    is_scores: list
    oos_scores: list
    oos_returns: list
    oos_times: list
    error: str | None = None
    state: str | None = None

    @property
    def score(self):
        return tuple(float(np.mean([s[k] for s in self.oos_scores])) if self.oos_scores else math.nan
                     for k in ("sharpe",))


@dataclass
class Result:
    spec: Spec
    outcomes: list
    best: Outcome
    holdout: dict | None
    diagnostics: dict
    study_path: str = ""


def outcome(number, fast, slow, oos, folds=3, error=None, state=None):
    """A trial whose folds score ``oos`` out of sample (and 1.0 more in sample), with 10 daily
    returns per fold, fold ``f`` on days ``10 f .. 10 f + 9``."""
    rng = np.random.default_rng(number)
    returns = [rng.normal(0.001 * oos, 0.01, 10) for _ in range(folds)]
    times = [np.arange(10 * f, 10 * f + 10, dtype=np.int64) * DAY + 1_600_000_000 * 10**9 for f in range(folds)]
    return Outcome(number, {"fast": fast, "slow": slow}, [{"sharpe": oos + 1.0}] * folds, [{"sharpe": oos}] * folds,
                   returns, times, error, state)


def study(diagnostics=None) -> Result:
    outcomes = [outcome(n, 5 + 5 * n, 40 + 20 * n, oos=0.2 * n) for n in range(8)]
    outcomes.append(outcome(8, 7, 300, oos=-0.5, folds=1, state="pruned"))          # stopped after one fold
    outcomes.append(Outcome(9, {"fast": 3, "slow": 30}, [], [], [], [], error="Traceback ...\nZeroDivisionError"))
    diagnostics = diagnostics or {"psr": 0.97, "dsr": 0.62, "min_trl": 412.0, "pbo": 0.58,
                                  "verdict": "Likely overfit: DSR 0.62 < 0.95 and PBO 0.58 > 0.5 over 10 trials."}
    return Result(Spec(), outcomes, outcomes[7], {"sharpe": 0.9, "max_drawdown": -0.08}, diagnostics, "journal.log")


def render(renderable, width=80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_leaderboard_shows_in_and_out_of_sample_side_by_side_within_80_columns():
    text = render(leaderboard_table(leaderboard_records(study()), ("sharpe",)))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    header = next(line for line in lines if "IS" in line and "OOS" in line)
    assert header.index("IS") < header.index("OOS")
    best_row = next(line for line in lines if "fast=40" in line)
    assert "2.400" in best_row and "1.400" in best_row      # in sample 1.4 + 1, out of sample 1.4


def test_the_console_summary_has_the_census_the_verdict_and_where_the_files_are(tmp_path):
    result = study()
    paths = write_report(result, tmp_path)
    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_summary(result, paths, console)
    text = console.file.getvalue()
    assert "10 trials: 8 complete, 1 pruned, 1 failed" in text
    assert "verdict: Likely overfit: DSR 0.62" in text and "holdout (once): sharpe 0.900" in text
    assert str(paths["best_config"]) in text.replace("\n", "") and str(paths["html"]) in text.replace("\n", "")


def test_the_leaderboard_file_has_every_trial_with_its_state(tmp_path):
    paths = write_report(study(), tmp_path)
    table = pq.read_table(paths["leaderboard"]).to_pylist()
    assert [r["number"] for r in table][:2] == [7, 6]                    # best out-of-sample first
    states = {r["number"]: r["state"] for r in table}
    assert states[8] == "pruned" and states[9] == "failed" and states[0] == "complete"
    row = next(r for r in table if r["number"] == 7)
    assert row["is_sharpe"] == pytest.approx(2.4) and row["oos_sharpe"] == pytest.approx(1.4)
    assert row["p_fast"] == 40 and json.loads(row["params"]) == {"fast": 40, "slow": 180}
    assert "ZeroDivisionError" in next(r for r in table if r["number"] == 9)["error"]


def test_the_leaderboard_ranks_by_each_objectives_direction():
    """A minimised objective (volatility) ranks its lowest out-of-sample value first; a maximised
    one (Sharpe) its highest, as the study itself optimised them."""
    def ranked(name):
        outcomes = [Outcome(n, {"fast": n}, [{name: v}], [{name: v}], [], []) for n, v in enumerate((0.3, 0.1, 0.2))]
        result = Result(Spec(objectives=(name,)), outcomes, outcomes[0], None, {})
        return [r["number"] for r in leaderboard_records(result)]
    assert ranked("volatility") == [1, 2, 0]
    assert ranked("sharpe") == [0, 2, 1]


def test_stitched_oos_equity_compounds_every_folds_returns_in_time_order():
    best = study().best
    shuffled = Outcome(best.number, best.params, best.is_scores, best.oos_scores, best.oos_returns[::-1],
                       best.oos_times[::-1])
    times, equity = stitched_oos(shuffled)
    assert np.all(np.diff(times.astype(np.int64)) > 0) and len(equity) == 30
    assert equity[-1] == pytest.approx(np.prod(1 + np.concatenate(best.oos_returns)))


def test_importance_ranks_the_parameter_that_drives_the_score_first():
    rng = np.random.default_rng(1)
    outcomes = [outcome(n, int(f), int(s), oos=f / 10) for n, (f, s) in
                enumerate(zip(rng.integers(5, 50, 30), rng.integers(60, 200, 30)))]
    result = Result(Spec(), outcomes, outcomes[0], None, {})
    weights = importances(result)
    assert list(weights) == ["fast", "slow"] and weights["fast"] > 0.7
    assert sum(weights.values()) == pytest.approx(1.0)


def test_html_report_has_the_verdict_the_census_the_holdout_and_the_plots(tmp_path):
    paths = write_report(study(), tmp_path)
    page = paths["html"].read_text()
    assert "Likely overfit: DSR 0.62 &lt; 0.95 and PBO 0.58 &gt; 0.5 over 10 trials." in page
    assert "8 complete, 1 pruned, 1 failed" in page
    assert "holdout" in page.lower() and "0.900" in page
    for name in ("equity", "history", "importance"):
        assert paths[name].read_bytes()[:4] == b"\x89PNG"
    assert page.count("data:image/png;base64,") == 3
    assert "Parameter importance (|Spearman rho| with the OOS score" in page


def test_the_holdout_shows_the_drivers_record_of_its_one_evaluation(tmp_path):
    result = study()
    result.holdout = {"number": 7, "params": {"fast": 40, "slow": 180}, "bars": [80_000, 100_000],
                      "is_scores": {"sharpe": 2.5}, "oos_scores": {"sharpe": 0.75}, "error": None}
    page = write_report(result, tmp_path)["html"].read_text()
    holdout = page[page.index("<h2>Holdout"):page.index("<h2>Trials")]
    assert "0.750" in holdout and "2.500" not in holdout and "80000" not in holdout


def test_best_config_file_holds_the_best_parameters_and_run_options(tmp_path):
    path = write_best_config(study(), tmp_path / "best.toml")
    conf = tomllib.loads(path.read_text())
    assert conf["strategy"] == STRATEGY and conf["symbols"] == ["SYNTH"] and conf["timeframe"] == "1m"
    assert conf["fixed"] == {"fast": 40, "slow": 180}
    assert conf["balance"] == 50_000.0 and conf["commission"] == 0.0005 and conf["fill_model"] == "next_open"
    assert read_run_file(path)["fixed"] == {"fast": 40, "slow": 180}


def test_sweep_and_live_read_the_best_config_unchanged(tmp_path):
    path = write_best_config(study(), tmp_path / "best.toml")
    from backtestester.sweep.arguments import spec_from_args

    sweep = parse_args(["sweep", "--config", str(path)])
    spec = spec_from_args(sweep)
    assert [dict(c.params) for c in spec.configs()] == [{"fast": 40, "slow": 180}]  # one run: the best
    around = spec_from_args(parse_args(["sweep", "--config", str(path), "--grid", "fast=30,40,50"]))
    assert [dict(c.params)["fast"] for c in around.configs()] == [30, 40, 50]
    live = parse_args(["live", "--config", str(path), "--gateway", "localhost:1", "--param", "slow=200"])
    assert live.strategy == STRATEGY and live.symbols == ["SYNTH"] and live.balance == 50_000.0
    assert dict(live.param) == {"fast": 40, "slow": 200}                     # the command line wins


def test_backtest_runs_the_best_config(tmp_path, capsys):
    path = write_best_config(study(), tmp_path / "best.toml")
    assert main(["backtest", "--config", str(path), "--bars", "400"]) == 0
    out = capsys.readouterr().out
    assert "SmaCross" in out and "'fast': 40" in out and "'slow': 180" in out


def test_a_run_file_with_a_grid_is_refused_by_backtest(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(f'strategy = "{STRATEGY}"\n[grid]\nfast = [5, 10]\n')
    assert main(["backtest", "--config", str(path)]) == 2
    assert "[grid]" in capsys.readouterr().err


def test_importance_uses_optunas_fanova_when_a_study_is_at_hand(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_ = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    study_.optimize(lambda t: t.suggest_int("fast", 5, 50) / 10 + 0 * t.suggest_int("slow", 60, 200), n_trials=30)
    weights = importances(study(), study_)
    assert list(weights)[0] == "fast" and weights["fast"] > 0.7
    paths = write_report(study(), tmp_path, study=study_)
    assert "Parameter importance (Optuna fANOVA)" in paths["html"].read_text()
