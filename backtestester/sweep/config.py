"""What to run: one run's configuration (:class:`RunConfig`, frozen plain data that crosses Ray
and gRPC, with a stable id) and a sweep's (:class:`SweepSpec`, the factory of its RunConfigs).
The defaults of both are written here once: RunConfig's, which SweepSpec takes over."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from ..engine.playground import FILL_MODELS
from .space import grid_space, random_space

ENGINES = ("event", "fast")
# The run settings a header prints (RunConfig.describe), the fields SweepSpec hands to its runs.
RUN_SETTINGS = ("symbols", "timeframe", "start", "end", "balance", "fill_model", "calendar", "commission_rate",
                "slippage_rate", "engine")
DEFAULT_STRATEGY = "backtestester.strategy.reference:SmaCross"
DEFAULT_METRIC = "sharpe"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one backtest. ``config_id`` is a hash of all of it, so a sweep
    that is run again recognises the runs it already has; with the fingerprints of the strategy's
    code and of the data (:mod:`~backtestester.sweep.identity`), a run of changed code or data
    is a new run."""

    strategy: str                       # "package.module:Class"
    params: tuple = ()                  # sorted ((name, value), ...)
    symbols: tuple = ("SYNTH",)
    timeframe: str = "1m"
    start: str | None = None            # ISO date/datetime or None: the data's first bar
    end: str | None = None
    balance: float = 100_000.0
    fill_model: str = "next_open"
    calendar: str | None = "XNYS"
    commission_rate: float = 0.0
    slippage_rate: float = 0.0
    engine: str = "event"
    strategy_fingerprint: str = ""      # of the strategy's source (sweep/identity.py); "" unknown
    data_fingerprint: str = ""          # of the tables it runs on (sweep/identity.py); "" unknown
    extra: tuple = field(default=())    # reserved for options added later, keeps ids stable

    def __post_init__(self):
        if not isinstance(self.strategy, str) or self.strategy.count(":") != 1:
            raise ValueError(f"strategy must be named 'package.module:Class', got {self.strategy!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.fill_model not in FILL_MODELS:
            raise ValueError(f"fill_model must be one of {FILL_MODELS}, got {self.fill_model!r}")
        object.__setattr__(self, "params", tuple(sorted(dict(self.params).items())))
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def config_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of every field."""
        blob = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self, data: str | None = None) -> str:
        """The settings that reproduce this run, in one line: the header of a backtest and of a
        sweep. ``data`` replaces the date range (e.g. ``"100,000 generated bars (seed 7)"``)."""
        dates = data or f"{self.start or 'the first bar'} to {self.end or 'the last bar'}"
        return (f"{', '.join(self.symbols)} {self.timeframe}, {dates}, balance {self.balance:,.2f}, "
                f"fill model {self.fill_model}, commission {self.commission_rate:g}, slippage {self.slippage_rate:g}, "
                f"calendar {self.calendar or 'none (24/7)'}, engine {self.engine}")


@dataclass
class SweepSpec:
    """What to sweep. ``grid`` maps parameter names to value lists; ``random`` draws that many
    distinct sets from the grid's values instead of taking all of them. The run options (symbols
    to engine) default to :class:`RunConfig`'s; ``metric`` ranks the results."""

    strategy: str
    grid: dict = field(default_factory=dict)
    constraints: tuple = ()
    fixed: dict = field(default_factory=dict)
    random: int | None = None
    seed: int = 0
    symbols: tuple = RunConfig.symbols
    timeframe: str = RunConfig.timeframe
    start: str | None = RunConfig.start
    end: str | None = RunConfig.end
    balance: float = RunConfig.balance
    fill_model: str = RunConfig.fill_model
    calendar: str | None = RunConfig.calendar
    commission_rate: float = RunConfig.commission_rate
    slippage_rate: float = RunConfig.slippage_rate
    engine: str = RunConfig.engine
    metric: str = DEFAULT_METRIC

    def describe(self) -> str:
        """The settings every run of the sweep shares (:meth:`RunConfig.describe`): its header."""
        return RunConfig(strategy=self.strategy, **{name: getattr(self, name) for name in RUN_SETTINGS}).describe()

    def configs(self) -> list[RunConfig]:
        """One RunConfig per parameter set, in the grid's order (or the random draws'), without
        fingerprints (``sweep/prepare.py: prepare_sweep`` adds them)."""
        if self.random:
            params = random_space(self.grid, self.random, seed=self.seed, constraints=self.constraints, fixed=self.fixed)
        else:
            params = grid_space(self.grid, self.constraints, self.fixed)
        base = RunConfig(strategy=self.strategy, symbols=tuple(self.symbols), timeframe=self.timeframe,
                         start=self.start, end=self.end, balance=self.balance, fill_model=self.fill_model,
                         calendar=self.calendar, commission_rate=self.commission_rate,
                         slippage_rate=self.slippage_rate, engine=self.engine)
        return [replace(base, params=tuple(sorted(p.items()))) for p in params]
