"""A sweep checked whole before anything starts (no Ray, no worker): :func:`prepare_sweep` turns a
:class:`~backtestester.sweep.config.SweepSpec` into its run configs, with the strategy class, the
tables it runs on and the fingerprints of both, or raises ``ValueError`` saying what is wrong
and what is accepted. What it checks: the strategy imports and has every swept and fixed
parameter, each value has the parameter's type (an int for a float parameter becomes a float),
the ranking metric exists, the engine can run the strategy (``fast`` needs ``signals()`` and one
symbol), the fill model, ``start``/``end`` are ISO dates or datetimes, every symbol and timeframe
is in the catalog (or in the tables handed in), and the grid leaves at least one parameter set."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from ..data.catalog import Catalog
from ..strategy import load_strategy
from .config import RunConfig, SweepSpec
from .execute import METRICS, parse_bound
from .identity import data_fingerprint, strategy_fingerprint


@dataclass
class PreparedSweep:
    """A checked sweep: its spec (values as the strategy's parameters take them), the strategy
    class, the run configs (carrying the fingerprints) and the tables ``{(symbol, timeframe):
    pyarrow.Table}`` they run on."""

    spec: SweepSpec
    strategy: type
    configs: list[RunConfig]
    tables: dict

    @property
    def fingerprints(self) -> tuple[str, str]:
        """(strategy code, data) fingerprints of every config of the sweep."""
        return self.configs[0].strategy_fingerprint, self.configs[0].data_fingerprint


def prepare_sweep(spec: SweepSpec, *, data_dir=None, tables: dict | None = None) -> PreparedSweep:
    """Check ``spec`` whole (see the module's docstring) and read its tables: those handed in
    (``{(symbol, timeframe): table}``), else the catalog's at ``data_dir``."""
    cls = load_strategy(spec.strategy)
    spec = replace(spec, grid=_typed_grid(cls, spec.grid), fixed=_typed_fixed(cls, spec.fixed),
                   start=_bound("start", spec.start), end=_bound("end", spec.end))
    if spec.metric not in METRICS:
        raise ValueError(f"unknown metric {spec.metric!r}; accepted: {', '.join(METRICS)}")
    if not spec.symbols:
        raise ValueError("no symbols to sweep: give at least one (--symbols)")
    if spec.engine == "fast":
        _check_fast(cls, spec)
    configs = spec.configs()  # the grid, the constraints, the engine and fill model, before the data is read
    if not configs:
        raise ValueError("the sweep has no parameter sets: check the grid and the constraints")
    data = read_tables(spec, data_dir, tables)
    identity = dict(strategy_fingerprint=strategy_fingerprint(cls), data_fingerprint=data_fingerprint(data))
    return PreparedSweep(spec, cls, [replace(config, **identity) for config in configs], data)


def _typed_grid(cls, grid: dict) -> dict:
    unknown = set(grid) - set(cls.parameter_types())
    if unknown:
        raise ValueError(f"{cls.__module__}:{cls.__name__} has no parameter(s) {sorted(unknown)}; "
                         f"it has {sorted(cls.parameter_types())}")
    out = {}
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid {name}: a list of values or 'START:STOP:STEP', got {values!r}")
        out[name] = [cls.coerce_parameter(name, value) for value in values]
        if not out[name]:
            raise ValueError(f"grid {name} has no values")
    return out


def _typed_fixed(cls, fixed: dict) -> dict:
    unknown = set(fixed) - set(cls.parameter_types())
    if unknown:
        raise ValueError(f"{cls.__module__}:{cls.__name__} has no parameter(s) {sorted(unknown)}; "
                         f"it has {sorted(cls.parameter_types())}")
    return {name: cls.coerce_parameter(name, value) for name, value in fixed.items()}


def _bound(name: str, value):
    """``start``/``end`` as the ISO text a RunConfig holds (a TOML date is a date)."""
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    if value is None:
        return None
    try:
        parse_bound(str(value))
    except ValueError:
        raise ValueError(f"{name} must be an ISO date (2024-01-02) or datetime (2024-01-02T14:30), "
                         f"got {value!r}") from None
    return str(value)


def _check_fast(cls, spec: SweepSpec) -> None:
    # The fast path's own test is fastpath.supports_signals; importing it here would import numba.
    if not callable(getattr(cls, "signals", None)):
        raise ValueError(f"engine 'fast' runs a strategy's signals() method and {spec.strategy} has none; "
                         f"use the event engine (--engine event) or add signals() (docs/fastpath.md)")
    if len(spec.symbols) != 1:
        raise ValueError(f"engine 'fast' runs one symbol at a time, got {len(spec.symbols)}: "
                         f"{', '.join(spec.symbols)}; use the event engine (--engine event)")


def read_tables(spec, data_dir, tables: dict | None) -> dict:
    """The tables of ``spec`` (anything with ``symbols``, ``timeframe`` and ``calendar``: a sweep's
    or a training study's): those handed in, the others from the catalog (an unknown symbol or
    timeframe is a ``ValueError`` naming what the catalog holds)."""
    given = {(symbol.upper(), timeframe): table for (symbol, timeframe), table in (tables or {}).items()}
    out = {}
    catalog = None
    for symbol in spec.symbols:
        key = (symbol.upper(), spec.timeframe)
        if key in given:
            out[key] = given[key]
            continue
        catalog = catalog or Catalog(data_dir)
        if not catalog.timeframes(key[0]):  # before load, which first builds the calendar (seconds)
            raise ValueError(str(catalog.missing_symbol(key[0])))
        try:
            out[key] = catalog.load(key[0], spec.timeframe, calendar=spec.calendar)
        except LookupError as exc:  # the catalog's DataNotFoundError: names what it holds
            raise ValueError(str(exc)) from None
    return out
