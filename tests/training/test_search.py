"""The search's pure parts (backtestester/training/search.py, spec.py): spaces, constraints,
samplers and pruners, the journal storage, zombie recovery and the reproducibility policy, without
Ray (the driver's tests are in test_train.py)."""
from __future__ import annotations

import argparse
import math
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from backtestester.training import search
from backtestester.training.spec import TrainSpec, add_train_arguments, spec_from_args

STRATEGY = "backtestester.strategy.reference:SmaCross"


def test_space_texts_become_optuna_distributions():
    assert search.parse_space_arg("fast=int:5:50") == ("fast", IntDistribution(5, 50))
    assert search.parse_space_arg("fast=int:5:50:5") == ("fast", IntDistribution(5, 50, step=5))
    assert search.parse_space_arg("n=int:1:1000:log") == ("n", IntDistribution(1, 1000, log=True))
    assert search.parse_space_arg("stop=float:0.005:0.05:log") == ("stop", FloatDistribution(0.005, 0.05, log=True))
    assert search.parse_space_arg("x=float:0:1:0.25") == ("x", FloatDistribution(0.0, 1.0, step=0.25))
    assert search.parse_space_arg("mode=cat:a,b,3") == ("mode", CategoricalDistribution(["a", "b", 3]))


@pytest.mark.parametrize("text, says", [
    ("fast", "NAME=int:LOW:HIGH"), ("fast=int:50:5", "LOW <= HIGH"), ("fast=int:a:5", "must be ints"),
    ("fast=bool:0:1", "kind must be int, float or cat"), ("x=float:0:1:log", "LOW > 0 on a log scale"),
    ("mode=cat:", "at least one value"), ("fast=int:5", "int:LOW:HIGH"), ("1x=int:1:2", "identifier")])
def test_a_bad_space_text_says_what_is_accepted(text, says):
    with pytest.raises(ValueError, match=says):
        search.parse_space_arg(text)


def test_an_unknown_parameter_and_an_empty_space_are_refused_naming_the_known_ones():
    types = {"fast": int, "slow": int}
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['fats'\]; it has \['fast', 'slow'\]"):
        search.check_space({"fats": IntDistribution(1, 2)}, types)
    with pytest.raises(ValueError, match="nothing to search"):
        search.check_space({}, types)
    with pytest.raises(ValueError, match="unknown parameter 'fats'"):
        TrainSpec(space={"fast": "int:1:5"}, constraints=("fats < 3",)).check()


def test_a_constraint_no_sample_satisfies_is_refused_before_the_study():
    spec = TrainSpec(strategy=STRATEGY, space={"fast": "int:5:50", "slow": "int:10:40"}, constraints=("fast > slow + 100",))
    with pytest.raises(ValueError, match="no parameter set of the space satisfies"):
        spec.check()
    # a narrow but satisfiable constraint passes (the corners are tried first)
    TrainSpec(strategy=STRATEGY, space={"fast": "int:5:50", "slow": "int:10:40"}, constraints=("fast == 50",)).check()


@pytest.mark.parametrize("name", ["tpe", "cmaes", "random", "grid", "nsga2"])
def test_every_sampler_asks_a_trial_of_the_space(name):
    space = search.parse_space(["fast=int:2:10", "slow=int:10:20:5"])
    study = optuna.create_study(sampler=search.make_sampler(name, 1, space))
    for _ in range(3):
        trial = study.ask(space)
        assert set(trial.params) == {"fast", "slow"} and trial.params["slow"] in (10, 15, 20)
        study.tell(trial, float(trial.params["fast"]))


def test_samplers_refuse_spaces_they_cannot_search():
    space = search.parse_space(["mode=cat:a,b", "x=float:0:1"])
    with pytest.raises(ValueError, match="cmaes searches int and float parameters only"):
        search.check_sampler("cmaes", space, 1)
    with pytest.raises(ValueError, match="grid needs a STEP for float parameter x"):
        search.check_sampler("grid", space, 1)
    with pytest.raises(ValueError, match="unknown sampler 'bayes'; accepted: tpe, gp"):
        search.check_sampler("bayes", space, 1)
    assert search.default_sampler(("sharpe",)) == "tpe" and search.default_sampler(("sharpe", "max_drawdown")) == "nsga2"


def test_the_journal_storage_breaks_a_stale_lock_after_a_short_grace(tmp_path):
    """A driver killed while it held the journal's lock leaves the lock file behind: the next
    driver breaks it after LOCK_GRACE_SECONDS (5), not Optuna's default 30 s."""
    path = tmp_path / "journal.log"
    search.open_study(path, "s", ["maximize"])
    (tmp_path / "journal.log.lock").touch()  # the stale lock of a killed writer
    started = time.monotonic()
    study = search.open_study(path, "s", ["maximize"])
    study.set_user_attr("written", True)  # a write takes the lock
    assert search.LOCK_GRACE_SECONDS == 5 <= time.monotonic() - started < 20
    with pytest.raises(ValueError, match="has directions \\['maximize'\\]"):
        search.open_study(tmp_path / "journal.log", "s", ["minimize"])
    assert study.study_name == "s"


def test_running_trials_of_a_killed_driver_are_failed_and_their_parameters_run_again(tmp_path):
    space = search.parse_space(["fast=int:2:50"])
    study = search.open_study(tmp_path / "journal.log", "s", ["maximize"])
    done = search.ask(study, space, sampler="tpe", seed=1, index=0)
    study.tell(done, 1.0)
    left = [search.ask(study, space, sampler="tpe", seed=1, index=i) for i in (1, 2)]  # the "killed" driver's batch
    study = search.open_study(tmp_path / "journal.log", "s", ["maximize"])  # a new driver
    assert search.recover_zombies(study) == [t.number for t in left]
    states = {t.number: (t.state, t.user_attrs.get("failure")) for t in study.trials}
    assert states[left[0].number] == (TrialState.FAIL, "interrupted") and states[done.number][0] == TrialState.COMPLETE
    again = [search.ask(study, space, sampler="tpe", seed=1, index=1 + i) for i in range(2)]
    assert [t.params for t in again] == [t.params for t in left]
    assert [study.trials[t.number].user_attrs["retry_of"] for t in again] == [t.number for t in left]
    assert [t.number for t in search.counted_trials(study)] == [done.number]


def _drive(study, space, budget, seed, batch=4, stop_after=None):
    """The driver's policy without Ray: synchronous batches ending at multiples of ``batch``,
    reseeded asks, told in trial order;
    ``stop_after`` batches, the next batch is asked and left running (a kill)."""
    batches = 0
    while len(search.counted_trials(study)) < budget:
        done = len(search.counted_trials(study))
        trials = [search.ask(study, space, sampler="tpe", seed=seed, index=done + i)
                  for i in range(min(batch - done % batch, budget - done))]
        if stop_after is not None and batches == stop_after:
            return
        for trial in sorted(trials, key=lambda t: t.number):
            study.tell(trial, -(trial.params["fast"] - 17) ** 2 - abs(trial.params["x"] - 0.3))
        batches += 1


def test_the_same_seed_gives_the_same_trials_across_a_kill_and_resume(tmp_path):
    """The policy: reseeding from (seed, trials so far) before each ask makes a study killed
    mid-batch and resumed (zombies failed and re-enqueued) ask exactly the trials of an
    uninterrupted one; a plain seeded sampler would diverge at the resume point."""
    space = search.parse_space(["fast=int:2:50", "x=float:0:1"])
    whole = search.open_study(tmp_path / "a.log", "s", ["maximize"])
    _drive(whole, space, 24, seed=7)
    killed = search.open_study(tmp_path / "b.log", "s", ["maximize"])
    _drive(killed, space, 24, seed=7, stop_after=3)
    resumed = search.open_study(tmp_path / "b.log", "s", ["maximize"])
    assert len(search.recover_zombies(resumed)) == 4
    _drive(resumed, space, 24, seed=7)
    assert [t.params for t in search.counted_trials(resumed)] == [t.params for t in search.counted_trials(whole)]
    assert len(search.counted_trials(resumed)) == 24 and len(resumed.trials) == 28


def test_the_fold_pruner_judges_against_the_snapshot_of_complete_trials():
    complete = []
    for i, value in enumerate([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]):
        complete.append(optuna.trial.create_trial(value=value, intermediate_values={0: value, 1: value},
                                                  params={}, distributions={}))
    judge = search.pruning_judge("median", ["maximize"], complete)
    report = search.fold_pruner(judge, number=6)
    assert report(0, 5.0) is False  # better than the median at fold 0
    report = search.fold_pruner(judge, number=7)  # the same judge serves the batch's next trial
    assert report(0, -1.0) is True
    assert report(0, math.nan) is False  # a value that is not a number is never a reason to prune
    assert search.fold_pruner(judge, number=8)(0, 5.0) is False  # judging added no trial to it
    assert len(judge.trials) == len(complete)
    assert search.pruning_judge("none", ["maximize"], complete) is None
    assert search.pruning_judge("median", ["maximize", "maximize"], complete) is None  # several objectives
    assert search.fold_pruner(None, 8) is None


def test_seeds_are_derived_from_seed_index_and_attempt():
    seeds = {search.derive_seed(7, i, a) for i in range(50) for a in range(3)}
    assert len(seeds) == 150 and search.derive_seed(7, 3) == search.derive_seed(7, 3, 0)


def _args(argv):
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(argv)


def test_the_toml_file_and_the_options_make_one_spec(tmp_path):
    conf = tmp_path / "train.toml"
    conf.write_text('strategy = "backtestester.strategy.reference:SmaCross"\nsymbols = ["synth"]\ntrials = 30\n'
                    'objective = "sharpe,max_drawdown"\nconstraints = ["fast < slow"]\n'
                    '[space]\nfast = "int:2:20"\nslow = "int:10:60"\n')
    spec = spec_from_args(_args(["--config", str(conf), "--trials", "12", "--space", "slow=int:30:90",
                                 "--seed", "3", "--folds", "4"]))
    assert spec.trials == 12 and spec.seed == 3 and spec.folds == 4 and spec.symbols == ("SYNTH",)
    assert spec.space == {"fast": "int:2:20", "slow": "int:30:90"} and spec.constraints == ("fast < slow",)
    assert spec.objectives == ("sharpe", "max_drawdown") and spec.sampler_name == "nsga2"
    spec.check()
    (tmp_path / "bad.toml").write_text("trails = 3\n")
    with pytest.raises(ValueError, match=r"unknown keys in .*\['trails'\]"):
        spec_from_args(_args(["--config", str(tmp_path / "bad.toml")]))


def test_bad_settings_are_refused_naming_what_is_accepted():
    base = dict(strategy=STRATEGY, space={"fast": "int:2:20"})
    with pytest.raises(ValueError, match="unknown objective.*accepted: "):
        TrainSpec(**base, objectives=("profit",)).check()
    with pytest.raises(ValueError, match="both searched"):
        TrainSpec(**base, fixed={"fast": 3}).check()
    with pytest.raises(ValueError, match="holdout is a fraction"):
        TrainSpec(**base, holdout=1.5).check()
    with pytest.raises(ValueError, match="trials must be >= 1"):
        TrainSpec(**base, trials=0).check()


def test_the_grid_order_is_every_point_meeting_the_constraints_in_a_seeded_order():
    space = search.parse_space(["fast=int:2:8:3", "slow=int:5:20:5"])
    order = search.grid_order(space, ["fast < slow"], seed=3)
    assert sorted(map(tuple, (p.values() for p in order))) == [(2, 5), (2, 10), (2, 15), (2, 20), (5, 10), (5, 15),
                                                               (5, 20), (8, 10), (8, 15), (8, 20)]
    assert order == search.grid_order(space, ["fast < slow"], seed=3) != search.grid_order(space, ["fast < slow"], seed=4)


def test_a_kill_while_a_batch_is_told_resumes_to_the_same_trials(tmp_path):
    """Killed after telling 2 trials of a batch of 4: the 2 re-run trials end that batch alone
    (batches end at multiples of the batch size), so the next batch meets the uninterrupted history."""
    space = search.parse_space(["fast=int:2:50", "x=float:0:1"])
    whole = search.open_study(tmp_path / "a.log", "s", ["maximize"])
    _drive(whole, space, 16, seed=5)
    killed = search.open_study(tmp_path / "b.log", "s", ["maximize"])
    _drive(killed, space, 16, seed=5, stop_after=2)
    for trial in sorted(killed.get_trials(states=(TrialState.RUNNING,)), key=lambda t: t.number)[:2]:
        killed.tell(trial.number, -(trial.params["fast"] - 17) ** 2 - abs(trial.params["x"] - 0.3))
    resumed = search.open_study(tmp_path / "b.log", "s", ["maximize"])
    assert len(search.recover_zombies(resumed)) == 2
    _drive(resumed, space, 16, seed=5)
    assert [t.params for t in search.counted_trials(resumed)] == [t.params for t in search.counted_trials(whole)]
