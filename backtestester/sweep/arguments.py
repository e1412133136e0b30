"""The options of ``backtestester sweep`` (and of the sweep behind ``backtestester demo``) and its
TOML file, read into a :class:`~backtestester.sweep.config.SweepSpec`. Pure: the console script
(``actors/cli.py``) registers these options and hands the spec to the Ray sweep runner."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.schema import TIMEFRAMES
from .config import DEFAULT_METRIC, DEFAULT_STRATEGY, ENGINES, RunConfig, SweepSpec
from .space import parse_grid_arg, parse_value

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# The TOML file's format is documented in docs/sweeps.md, with a tested example in examples/sweep.toml.

# SweepSpec field <- (command-line option, TOML key); the option wins over the key, and a value
# given by neither is the spec's default.
_SPEC_OPTIONS = {"strategy": ("strategy", "strategy"), "random": ("random", "random"), "seed": ("seed", "seed"),
                 "symbols": ("symbols", "symbols"), "timeframe": ("timeframe", "timeframe"),
                 "start": ("start", "start"), "end": ("end", "end"), "balance": ("balance", "balance"),
                 "fill_model": ("fill_model", "fill_model"), "calendar": ("calendar", "calendar"),
                 "commission_rate": ("commission", "commission"), "slippage_rate": ("slippage", "slippage"),
                 "engine": ("engine", "engine"), "metric": ("metric", "metric")}
_TOML_KEYS = {key for _, key in _SPEC_OPTIONS.values()} | {"grid", "fixed", "constraints"}


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """Register the sweep's options on ``p`` (``sweep`` and ``demo``)."""
    p.add_argument("--config", type=Path, help="TOML file with the same keys as these options (docs/sweeps.md)")
    p.add_argument("--strategy", help=f"package.module:Class (default {DEFAULT_STRATEGY})")
    p.add_argument("--symbols", nargs="+", action="extend", metavar="SYMBOL",
                   help=f"symbols in the data catalog (default {' '.join(RunConfig.symbols)}; repeatable)")
    p.add_argument("--symbol", nargs="+", action="extend", dest="symbols", help=argparse.SUPPRESS)  # backtest's spelling
    p.add_argument("--timeframe", help=f"{' '.join(TIMEFRAMES)} (default {RunConfig.timeframe})")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=START:STOP:STEP|V1,V2",
                   help="a swept parameter (repeat for each)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a fixed parameter")
    p.add_argument("--constraint", action="append", default=[], metavar="EXPR", help='e.g. "fast < slow"')
    p.add_argument("--random", type=int, help="draw N random parameter sets from the grid instead of all")
    p.add_argument("--seed", type=int, help=f"seed of --random (default {SweepSpec.seed})")
    p.add_argument("--start", help="ISO date or datetime (default: the data's first bar)")
    p.add_argument("--end", help="ISO date or datetime (default: the data's last bar)")
    p.add_argument("--balance", type=float, help=f"starting cash of each run (default {RunConfig.balance:g})")
    p.add_argument("--fill-model", choices=("close", "next_open"),
                   help=f"fill market orders at the bar's close or the next bar's open (default {RunConfig.fill_model})")
    p.add_argument("--calendar", help=f"exchange code (default {RunConfig.calendar}), or 'none' for 24/7")
    p.add_argument("--commission", type=float, help="fraction of traded value, e.g. 0.0005")
    p.add_argument("--slippage", type=float, help="fraction of price, e.g. 0.0001")
    p.add_argument("--engine", choices=ENGINES, help="event-driven engine or the compiled fast path")
    p.add_argument("--metric", help=f"rank by this statistic (default {DEFAULT_METRIC})")
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default 10)")
    p.add_argument("--workers", type=int, help="playground actors (default: the cluster's CPUs)")
    p.add_argument("--batch-size", type=int, help="parameter sets per actor call (default: automatic)")
    p.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    p.add_argument("--data-dir", help="data catalog directory (default: BACKTESTESTER_DATA, else ./data)")
    p.add_argument("--out", type=Path, help="results and report directory (default reports/<strategy>-<symbols>)")
    p.add_argument("--no-resume", action="store_true", help="run every parameter set again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and scripts)")


def load_toml(path: Path) -> dict:
    """A TOML file's table; ``ValueError`` when it is missing or not valid TOML (the sweep's and
    training's config files)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except OSError as exc:  # a directory, no permission...
        raise ValueError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None


def read_run_file(path: Path) -> dict:
    """A run file (the sweep's TOML keys, as ``best.toml`` written by training), its keys checked:
    unknown keys and a ``[fixed]`` that is not a table are refused, saying what is accepted."""
    conf = load_toml(Path(path))
    unknown = set(conf) - _TOML_KEYS
    if unknown:
        raise ValueError(f"unknown keys in {path}: {sorted(unknown)}; accepted: {sorted(_TOML_KEYS)}")
    if not isinstance(conf.get("fixed", {}), dict):
        raise ValueError(f"fixed in {path} must be a table ([fixed] with NAME = VALUE lines), got {conf['fixed']!r}")
    return conf


def _toml_grid_values(name: str, values) -> list:
    """A ``[grid]`` entry's values: a list, a ``"START:STOP:STEP"`` or ``"V1,V2"`` text, or one value."""
    if isinstance(values, str):
        return parse_grid_arg(f"{name}={values}")[1]
    if isinstance(values, list):
        return list(values)
    if isinstance(values, (bool, int, float)):
        return [values]
    raise ValueError(f"grid {name}: a list [V1, V2, ...], a \"START:STOP:STEP\" text or one value, got {values!r}")


def fixed_params(conf: dict, texts) -> dict:
    """The fixed parameters: the TOML file's ``[fixed]`` table, then the ``--param NAME=VALUE``
    options (which win)."""
    fixed = dict(conf.get("fixed", {}))
    for text in texts:
        if "=" not in text:
            raise ValueError(f"fixed parameters are NAME=VALUE, got {text!r}")
        name, value = text.split("=", 1)
        fixed[name.strip()] = parse_value(value.strip())
    return fixed


def _grid_and_fixed(args, conf: dict) -> tuple[dict, dict]:
    """The swept and the fixed parameters: the TOML file's tables, then the options."""
    grid = {}
    table = conf.get("grid", {})
    if not isinstance(table, dict):
        raise ValueError(f"grid in {args.config} must be a table ([grid] with NAME = [V1, V2] or NAME = "
                         f"\"START:STOP:STEP\" lines), got {table!r}")
    for name, values in table.items():
        grid[name] = _toml_grid_values(name, values)
    for text in args.grid:
        name, values = parse_grid_arg(text)
        grid[name] = values
    fixed = fixed_params(conf, args.param)
    if not grid and not conf.get("fixed"):  # a run file's [fixed] alone (best.toml): one run
        raise ValueError("nothing to sweep: give at least one --grid NAME=START:STOP:STEP (or a [grid] table)")
    return grid, fixed


def spec_from_args(args) -> SweepSpec:
    """A :class:`SweepSpec` from the TOML file (if any) overridden by options; what neither
    gives is the spec's default (the strategy's: :data:`DEFAULT_STRATEGY`)."""
    conf = read_run_file(args.config) if args.config else {}
    grid, fixed = _grid_and_fixed(args, conf)
    given = {}
    for name, (option, key) in _SPEC_OPTIONS.items():
        value = getattr(args, option)
        value = value if value is not None else conf.get(key)
        if value is not None:
            given[name] = value
    if "symbols" in given:
        given["symbols"] = tuple(s.upper() for s in given["symbols"])
    if "calendar" in given and str(given["calendar"]).lower() == "none":
        given["calendar"] = None
    for name in ("balance", "commission_rate", "slippage_rate"):
        if name in given:
            given[name] = float(given[name])
    return SweepSpec(**{"strategy": DEFAULT_STRATEGY, **given}, grid=grid, fixed=fixed,
                     constraints=tuple(conf.get("constraints", [])) + tuple(args.constraint))
