"""The training driver (actors/train.py) and ``backtestester train`` on a real embedded Ray cluster
(the session's ``ray_cluster`` fixture), on small generated data: the same seed gives the same
trials on 1 and 2 actors and across a resume, a SIGKILLed driver's study resumes with nothing lost
or duplicated, bad input is refused clearly, a raising strategy fails its trial only, and the
progress bar shows trials, the best so far and an ETA."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from actors.cli import main
from actors.pool import SweepPool
from actors.train import plan_folds, run_training
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.strategy.reference import SmaCross
from backtestester.training import search
from backtestester.training.evaluate import TrialSpec
from backtestester.training.spec import TrainSpec
from tests.processes import descendants, kill_all, wait_gone

SMA = "backtestester.strategy.reference:SmaCross"
BARS = 6_000


class Flaky(SmaCross):
    """The SMA crossover, raising on its fifth candle when ``boom``."""

    boom: int = 0

    def on_candle(self, ctx, bar):
        self.seen = getattr(self, "seen", 0) + 1
        if self.boom and self.seen == 5:
            raise RuntimeError("flaky strategy raised on purpose")
        super().on_candle(ctx, bar)


@pytest.fixture(scope="module")
def tables():
    return {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=BARS, seed=5)}


@pytest.fixture
def pool(ray_cluster):
    with SweepPool(2, engines="event") as pool:
        yield pool


def spec(tmp_path, **overrides) -> TrainSpec:
    base = dict(strategy=SMA, space={"fast": "int:2:20", "slow": "int:10:60"}, constraints=("fast < slow",),
                trials=8, folds=3, seed=7, batch_size=4, out=str(tmp_path / "study"), study="s", holdout=0.2)
    base.update(overrides)
    return TrainSpec(**base)


def trials(result) -> list:
    return [(o.number, o.params, getattr(o, "state", None)) for o in result.outcomes]


def test_the_same_seed_gives_the_same_trials_on_one_and_two_actors(tables, pool, tmp_path):
    one = run_training(spec(tmp_path / "1"), tables=tables, workers=1, pool=pool, show_progress=False)
    two = run_training(spec(tmp_path / "2"), tables=tables, workers=2, pool=pool, show_progress=False)
    assert len(one.outcomes) == 8 and trials(one) == trials(two)
    assert [o.oos_scores for o in one.outcomes] == [o.oos_scores for o in two.outcomes]
    assert one.best.number == two.best.number and one.holdout == two.holdout and one.holdout["oos_scores"]


def test_the_actors_prune_a_batch_against_the_snapshot_it_was_asked_with(tables, pool, ray_cluster, tmp_path):
    """As the driver sends a batch: one pruning object per batch (``[reference]``), each actor
    judging its trials against it. A snapshot of trials that scored far better at every fold
    prunes each trial after its first fold, on either actor and for each trial an actor runs; the
    next batch's snapshot (no trial complete yet) prunes none, although the actors judged the
    previous batch with another."""
    train = spec(tmp_path)
    folds, _ = plan_folds(train, BARS)
    specs = [TrialSpec(number=n, params={"fast": 5, "slow": 30}, strategy=SMA, symbols=("SYNTH",), timeframe="1m",
                       folds=folds, options=train.options) for n in range(10, 14)]
    better = [optuna.trial.create_trial(value=100.0, intermediate_values={k: 100.0 for k in range(3)}, params={},
                                        distributions={}) for _ in range(6)]
    table_refs = {key: [ray_cluster.put(table)] for key, table in tables.items()}

    def batch(snapshot):
        pruning_ref = [ray_cluster.put(("median", ["maximize"], snapshot))]
        calls = [pool.hosts[i % 2].run_trials.remote(table_refs, [s], pruning_ref) for i, s in enumerate(specs)]
        return [outcomes[0] for outcomes in ray_cluster.get(calls, timeout=120)]

    pruned, free = batch(better), batch([])
    assert [(o.state, len(o.oos_scores)) for o in pruned] == [("pruned", 1)] * 4
    assert [(o.state, len(o.oos_scores)) for o in free] == [("complete", 3)] * 4
    assert [o.oos_scores[0] for o in pruned] == [o.oos_scores[0] for o in free]


def test_a_resumed_study_asks_the_trials_of_an_uninterrupted_one(tables, pool, tmp_path):
    whole = run_training(spec(tmp_path / "whole", trials=12), tables=tables, pool=pool, show_progress=False)
    first = run_training(spec(tmp_path / "parts", trials=4), tables=tables, pool=pool, show_progress=False)
    with pytest.warns(UserWarning, match="lockbox .* was already opened"):  # the best changed: a second look
        resumed = run_training(spec(tmp_path / "parts", trials=12), tables=tables, pool=pool, show_progress=False)
    assert len(first.outcomes) == 4 and trials(resumed) == trials(whole)
    # a finished study answers from its journal: no trial is run, the holdout is not looked at again
    again = run_training(spec(tmp_path / "parts", trials=12), tables=tables, pool=pool, show_progress=False)
    assert trials(again) == trials(whole) and again.holdout == resumed.holdout
    with pytest.raises(ValueError, match="was run with other settings \\(seed: 7"):
        run_training(spec(tmp_path / "parts", trials=12, seed=8), tables=tables, pool=pool, show_progress=False)


def test_a_raising_strategy_fails_its_trial_with_the_traceback_and_the_study_goes_on(tables, pool, tmp_path):
    flaky = spec(tmp_path, strategy="tests.training.test_train:Flaky", space={"boom": "cat:0,1", "fast": "int:2:9"},
                 fixed={"slow": 20}, constraints=(), trials=8, holdout=0.0)
    result = run_training(flaky, tables=tables, pool=pool, show_progress=False)
    failed = [o for o in result.outcomes if o.error]
    assert len(result.outcomes) == 8 and failed and len(failed) < 8
    assert all(o.params["boom"] == 1 and "flaky strategy raised on purpose" in o.error for o in failed)
    study = search.open_study(result.study_path, "s", ["maximize"])
    fail = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all("flaky strategy raised on purpose" in t.user_attrs["traceback"] for t in fail)
    assert result.census["failed"] == len(failed)


def test_bad_input_is_refused_before_ray_with_clear_errors(tables, tmp_path, capsys):
    with pytest.raises(ValueError, match="no parameter\\(s\\) \\['fats'\\]"):
        run_training(spec(tmp_path, space={"fats": "int:1:5"}, constraints=()), tables=tables)
    with pytest.raises(ValueError, match="nothing to search"):
        run_training(spec(tmp_path, space={}, constraints=()), tables=tables)
    with pytest.raises(ValueError, match="no parameter set of the space satisfies"):
        run_training(spec(tmp_path, constraints=("fast > slow + 100",)), tables=tables)
    with pytest.raises(ValueError, match="folds too short for the data: 2000 anchored folds over 4800 bars"):
        run_training(spec(tmp_path, folds=2000), tables=tables)
    with pytest.raises(ValueError, match="each training window needs >= 5000 bars"):
        run_training(spec(tmp_path, space={"fast": "int:2:20", "slow": "int:10:5000"}), tables=tables)
    assert main(["train", "--space", "fats=int:1:5", "--data-dir", str(tmp_path)]) == 2
    assert "no parameter(s) ['fats']" in capsys.readouterr().err


def test_the_progress_bar_shows_trials_the_best_so_far_and_an_eta(tables, pool, tmp_path):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    run_training(spec(tmp_path, trials=4, holdout=0.0), tables=tables, pool=pool, console=console)
    text = out.getvalue()
    assert "train" in text and "4/4" in text and "ETA" in text and "best sharpe" in text


# --- SIGKILL of the driver mid-study, then resume -------------------------------------------------

def _journal(path: Path) -> dict:
    """Trial numbers created and finished (complete or pruned) so far, read from the journal file
    (one JSON operation a line; a last line being written may be cut)."""
    created, finished = 0, set()
    for line in path.read_text().splitlines() if path.exists() else ():
        try:
            op = json.loads(line)
        except ValueError:
            continue
        if op["op_code"] == 4:  # CREATE_TRIAL
            created += 1
        elif op["op_code"] == 6 and op.get("state") in (1, 2, 3):  # SET_TRIAL_STATE_VALUES: COMPLETE/PRUNED/FAIL
            finished.add((op["trial_id"], op["state"]))
    return {"created": created, "finished": finished}


def test_a_killed_driver_resumes_with_nothing_finished_lost_or_duplicated(ray_cluster, tmp_path):
    """The driver (a `backtestester train` process) is SIGKILLed while a batch runs, after at
    least 8 trials were told; `train` on the same study then fails the running trials, runs their
    parameters again and finishes the budget: the trials told before the kill are kept as they
    were, none is counted twice, and the trials are those of an uninterrupted run."""
    data = tmp_path / "catalog"
    Catalog(data).write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=BARS, seed=5))
    argv = ["train", "--strategy", SMA, "--space", "fast=int:2:20", "--space", "slow=int:10:60", "--constraint",
            "fast < slow", "--trials", "24", "--folds", "3", "--seed", "7", "--batch-size", "4", "--workers", "2",
            "--study", "k", "--out", str(tmp_path / "study"), "--data-dir", str(data), "--no-progress", "--holdout", "0"]
    journal = tmp_path / "study" / "journal.log"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "backtestester"), *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = []
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:  # polls the journal: the state is the sync
            seen = _journal(journal)
            if len(seen["finished"]) >= 8 and seen["created"] > len(seen["finished"]):
                break  # a batch is asked and not yet told
            time.sleep(0.02)
        assert proc.poll() is None, "the study finished before it could be killed"
        started = descendants(proc.pid)
        proc.kill()
        proc.wait()
        wait_gone(started)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(started)
    before = search.open_study(journal, "k", ["maximize"]).trials
    told = {t.number: (t.params, t.values) for t in before if search.counted(t)}
    running = [t.number for t in before if t.state == TrialState.RUNNING]
    assert len(told) >= 8 and running
    assert main(argv) == 0
    study = search.open_study(journal, "k", ["maximize"])
    counted = search.counted_trials(study)
    assert len(counted) == 24 and len({t.number for t in counted}) == 24
    assert {n: (study.trials[n].params, study.trials[n].values) for n in told} == told
    assert [study.trials[n].user_attrs.get("failure") for n in running] == ["interrupted"] * len(running)
    retries = [t.user_attrs["retry_of"] for t in study.trials if "retry_of" in t.user_attrs]
    assert sorted(retries) == running
    whole = run_training(replace(spec(tmp_path / "whole", trials=24, holdout=0.0, study="k"), symbols=("SYNTH",)),
                         data_dir=data, workers=2, show_progress=False)
    assert [t.params for t in counted] == [o.params for o in whole.outcomes]


def test_the_grid_sampler_runs_each_point_that_satisfies_the_constraints_once(tables, pool, tmp_path):
    grid = spec(tmp_path, sampler="grid", space={"fast": "int:2:8:3", "slow": "int:5:20:5"}, trials=50, holdout=0.0)
    result = run_training(grid, tables=tables, pool=pool, show_progress=False)
    points = sorted((o.params["fast"], o.params["slow"]) for o in result.outcomes)
    assert points == sorted((f, s) for f in (2, 5, 8) for s in (5, 10, 15, 20) if f < s)  # 10 points, not 50


def test_several_objectives_search_a_pareto_front_with_nsga2(tables, pool, tmp_path):
    pareto = spec(tmp_path, objectives=("sharpe", "max_drawdown"), trials=8, holdout=0.0)
    result = run_training(pareto, tables=tables, pool=pool, show_progress=False)
    assert pareto.sampler_name == "nsga2" and len(result.outcomes) == 8
    assert all(set(o.oos_scores[0]) == {"sharpe", "max_drawdown"} for o in result.outcomes if not o.error)
    study = search.open_study(result.study_path, "s", ["maximize", "maximize"])
    assert result.best.number in {t.number for t in study.best_trials}
