"""The training driver: one process asks Optuna for trials and tells it their out-of-sample scores;
the sweep's actors (:class:`~actors.pool.SweepPool`) only run backtests, reading the tables in
place from the object store.

:func:`run_training` checks the spec whole before Ray starts (a bad one is a ``ValueError``), cuts
the bars into the search part (walk-forward folds) and the holdout, opens the study's journal
(``<out>/journal.log``; a study of the same name resumes: trials a killed driver left running are
failed and their parameters re-run), then goes batch by batch: asks ``batch_size`` trials (a fresh
sampler seeded from ``(seed, trials so far)`` before each ask; a set that breaks a constraint is
told FAIL and asked again), has the actors evaluate them (every fold; the pruner, judging against
the trials complete before the batch, can stop a trial between folds), saves each outcome
(``<out>/trials/<n>.arrow``) and tells the study in trial-number order. A trial whose strategy
raised is told FAIL with its traceback and the study goes on. At the end the best trial is
evaluated on the CPCV splits of the search bars (a diagnostic: the distribution of its
out-of-sample Sharpe over the recombined paths, :func:`_cpcv`) and once on the holdout. The
search's pure parts live in :mod:`backtestester.training`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from optuna.distributions import IntDistribution
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from backtestester.sweep.execute import load_repositories
from backtestester.sweep.prepare import read_tables
from backtestester.training import search
from backtestester.training.cpcv_check import path_sharpe, plan_cpcv, summarize
from backtestester.training.diagnostics import study_diagnostics
from backtestester.training.evaluate import (
    TrialOutcome,
    TrialSpec,
    cpcv_path_returns,
    evaluate_trial,
    objective_direction,
    run_config,
)
from backtestester.training.folds import Fold, Lockbox, split_holdout, walk_forward
from backtestester.training.report import write_report
from backtestester.training.spec import StudyResult, TrainSpec
from backtestester.training.trial_files import load_outcome, save_outcome

from .cluster import init_ray
from .pool import SweepPool

MAX_CALL_RETRIES = 2          # a trial whose actor died is run again on a new actor this many times
MAX_REJECTIONS_PER_TRIAL = 100  # sets refused by the constraints in a row before the study gives up
MIN_WINDOW_BARS = 30          # fewest bars of a fold's training or test window


def run_training(spec: TrainSpec, *, data_dir=None, tables: dict | None = None, address: str | None = None,
                 workers: int | None = None, show_progress: bool = True, console=None,
                 pool: SweepPool | None = None) -> StudyResult:
    """Run (or resume) the study ``spec`` until ``spec.trials`` trials are counted (complete,
    pruned, or failed because the strategy raised); returns its :class:`StudyResult`. Data comes
    from ``tables`` ``{(symbol, timeframe): pyarrow.Table}`` or the catalog at ``data_dir``.
    ``workers`` actors (default: the cluster's CPUs) are started, or those of ``pool`` used."""
    console = console or Console(stderr=True)
    spec.check()
    data = read_tables(spec, data_dir, tables)
    folds, holdout = plan_folds(spec, len(data[(spec.symbols[0], spec.timeframe)]))
    cpcv_plan = plan_cpcv(spec.cpcv, folds[-1].test[1], purge=spec.purge, embargo=spec.embargo,
                          min_group_bars=MIN_WINDOW_BARS)  # the search bars only: the folds end where they end
    out = spec.out_dir
    out.mkdir(parents=True, exist_ok=True)
    directions = [objective_direction(name) for name in spec.objectives]
    study = search.open_study(out / "journal.log", spec.study_name, directions, pruner=spec.pruner)
    _check_same_study(study, spec)
    zombies = search.recover_zombies(study)
    if zombies:
        console.print(f"resuming {spec.study_name}: trial(s) {zombies} were running when the last driver stopped; "
                      f"marked failed, run again")
    budget = _budget(spec, console)
    evaluator = _Lazy(lambda: _Evaluator(data, address=address, workers=workers, pool=pool, engine=spec.engine))
    try:
        if len(search.counted_trials(study)) < budget:
            _Driver(spec, study, folds, directions, evaluator(), out, budget).run(console, show_progress)
        outcomes = [load_outcome(out, t.number) for t in search.counted_trials(study)]
        best = _best(study, outcomes)
        cpcv_record = _cpcv(study, spec, best, cpcv_plan, data, evaluator)
        holdout_scores = _holdout(study, spec, best, folds, holdout, data, out)
    finally:
        evaluator.end()
    census = {state: sum(o.state == state for o in outcomes) for state in ("complete", "pruned", "failed")}
    result = StudyResult(spec, outcomes, best, holdout_scores, _diagnostics(outcomes, best, cpcv_record),
                         str(out / "journal.log"), census, cpcv=cpcv_record)
    result.reports = write_report(result, out, study=study)
    return result


def _budget(spec: TrainSpec, console) -> int:
    """The trials to count: ``spec.trials``, or fewer when the grid sampler's grid (the points
    that satisfy the constraints) is smaller: each point is run once."""
    if spec.sampler_name != "grid":
        return spec.trials
    size = len(search.grid_order(spec.distributions(), spec.constraints, spec.fixed))
    if size < spec.trials:
        console.print(f"the grid has {size} points that satisfy the constraints: {size} trials, not {spec.trials}")
        return size
    return spec.trials


def plan_folds(spec: TrainSpec, n_bars: int) -> tuple[list, tuple | None]:
    """The walk-forward folds over the search part and the holdout range (None without one);
    ``ValueError`` when the bars are too few for them: every training window must hold
    :func:`warmup_bars` bars and every test window :data:`MIN_WINDOW_BARS`."""
    if spec.holdout > 0:
        search_end, holdout = split_holdout(n_bars, spec.holdout, purge=spec.purge)
    else:
        search_end, holdout = n_bars, None
    folds = walk_forward(search_end, folds=spec.folds, scheme=spec.scheme, train_bars=spec.train_bars,
                         test_bars=spec.test_bars, purge=spec.purge, embargo=spec.embargo)
    warmup = warmup_bars(spec)
    train = min(f.train[1] - f.train[0] for f in folds)
    test = min(f.test[1] - f.test[0] for f in folds)
    if train < warmup or test < MIN_WINDOW_BARS:
        raise ValueError(f"folds too short for the data: {spec.folds} {spec.scheme} folds over {search_end} bars give "
                         f"training windows of {train} bars and test windows of {test}; each training window needs "
                         f">= {warmup} bars (the strategy's warm-up: the largest integer parameter) and each test "
                         f"window >= {MIN_WINDOW_BARS}: give fewer --folds, a smaller --holdout or more data")
    return folds, holdout


def warmup_bars(spec: TrainSpec) -> int:
    """The bars a training window must hold: the largest integer parameter the study can give
    (lookbacks such as ``slow`` are integers; a window shorter than one cannot warm the indicator
    up), at least :data:`MIN_WINDOW_BARS`."""
    highs = [d.high for d in spec.distributions().values() if isinstance(d, IntDistribution)]
    highs += [v for v in spec.fixed.values() if isinstance(v, int) and not isinstance(v, bool)]
    return max([MIN_WINDOW_BARS, *highs])


def _identity(spec: TrainSpec) -> dict:
    """What fixes a study's trials: a study reopened with other values is refused."""
    return {"strategy": spec.strategy, "symbols": list(spec.symbols), "timeframe": spec.timeframe,
            "space": spec.space, "constraints": list(spec.constraints), "fixed": spec.fixed,
            "objectives": list(spec.objectives), "sampler": spec.sampler_name, "pruner": spec.pruner,
            "folds": [spec.folds, spec.scheme, spec.train_bars, spec.test_bars, spec.purge, spec.embargo],
            "holdout": spec.holdout, "seed": spec.seed, "batch_size": spec.batch_size, **spec.options}


def _check_same_study(study, spec: TrainSpec) -> None:
    identity = json.loads(json.dumps(_identity(spec), default=str))
    found = study.user_attrs.get("spec")
    if found is None:
        study.set_user_attr("spec", identity)
        return
    changed = sorted(k for k in set(found) | set(identity) if found.get(k) != identity.get(k))
    if changed:
        raise ValueError(f"study {spec.study_name!r} in {spec.out_dir} was run with other settings "
                         f"({', '.join(f'{k}: {found.get(k)!r}' for k in changed)}): resume it with those, or give "
                         f"another --study name")


class _Driver:
    """Asks, evaluates and tells batch after batch until the budget is counted."""

    def __init__(self, spec: TrainSpec, study, folds, directions, evaluator, out: Path, budget: int):
        self.spec, self.study, self.folds, self.directions = spec, study, folds, directions
        self.evaluator, self.out, self.budget = evaluator, out, budget
        self.space = spec.distributions()
        self.checks = search.compile_constraints(spec.constraints)
        # The grid sampler: each point that satisfies the constraints enqueued in turn, in a seeded order.
        self.grid = (search.grid_order(self.space, spec.constraints, spec.fixed, seed=spec.seed)
                     if spec.sampler_name == "grid" else None)
        self.done = len(search.counted_trials(study))
        self.best_text = ""

    def run(self, console, show_progress: bool) -> None:
        progress = _progress(console, show_progress)
        with progress:
            task = progress.add_task("train", total=self.budget, completed=self.done, best=self.best())
            while self.done < self.budget:
                # Batches end at multiples of batch_size: a study killed while telling a batch ends
                # that batch with its re-run trials alone, as the uninterrupted study ended it.
                size = self.spec.batch_size - self.done % self.spec.batch_size
                batch = self.ask_batch(min(size, self.budget - self.done))
                pruning = ((self.spec.pruner, self.directions, search.pruning_snapshot(self.study))
                           if search.prunes(self.spec.pruner, len(self.directions)) else None)
                outcomes = self.evaluator.evaluate([self.trial_spec(t) for t in batch], pruning)
                for trial, outcome in sorted(zip(batch, outcomes), key=lambda pair: pair[0].number):
                    self.tell(trial, outcome)
                self.done = len(search.counted_trials(self.study))
                progress.update(task, completed=self.done, best=self.best())

    def ask_batch(self, size: int) -> list:
        batch = []
        while len(batch) < size:
            if self.grid is not None:
                search.enqueue_next_point(self.study, self.grid)
            for attempt in range(MAX_REJECTIONS_PER_TRIAL):
                trial = search.ask(self.study, self.space, sampler="random" if self.grid is not None else
                                   self.spec.sampler_name, seed=self.spec.seed, index=self.done + len(batch),
                                   attempt=attempt)
                if search.satisfies(self.checks, {**self.spec.fixed, **trial.params}):
                    batch.append(trial)
                    break
                search.reject(self.study, trial)
            else:
                for trial in batch:  # not run: failed as interrupted, so a later run re-asks them
                    trial.set_user_attr("failure", search.FAILURE_INTERRUPTED)
                    self.study.tell(trial, state=TrialState.FAIL)
                raise ValueError(f"the sampler proposed {MAX_REJECTIONS_PER_TRIAL} parameter sets in a row that "
                                 f"break the constraint(s) {list(self.spec.constraints)}: relax them or narrow the "
                                 f"space so that most sets satisfy them")
        return batch

    def trial_spec(self, trial) -> TrialSpec:
        return TrialSpec(number=trial.number, params={**self.spec.fixed, **trial.params}, strategy=self.spec.strategy,
                         symbols=tuple(self.spec.symbols), timeframe=self.spec.timeframe, folds=list(self.folds),
                         objective=tuple(self.spec.objectives), options=self.spec.options)

    def tell(self, trial, outcome) -> None:
        """Save the outcome, then tell the study: FAIL (with the traceback) when the strategy
        raised or the score is not a number, PRUNED when folds are missing, else COMPLETE."""
        values = [float(v) for v in outcome.score] if outcome.error is None else []
        if outcome.error is None and (len(values) != len(self.directions) or not all(map(math.isfinite, values))):
            outcome.error = f"objective(s) {list(self.spec.objectives)} are not finite: {values} (no trades?)"
        state = outcome.state
        save_outcome(self.out, outcome)
        trial.set_user_attr("oos_scores", outcome.oos_scores)
        trial.set_user_attr("is_scores", outcome.is_scores)
        if state == "failed":
            trial.set_user_attr("failure", search.FAILURE_ERROR)
            trial.set_user_attr("traceback", outcome.error[-4000:])
            self.study.tell(trial, state=TrialState.FAIL)
            return
        if len(self.directions) == 1:
            name = self.spec.objectives[0]
            for k, scores in enumerate(outcome.oos_scores):
                if scores.get(name) is not None and math.isfinite(scores[name]):
                    trial.report(float(scores[name]), k)
        if state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, values)

    def best(self) -> str:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if complete:
            sign = 1 if self.directions[0] == "maximize" else -1
            top = max(complete, key=lambda t: sign * t.values[0])
            params = " ".join(f"{k}={_short(v)}" for k, v in top.params.items())
            self.best_text = f"best {self.spec.objectives[0]} {top.values[0]:.3f}: {params}"
        return self.best_text


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Evaluator:
    """The actors and the tables in the object store; evaluates a batch, each actor one trial
    at a time (results do not depend on which actor ran what, nor in which order)."""

    def __init__(self, tables: dict, *, address, workers, pool, engine):
        self.ray = init_ray(address)
        self.own_pool = pool is None
        self.pool = pool or SweepPool(workers, address=address, engines=engine)
        self.n = min(workers or self.pool.workers, self.pool.workers)
        self.table_refs = {key: [self.ray.put(table)] for key, table in tables.items()}

    def evaluate(self, specs: list, pruning) -> list:
        # one object per batch, named inside a list so that each actor gets the reference (and
        # builds its judge once per batch), not a copy per trial
        pruning_ref = [self.ray.put(pruning)] if pruning else None
        todo = [(spec, 0) for spec in specs]
        results, in_flight = {}, {}
        idle = list(range(self.n))
        while todo or in_flight:
            while todo and idle:
                spec, tries = todo.pop(0)
                i = idle.pop(0)
                in_flight[self.pool.hosts[i].run_trials.remote(self.table_refs, [spec], pruning_ref)] = (i, spec, tries)
            ready, _ = self.ray.wait(list(in_flight), num_returns=1)
            i, spec, tries = in_flight.pop(ready[0])
            try:
                results[spec.number] = self.ray.get(ready[0])[0]
            except self.ray.exceptions.RayActorError:
                self.pool.replace(i)
                if tries >= MAX_CALL_RETRIES:
                    raise RuntimeError(f"trial {spec.number}: its actor died {tries + 1} times running it") from None
                todo.insert(0, (spec, tries + 1))
            idle.append(i)
        return [results[spec.number] for spec in specs]

    def end(self) -> None:
        if self.own_pool:
            self.pool.close()
        else:
            self.pool.release()


def _best(study, outcomes: list):
    """The complete trial with the best first objective (of the Pareto front with several)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    if len(study.directions) > 1:
        complete = study.best_trials
    sign = 1 if study.directions[0].name.lower() == "maximize" else -1
    number = max(complete, key=lambda t: (sign * t.values[0], -t.number)).number
    return next(o for o in outcomes if o.number == number)


def _holdout(study, spec: TrainSpec, best, folds, holdout, tables, out: Path) -> dict | None:
    """The best trial's scores on the holdout, evaluated once per study (kept in the study's
    user attributes: a resumed or repeated run reads them, never looks at the holdout again)."""
    if holdout is None or best is None:
        return None
    kept = study.user_attrs.get("holdout")
    if kept is not None and kept.get("number") == best.number:
        return kept
    Lockbox(out, holdout).open()  # the once-only look: a second one warns loudly
    last = folds[-1]
    fold = Fold(index=0, train=(last.train[0], holdout[0] - spec.purge), test=tuple(holdout))  # warm-up: the last fold's
    one = TrialSpec(number=best.number, params=dict(best.params), strategy=spec.strategy, symbols=tuple(spec.symbols),
                    timeframe=spec.timeframe, folds=[fold], objective=tuple(spec.objectives), options=spec.options)
    outcome = evaluate_trial(one, tables)
    scores = {"number": best.number, "params": best.params, "bars": list(holdout),
              "is_scores": outcome.is_scores[0] if outcome.is_scores else {},
              "oos_scores": outcome.oos_scores[0] if outcome.oos_scores else {}, "error": outcome.error}
    scores = json.loads(json.dumps(scores, default=float))
    study.set_user_attr("holdout", scores)
    return scores


def _diagnostics(outcomes: list, best, cpcv_record: dict | None = None) -> dict:
    """PSR, DSR, MinTRL, PBO and the verdict of the study (none without a complete trial); the
    verdict ends with the CPCV paths that lose ("CPCV: 2 of 5 paths lose") when CPCV ran."""
    if best is None:
        return {"notes": ["no trial completed: nothing to diagnose"]}
    diagnostics = study_diagnostics(outcomes, best)
    if cpcv_record and "n_paths" in cpcv_record and diagnostics.get("verdict"):
        diagnostics["verdict"] = (f"{diagnostics['verdict']} CPCV: {cpcv_record['losing']} of "
                                  f"{cpcv_record['n_paths']} paths lose.")
    return diagnostics


class _Lazy:
    """The study's evaluator, made (actors started) when first asked for: a finished study that
    answers everything from disk starts none."""

    def __init__(self, make):
        self.make, self.made = make, None

    def __call__(self):
        if self.made is None:
            self.made = self.make()
        return self.made

    def end(self) -> None:
        if self.made is not None:
            self.made.end()


def _cpcv(study, spec: TrainSpec, best, plan: tuple, tables, evaluator_of) -> dict | None:
    """The best trial's CPCV diagnostic (:mod:`backtestester.training.cpcv_check`) on the splits of
    ``plan`` (:func:`plan_cpcv` of the search bars: never the holdout), one split per actor call;
    kept in the study's user attributes, so a resumed or finished study answers from disk while
    the best, the split and the bars are the same. None without a best; ``{"note": ...}`` when
    off or skipped."""
    splits, note = plan
    if best is None:
        return None
    if splits is None:
        return {"note": note}
    groups, test_groups = 1 + max(max(s.test_groups) for s in splits), len(splits[0].test_groups)
    search_bars = max(b for _, b in (*splits[0].train, *splits[0].test))
    key = {"number": best.number, "groups": groups, "test_groups": test_groups, "bars": [0, search_bars],
           "purge": spec.purge, "embargo": spec.embargo}
    kept = study.user_attrs.get("cpcv")
    if kept is not None and all(kept.get(k) == v for k, v in key.items()):
        return kept
    specs = [TrialSpec(number=s.index, params=dict(best.params), strategy=spec.strategy, symbols=tuple(spec.symbols),
                       timeframe=spec.timeframe, folds=[s], objective=tuple(spec.objectives), options=spec.options)
             for s in splits]
    outcomes = evaluator_of().evaluate(specs, None)
    record = {**key, "note": note, "params": best.params}
    failed = next((o.error for o in outcomes if o.error), None)
    if failed:
        record["error"] = failed[-4000:]
    else:
        merged = TrialOutcome(best.number, dict(best.params), oos_returns=[o.oos_returns[0] for o in outcomes],
                              oos_times=[o.oos_times[0] for o in outcomes])
        axis = load_repositories(run_config(specs[0]), tables, None)[0]
        paths = cpcv_path_returns(merged, splits, axis.start_ns, axis.period_ns)
        record.update(summarize([path_sharpe(returns) for _, returns in paths]))
    record = json.loads(json.dumps(record, default=float))
    study.set_user_attr("cpcv", record)
    return record


def _progress(console, enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[best]}"), console=console,
                    disable=not enabled, transient=False)
