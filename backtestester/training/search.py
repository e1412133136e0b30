"""The search of a training study: parameter spaces, constraints, Optuna's samplers and pruners, the
journal storage, and the reproducibility policy. Pure (Optuna, numpy; never Ray): the Ray driver
(``actors/train.py``) asks and tells through these functions; the workers only run backtests.

Spaces, one parameter each: ``fast=int:5:50`` (``int:LOW:HIGH[:STEP][:log]``), ``stop=float:0.005:0.05:log``
(``float:LOW:HIGH[:STEP|:log]``), ``mode=cat:a,b`` (values as ``--param`` reads them). Bounds are
included. Constraints are the sweep's expressions (``"fast < slow"``,
:func:`backtestester.sweep.space.compile_constraint`): a sampled set that breaks one is told
``FAIL`` with ``failure = "constraint"`` and does not count towards the budget.

Reproducibility policy (docs/training/search.md): trials are asked in synchronous batches of a
fixed size (independent of the number of actors), told in trial-number order when the whole batch
is back, and before every ask the sampler is replaced by a fresh one seeded from ``(seed, index)``,
``index`` being the number of counted trials before it (:func:`derive_seed`). Sampling then depends
only on the seed, the told history and the index: the same trials on 1 or N actors and across a
resume (trials running at a kill are failed and their parameters re-enqueued, so the index and the
history they meet are those of the uninterrupted run).
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from ..sweep.space import compile_constraint, parse_value

SAMPLERS = ("tpe", "gp", "cmaes", "random", "grid", "nsga2")
PRUNERS = ("median", "percentile", "none")
DEFAULT_PRUNER = "median"
LOCK_GRACE_SECONDS = 5  # a stale journal lock after a kill stalls the restart this long (Optuna's default: 30 s)
SATISFIABILITY_DRAWS = 2_000  # random draws that look for one parameter set meeting the constraints
# user attribute ``failure`` of a FAIL trial: why it failed; only "error" (the strategy raised) counts as a trial.
FAILURE_ERROR, FAILURE_INTERRUPTED, FAILURE_CONSTRAINT = "error", "interrupted", "constraint"

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna").propagate = False


def parse_space_arg(text: str) -> tuple[str, BaseDistribution]:
    """``NAME=int:LOW:HIGH[:STEP][:log]``, ``NAME=float:LOW:HIGH[:STEP|:log]`` or
    ``NAME=cat:V1,V2,...`` -> ``(name, Optuna distribution)``; ``ValueError`` saying what is accepted."""
    accepted = "NAME=int:LOW:HIGH[:STEP][:log], NAME=float:LOW:HIGH[:STEP|:log] or NAME=cat:V1,V2,..."
    if "=" not in text:
        raise ValueError(f"a space parameter is {accepted}, got {text!r}")
    name, spec = (part.strip() for part in text.split("=", 1))
    if not name.isidentifier():
        raise ValueError(f"space parameter name must be an identifier, got {name!r}")
    kind, _, rest = spec.partition(":")
    if kind == "cat":
        values = [parse_value(v.strip()) for v in rest.split(",") if v.strip()]
        if not values:
            raise ValueError(f"space {name}: cat needs at least one value (cat:V1,V2,...), got {spec!r}")
        return name, CategoricalDistribution(values)
    if kind not in ("int", "float"):
        raise ValueError(f"space {name}: kind must be int, float or cat, got {kind!r}; accepted: {accepted}")
    parts = rest.split(":")
    log = parts[-1] == "log"
    parts = parts[:-1] if log else parts
    if len(parts) not in (2, 3):
        raise ValueError(f"space {name}: {kind}:LOW:HIGH[:STEP][:log], got {spec!r}")
    try:
        numbers = [int(p) if kind == "int" else float(p) for p in parts]
    except ValueError:
        raise ValueError(f"space {name}: bounds of an {kind} parameter must be {kind}s, got {spec!r}") from None
    low, high, step = numbers[0], numbers[1], (numbers[2] if len(numbers) == 3 else None)
    if high < low or (log and low <= 0) or (step is not None and step <= 0):
        raise ValueError(f"space {name}: needs LOW <= HIGH, STEP > 0 and LOW > 0 on a log scale, got {spec!r}")
    if log and step is not None:
        raise ValueError(f"space {name}: a log scale takes no STEP, got {spec!r}")
    if kind == "int":
        return name, IntDistribution(low, high, log=log, step=step or 1)
    return name, FloatDistribution(low, high, log=log, step=step)


def parse_space(items) -> dict[str, BaseDistribution]:
    """A space from ``NAME=SPEC`` texts (``--space``) or a ``{name: "SPEC"}`` table (TOML's
    ``[space]``); later entries win."""
    pairs = items.items() if isinstance(items, dict) else (text.split("=", 1) for text in items)
    space = {}
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"a space parameter is NAME=SPEC, got {pair[0]!r}")
        name, dist = parse_space_arg(f"{pair[0]}={pair[1]}")
        space[name] = dist
    return space


def check_space(space: dict, parameter_types: dict, fixed: dict | None = None) -> None:
    """Refuse an empty space and a parameter the strategy does not have (naming the ones it has)."""
    if not space:
        raise ValueError("nothing to search: give at least one --space NAME=int:LOW:HIGH (or a [space] table)")
    unknown = sorted((set(space) | set(fixed or {})) - set(parameter_types))
    if unknown:
        raise ValueError(f"the strategy has no parameter(s) {unknown}; it has {sorted(parameter_types)}")
    both = sorted(set(space) & set(fixed or {}))
    if both:
        raise ValueError(f"parameter(s) {both} are both searched (--space) and fixed (--param): give one")


def compile_constraints(constraints) -> list:
    """Predicates over a parameter dict (the sweep's constraint expressions)."""
    return [compile_constraint(text) for text in constraints]


def satisfies(checks, params: dict) -> bool:
    return all(check(params) for check in checks)


def check_satisfiable(space: dict, constraints, *, seed: int = 0, fixed: dict | None = None,
                      draws: int = SATISFIABILITY_DRAWS) -> None:
    """``ValueError`` when no parameter set among ``draws`` uniform random draws of ``space``
    (and the grid's corners) satisfies the constraints: the study could never run a trial."""
    checks = compile_constraints(constraints)
    if not checks:
        return
    rng = np.random.default_rng(seed)
    for i in range(draws):
        params = {**(fixed or {}), **{n: _draw(d, rng, corner=i) for n, d in space.items()}}
        if satisfies(checks, params):
            return
    raise ValueError(f"no parameter set of the space satisfies the constraint(s) {list(constraints)} "
                     f"({draws} random draws tried): widen the space or relax the constraints")


def _draw(dist: BaseDistribution, rng, corner: int):
    """A uniform draw of ``dist``; the first draws are the corners (low/high of each parameter)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if corner < 2:
        return dist.low if corner == 0 else dist.high
    if isinstance(dist, IntDistribution):
        return int(dist.low + dist.step * rng.integers((dist.high - dist.low) // dist.step + 1))
    return float(rng.uniform(dist.low, dist.high))


def grid_points(space: dict) -> dict[str, list]:
    """The grid sampler's values per parameter: every int step, the categories, and float
    parameters only when they have a STEP."""
    grid = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution):
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif dist.step is not None:
            count = int(round((dist.high - dist.low) / dist.step)) + 1
            grid[name] = [dist.low + i * dist.step for i in range(count)]
        else:
            raise ValueError(f"sampler grid needs a STEP for float parameter {name} (float:LOW:HIGH:STEP)")
    return grid


def grid_order(space: dict, constraints=(), fixed: dict | None = None, *, seed: int = 0,
               limit: int = 1_000_000) -> list[dict]:
    """The grid's points that satisfy the constraints, in a random order fixed by ``seed``: the
    order the grid sampler runs them in (each once). ``ValueError`` past ``limit`` points."""
    grid = grid_points(space)
    if math.prod(len(values) for values in grid.values()) > limit:
        raise ValueError(f"sampler grid: more than {limit:,} points; use tpe or random, or coarser steps")
    checks = compile_constraints(constraints)
    names = list(grid)
    points = [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
    points = [p for p in points if satisfies(checks, {**(fixed or {}), **p})]
    order = np.random.default_rng(seed).permutation(len(points))
    return [points[i] for i in order]


def enqueue_next_point(study: optuna.Study, order: list[dict]) -> bool:
    """The grid sampler's step: unless a trial is waiting (a re-run), enqueue the first point of
    ``order`` that no counted, running or waiting trial has; False when every point has one."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    taken = [t.params for t in trials if counted(t) or t.state == TrialState.RUNNING]
    for point in order:
        if point not in taken:
            study.enqueue_trial(point)
            return True
    return False


def derive_seed(seed: int, index: int, attempt: int = 0) -> int:
    """The sampler's seed before the ``index``-th counted trial (``attempt``: sets of that slot
    already refused by a constraint): 32 bits of SHA-256 of the three."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}:{attempt}".encode()).digest()[:4], "little")


def default_sampler(objectives) -> str:
    """TPE for one objective, NSGA-II for several."""
    return "tpe" if len(objectives) == 1 else "nsga2"


def check_sampler(name: str, space: dict, n_objectives: int) -> None:
    """Refuse a sampler that cannot search this space (naming the accepted ones)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; accepted: {', '.join(SAMPLERS)}")
    if name == "cmaes":
        cats = [n for n, d in space.items() if isinstance(d, CategoricalDistribution)]
        if cats:
            raise ValueError(f"sampler cmaes searches int and float parameters only; {cats} are categorical "
                             f"(use tpe)")
        if n_objectives > 1:
            raise ValueError("sampler cmaes takes one objective; for several use nsga2 or tpe")
    if name == "gp":
        try:
            import torch  # noqa: F401, PLC0415  (GPSampler's own dependency)
        except ImportError:
            raise ValueError("sampler gp needs torch (pip install torch); tpe needs nothing more") from None
    if name == "grid":
        grid_points(space)


def make_sampler(name: str, seed: int, space: dict) -> optuna.samplers.BaseSampler:
    """A fresh sampler ``name`` seeded with ``seed`` (TPE with Optuna's defaults)."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":  # for direct use; the driver enqueues grid_order's points instead (GridSampler's
        # after_trial calls Study.stop() once the grid is exhausted, which ask/tell refuses)
        return optuna.samplers.GridSampler(grid_points(space), seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; accepted: {', '.join(SAMPLERS)}")


def prunes(pruner: str, n_objectives: int) -> bool:
    """Whether trials are pruned at all: not with ``none``, nor with several objectives (Optuna
    prunes single-objective studies only)."""
    return pruner != "none" and n_objectives < 2


def make_pruner(name: str, n_objectives: int = 1) -> optuna.pruners.BasePruner:
    """The pruner between folds: median (default), percentile (25th) or none (always
    none when :func:`prunes` says so)."""
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r}; accepted: {', '.join(PRUNERS)}")
    if not prunes(name, n_objectives):
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5)


def journal_storage(path) -> optuna.storages.JournalStorage:
    """The study's journal file, written only by the driver, with a short lock grace period
    (:data:`LOCK_GRACE_SECONDS`): a lock left by a killed driver is broken that soon."""
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock  # noqa: PLC0415

    path = os.fspath(path)
    return optuna.storages.JournalStorage(
        JournalFileBackend(path, lock_obj=JournalFileOpenLock(path, grace_period=LOCK_GRACE_SECONDS)))


def open_study(path, name: str, directions, *, pruner: str = DEFAULT_PRUNER) -> optuna.Study:
    """Create or reopen study ``name`` in the journal at ``path``; a reopened study must have the
    same objectives' directions."""
    storage = journal_storage(path)
    directions = [d if isinstance(d, str) else d.name.lower() for d in directions]
    study = optuna.create_study(study_name=name, storage=storage, directions=directions, load_if_exists=True,
                                pruner=make_pruner(pruner, len(directions)))
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise ValueError(f"study {name!r} in {path} has directions {found}, these objectives want {directions}: "
                         f"give another --study name")
    return study


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards the budget: complete, pruned, or failed because the
    strategy raised (not a constraint rejection, nor a trial interrupted by a kill)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("failure") == FAILURE_ERROR


def counted_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if counted(t)]


def recover_zombies(study: optuna.Study) -> list[int]:
    """Fail every RUNNING trial (the driver is the only writer: at its start they are the trials a
    killed driver left) and re-enqueue their parameters, in trial order; returns their numbers."""
    zombies = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    for trial in zombies:
        study._storage.set_trial_user_attr(trial._trial_id, "failure", FAILURE_INTERRUPTED)
        study.tell(trial.number, state=TrialState.FAIL)
    for trial in zombies:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return [t.number for t in zombies]


def ask(study: optuna.Study, space: dict, *, sampler: str, seed: int, index: int, attempt: int = 0) -> optuna.Trial:
    """The next trial (an enqueued one first), sampled by a fresh sampler seeded with
    ``derive_seed(seed, index, attempt)``."""
    study.sampler = make_sampler(sampler, derive_seed(seed, index, attempt), space)
    return study.ask(space)


def reject(study: optuna.Study, trial: optuna.Trial) -> None:
    """Tell a trial whose parameters break a constraint: FAIL, ``failure = "constraint"``."""
    trial.set_user_attr("failure", FAILURE_CONSTRAINT)
    study.tell(trial, state=TrialState.FAIL)


def pruning_snapshot(study: optuna.Study) -> list[FrozenTrial]:
    """The complete trials a worker's pruner compares against (plain, picklable). Not copied:
    the driver puts it in the object store at once, which copies it."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def pruning_judge(pruner: str, directions, snapshot: list[FrozenTrial]) -> optuna.Study | None:
    """The in-memory study a fold pruner judges against: ``snapshot`` (the trials complete when
    a batch was asked) under ``pruner``; None without pruning (:func:`prunes`). Judging adds
    nothing to it, so one judge serves every trial of its batch: it costs a copy of each trial
    in the snapshot."""
    if not prunes(pruner, len(directions)):
        return None
    study = optuna.create_study(directions=list(directions), pruner=make_pruner(pruner))
    study.add_trials(snapshot)
    return study


def fold_pruner(judge: optuna.Study | None, number: int):
    """``report(fold_index, oos_value) -> bool`` for :func:`evaluate_trial` of trial ``number``:
    True when the judge's pruner (:func:`pruning_judge`) would prune it after that fold, judged
    against the judge's snapshot (the same decision on any actor, in any order). None without a
    judge."""
    if judge is None:
        return None
    trial = optuna.trial.create_trial(state=TrialState.RUNNING, params={}, distributions={})
    values: dict[int, float] = {}

    def report(fold_index: int, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        values[fold_index] = float(value)
        trial.intermediate_values = dict(values)
        trial.number = number
        return bool(judge.pruner.prune(judge, trial))

    return report
