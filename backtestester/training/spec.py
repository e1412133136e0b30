"""What to train: :class:`TrainSpec` (plain data), from ``backtestester train``'s options or its TOML
file (``--config train.toml``; the option wins over the key). Pure: the console script registers
the options (:func:`add_train_arguments`) and hands the spec to the Ray driver (``actors/train.py``).
The run options (symbols to engine) are spelled and defaulted as the sweep's (one spelling per
concept: :class:`~backtestester.sweep.config.RunConfig`)."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.playground import FILL_MODELS
from ..strategy import load_strategy
from ..sweep.arguments import fixed_params, load_toml
from ..sweep.config import DEFAULT_STRATEGY, ENGINES, RunConfig
from .cpcv_check import parse_cpcv
from .evaluate import objective_direction
from .folds import SCHEMES
from .search import (
    DEFAULT_PRUNER,
    PRUNERS,
    SAMPLERS,
    check_sampler,
    check_satisfiable,
    check_space,
    default_sampler,
    parse_space,
)


@dataclass
class TrainSpec:
    """A training study: the strategy and its data, the space (``{name: "int:5:50"}`` texts, as
    given), constraints, fixed parameters, objectives (statistics of :mod:`backtestester.stats`),
    the budget of counted trials, the sampler and pruner, the walk-forward folds, the holdout
    fraction (the lockbox, evaluated once at the end), the CPCV diagnostic of the best
    (:mod:`~.cpcv_check`), the seed, the batch size (trials asked and
    told together: fixed, so results do not depend on the number of actors), the study's name and
    its directory."""

    strategy: str = DEFAULT_STRATEGY
    symbols: tuple = RunConfig.symbols
    timeframe: str = RunConfig.timeframe
    space: dict = field(default_factory=dict)
    constraints: tuple = ()
    fixed: dict = field(default_factory=dict)
    objectives: tuple = ("sharpe",)
    trials: int = 100
    sampler: str | None = None          # None: tpe for one objective, nsga2 for several
    pruner: str = DEFAULT_PRUNER
    folds: int = 5
    scheme: str = "anchored"
    train_bars: int | None = None
    test_bars: int | None = None
    purge: int = 0
    embargo: int = 0
    holdout: float = 0.2
    cpcv: str | None = None             # "GROUPS:TEST_GROUPS", "off"; None: 6:2 when the search bars allow it
    seed: int = 0
    batch_size: int = 4
    study: str | None = None            # None: <Strategy>-<symbols>-<timeframe>
    out: str | None = None              # None: reports/train/<study>
    balance: float = RunConfig.balance
    fill_model: str = RunConfig.fill_model
    calendar: str | None = RunConfig.calendar
    commission_rate: float = RunConfig.commission_rate
    slippage_rate: float = RunConfig.slippage_rate
    engine: str = RunConfig.engine

    @property
    def sampler_name(self) -> str:
        return self.sampler or default_sampler(self.objectives)

    @property
    def study_name(self) -> str:
        if self.study:
            return self.study
        return f"{self.strategy.rsplit(':', 1)[-1]}-{'-'.join(self.symbols)}-{self.timeframe}"

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("reports") / "train" / self.study_name

    @property
    def options(self) -> dict:
        """The run options a :class:`~backtestester.training.evaluate.TrialSpec` carries."""
        return dict(balance=self.balance, fill_model=self.fill_model, calendar=self.calendar,
                    commission_rate=self.commission_rate, slippage_rate=self.slippage_rate, engine=self.engine)

    def distributions(self) -> dict:
        return parse_space(self.space)

    def check(self) -> type:
        """Check the spec whole, before any data is read or actor started; returns the strategy
        class. ``ValueError`` names what is wrong and what is accepted."""
        cls = load_strategy(self.strategy)
        space = self.distributions()
        check_space(space, cls.parameter_types(), self.fixed)
        self.fixed = {name: cls.coerce_parameter(name, value) for name, value in self.fixed.items()}
        if not self.objectives:
            raise ValueError("no objective: give at least one statistic (--objective sharpe)")
        for name in self.objectives:
            objective_direction(name)  # ValueError naming the accepted statistics
        check_sampler(self.sampler_name, space, len(self.objectives))
        if self.pruner not in PRUNERS:
            raise ValueError(f"unknown pruner {self.pruner!r}; accepted: {', '.join(PRUNERS)}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown fold scheme {self.scheme!r}; accepted: {', '.join(SCHEMES)}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        for name, low in (("trials", 1), ("folds", 1), ("batch_size", 1), ("purge", 0), ("embargo", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if not 0 <= self.holdout < 1:
            raise ValueError(f"holdout is a fraction of the bars in [0, 1), got {self.holdout}")
        parse_cpcv(self.cpcv)  # ValueError naming the accepted forms
        if not self.symbols:
            raise ValueError("no symbols to train on: give at least one (--symbols)")
        if not re.fullmatch(r"[\w.-]+", self.study_name):
            raise ValueError(f"study name: letters, digits, '.', '_' and '-' only, got {self.study_name!r}")
        check_satisfiable(space, self.constraints, seed=self.seed, fixed=self.fixed)
        return cls


# TrainSpec field <- (command-line option, TOML key); the option wins over the key.
_OPTIONS = {"strategy": "strategy", "symbols": "symbols", "timeframe": "timeframe", "trials": "trials",
            "sampler": "sampler", "pruner": "pruner", "folds": "folds", "scheme": "scheme",
            "train_bars": "train_bars", "test_bars": "test_bars", "purge": "purge", "embargo": "embargo",
            "holdout": "holdout", "cpcv": "cpcv", "seed": "seed", "batch_size": "batch_size", "study": "study", "out": "out",
            "balance": "balance", "fill_model": "fill_model", "calendar": "calendar",
            "commission_rate": "commission", "slippage_rate": "slippage", "engine": "engine"}
_TOML_KEYS = set(_OPTIONS.values()) | {"space", "fixed", "constraints", "objective"}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Register ``train``'s options on ``p`` (the run options spelled as ``sweep``'s)."""
    p.add_argument("--config", type=Path, help="TOML file with the same keys as these options (docs/training/search.md)")
    p.add_argument("--strategy", help=f"package.module:Class (default {DEFAULT_STRATEGY})")
    p.add_argument("--symbols", nargs="+", action="extend", metavar="SYMBOL",
                   help=f"symbols in the data catalog (default {' '.join(RunConfig.symbols)})")
    p.add_argument("--timeframe", help=f"bar timeframe (default {RunConfig.timeframe})")
    p.add_argument("--space", action="append", default=[], metavar="NAME=KIND:...",
                   help="a searched parameter: NAME=int:LOW:HIGH[:STEP][:log], NAME=float:LOW:HIGH[:STEP|:log] "
                        "or NAME=cat:A,B (repeat for each)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a fixed parameter")
    p.add_argument("--constraint", action="append", default=[], metavar="EXPR", help='e.g. "fast < slow"')
    p.add_argument("--objective", metavar="NAME[,NAME]", help="statistic(s) to optimise out of sample "
                                                               "(default sharpe; several: NSGA-II)")
    p.add_argument("--trials", type=int, help=f"trials to finish, pruned included (default {TrainSpec.trials})")
    p.add_argument("--sampler", choices=SAMPLERS, help="tpe (default for one objective), gp, cmaes, random, grid, "
                                                       "nsga2 (default for several)")
    p.add_argument("--pruner", choices=PRUNERS, help=f"pruning between folds (default {DEFAULT_PRUNER})")
    p.add_argument("--folds", type=int, help=f"walk-forward folds (default {TrainSpec.folds})")
    p.add_argument("--scheme", choices=SCHEMES, help="anchored (growing in-sample) or rolling walk-forward")
    p.add_argument("--train-bars", type=int, help="in-sample bars of a rolling fold (default: automatic)")
    p.add_argument("--test-bars", type=int, help="out-of-sample bars of a fold (default: automatic)")
    p.add_argument("--purge", type=int, help="bars dropped between in-sample and out-of-sample (default 0)")
    p.add_argument("--embargo", type=int, help="bars dropped after each out-of-sample window (default 0)")
    p.add_argument("--holdout", type=float, help=f"fraction of the last bars kept for the final, once-only "
                                                 f"test of the best (default {TrainSpec.holdout})")
    p.add_argument("--cpcv", metavar="GROUPS:TEST_GROUPS", help="combinatorial purged cross-validation of the best "
                   "over the search bars, a diagnostic (default 6:2 when the bars allow it; 'off' to skip)")
    p.add_argument("--seed", type=int, help=f"the sampler's seed (default {TrainSpec.seed})")
    p.add_argument("--batch-size", type=int, help=f"trials asked and told together (default {TrainSpec.batch_size}; "
                                                  f"results do not depend on --workers)")
    p.add_argument("--study", help="study name; the same name resumes it (default <Strategy>-<symbols>-<timeframe>)")
    p.add_argument("--out", help="study directory: journal, trials, report (default reports/train/<study>)")
    p.add_argument("--balance", type=float, help=f"starting cash of each run (default {RunConfig.balance:g})")
    p.add_argument("--fill-model", choices=FILL_MODELS, help=f"default {RunConfig.fill_model}")
    p.add_argument("--calendar", help=f"exchange code (default {RunConfig.calendar}), or 'none' for 24/7")
    p.add_argument("--commission", type=float, help="fraction of traded value, e.g. 0.0005")
    p.add_argument("--slippage", type=float, help="fraction of price, e.g. 0.0001")
    p.add_argument("--engine", choices=ENGINES, help="event-driven engine or the compiled fast path")
    p.add_argument("--workers", type=int, help="backtest actors (default: the cluster's CPUs)")
    p.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    p.add_argument("--data-dir", help="data catalog directory (default: BACKTESTESTER_DATA, else ./data)")
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and scripts)")


def _objectives(value) -> tuple:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if str(item).strip())


def spec_from_args(args) -> TrainSpec:
    """A :class:`TrainSpec` from the TOML file (if any) overridden by the options."""
    conf = load_toml(args.config) if args.config else {}
    unknown = set(conf) - _TOML_KEYS
    if unknown:
        raise ValueError(f"unknown keys in {args.config}: {sorted(unknown)}; accepted: {sorted(_TOML_KEYS)}")
    given = {}
    for name, key in _OPTIONS.items():
        value = getattr(args, key, None)
        value = value if value is not None else conf.get(key)
        if value is not None:
            given[name] = value
    space = conf.get("space", {})
    if not isinstance(space, dict):
        raise ValueError(f"space in {args.config} must be a table ([space] with NAME = \"int:LOW:HIGH\" lines)")
    space = {**{str(k): str(v) for k, v in space.items()}, **dict(t.split("=", 1) for t in args.space if "=" in t)}
    bad = [t for t in args.space if "=" not in t]
    if bad:
        raise ValueError(f"a space parameter is NAME=int:LOW:HIGH (or float:, cat:), got {bad[0]!r}")
    fixed = fixed_params(conf, args.param)
    if "symbols" in given:
        given["symbols"] = tuple(s.upper() for s in given["symbols"])
    if "calendar" in given and str(given["calendar"]).lower() == "none":
        given["calendar"] = None
    objective = args.objective if args.objective is not None else conf.get("objective", "sharpe")
    return TrainSpec(**given, space={k.strip(): v.strip() for k, v in space.items()}, fixed=fixed,
                     objectives=_objectives(objective),
                     constraints=tuple(conf.get("constraints", [])) + tuple(args.constraint))


@dataclass
class StudyResult:
    """A finished study: its spec; the outcome of every evaluated trial, in trial order (complete,
    pruned and failed: ``outcome.state``; a failed one carries its traceback in ``error``); the
    best (by the first objective's mean out-of-sample score; None when no trial completed); the
    best's scores on the holdout (evaluated once; None without a holdout); the overfitting
    diagnostics; the journal file; the report's files (``{}`` until written); and the best's CPCV
    diagnostic (:func:`~.cpcv_check.summarize`'s fields with ``groups``, ``test_groups``, ``bars``;
    ``{"note": ...}`` when off or skipped; None without a best)."""

    spec: TrainSpec
    outcomes: list
    best: object | None
    holdout: dict | None
    diagnostics: dict
    study_path: str
    census: dict = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    cpcv: dict | None = None
