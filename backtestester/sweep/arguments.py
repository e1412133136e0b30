"""``backtestester sweep`` (and the sweep behind ``backtestester demo``): arguments, TOML, output."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backtestester.sweep.space import parse_grid_arg

DEFAULT_STRATEGY = "backtestester.strategy.reference:SmaCross"

SWEEP_TOML_EXAMPLE = """\
# backtestester sweep --config sweep.toml  (command-line options override these)
strategy = "backtestester.strategy.reference:SmaCross"
symbols = ["SYNTH"]
timeframe = "1m"
constraints = ["fast < slow"]
metric = "sharpe"
[grid]
fast = "5:50:5"          # START:STOP:STEP (stop included), or a list: [5, 10, 20]
slow = "20:200:20"
[fixed]                  # parameters held constant
fraction = 1.0
"""


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML file with the same keys as these options")
    p.add_argument("--strategy", help=f"package.module:Class (default {DEFAULT_STRATEGY})")
    p.add_argument("--symbols", nargs="+", help="symbols in the data catalog (default SYNTH)")
    p.add_argument("--timeframe", help="1m 5m 15m 30m 1h 4h 1d 1w (default 1m)")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=START:STOP:STEP|V1,V2",
                   help="a swept parameter (repeat for each)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a fixed parameter")
    p.add_argument("--constraint", action="append", default=[], metavar="EXPR", help='e.g. "fast < slow"')
    p.add_argument("--random", type=int, help="draw N random parameter sets from the grid instead of all")
    p.add_argument("--seed", type=int, help="seed of --random (default 0)")
    p.add_argument("--start", help="ISO date or datetime (default: the data's first bar)")
    p.add_argument("--end", help="ISO date or datetime (default: the data's last bar)")
    p.add_argument("--balance", type=float)
    p.add_argument("--fill-model", choices=("close", "next_open"))
    p.add_argument("--calendar", help="exchange code (default XNYS), or 'none' for 24/7")
    p.add_argument("--commission", type=float, help="fraction of traded value, e.g. 0.0005")
    p.add_argument("--slippage", type=float, help="fraction of price, e.g. 0.0001")
    p.add_argument("--engine", choices=("event", "fast"), help="event-driven engine or the compiled fast path")
    p.add_argument("--metric", help="rank by this statistic (default sharpe)")
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default 10)")
    p.add_argument("--workers", type=int, help="playground actors (default: the cluster's CPUs)")
    p.add_argument("--batch-size", type=int, help="parameter sets per actor call (default: automatic)")
    p.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    p.add_argument("--data-dir", help="data catalog directory (default: BACKTESTESTER_DATA, else ./data)")
    p.add_argument("--out", type=Path, help="results and report directory (default reports/<strategy>-<symbols>)")
    p.add_argument("--no-resume", action="store_true", help="run every parameter set again")
    p.add_argument("--no-progress", action="store_true")


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"sweep config {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"sweep config {path} is not valid TOML: {exc}") from None


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def spec_from_args(args):
    """A :class:`~actors.sweep.SweepSpec` from the TOML file (if any) overridden by options."""
    from .sweep import SweepSpec

    conf = _load_toml(args.config) if args.config else {}
    known = {"strategy", "symbols", "timeframe", "grid", "fixed", "constraints", "random", "seed", "start", "end",
             "balance", "fill_model", "calendar", "commission", "slippage", "engine", "metric"}
    unknown = set(conf) - known
    if unknown:
        raise ValueError(f"unknown keys in {args.config}: {sorted(unknown)}; accepted: {sorted(known)}")
    grid = {}
    for name, values in conf.get("grid", {}).items():
        grid[name] = parse_grid_arg(f"{name}={values}")[1] if isinstance(values, str) else list(values)
    for text in args.grid:
        name, values = parse_grid_arg(text)
        grid[name] = values
    fixed = dict(conf.get("fixed", {}))
    for text in args.param:
        if "=" not in text:
            raise ValueError(f"fixed parameters are NAME=VALUE, got {text!r}")
        name, value = text.split("=", 1)
        fixed[name.strip()] = _value(value.strip())
    if not grid:
        raise ValueError("nothing to sweep: give at least one --grid NAME=START:STOP:STEP (or a [grid] table)")

    def pick(option, key, default):
        value = getattr(args, option)
        return value if value is not None else conf.get(key, default)

    calendar = pick("calendar", "calendar", "XNYS")
    return SweepSpec(
        strategy=pick("strategy", "strategy", DEFAULT_STRATEGY), grid=grid,
        constraints=tuple(conf.get("constraints", [])) + tuple(args.constraint), fixed=fixed,
        random=pick("random", "random", None), seed=pick("seed", "seed", 0),
        symbols=tuple(s.upper() for s in pick("symbols", "symbols", ["SYNTH"])),
        timeframe=pick("timeframe", "timeframe", "1m"), start=pick("start", "start", None),
        end=pick("end", "end", None), balance=float(pick("balance", "balance", 100_000.0)),
        fill_model=pick("fill_model", "fill_model", "next_open"),
        calendar=None if str(calendar).lower() == "none" else calendar,
        commission_rate=float(pick("commission", "commission", 0.0)),
        slippage_rate=float(pick("slippage", "slippage", 0.0)), engine=pick("engine", "engine", "event"),
        metric=pick("metric", "metric", "sharpe"))


def cmd_sweep(args) -> int:
    from rich.console import Console

    from backtestester.strategy import load_strategy
    from backtestester.sweep.execute import METRICS

    from .sweep import print_leaderboard, run_sweep

    spec = spec_from_args(args)
    cls = load_strategy(spec.strategy)  # fail fast on a bad name or parameter, before starting Ray
    unknown = (set(spec.grid) | set(spec.fixed)) - set(cls.parameter_types())
    if unknown:
        raise ValueError(f"{spec.strategy} has no parameter(s) {sorted(unknown)}; it has {sorted(cls.parameter_types())}")
    if spec.metric not in METRICS:
        raise ValueError(f"unknown metric {spec.metric!r}; accepted: {', '.join(METRICS)}")
    out = args.out or Path("reports") / f"{cls.__name__}-{'-'.join(spec.symbols)}-{spec.timeframe}"
    console = Console()
    configs = spec.configs()
    console.print(f"[bold]{cls.__name__}[/] on {', '.join(spec.symbols)} {spec.timeframe}: {len(configs)} parameter sets, "
                  f"engine {spec.engine}, results in {out}")
    outcome = run_sweep(spec, out, data_dir=args.data_dir, address=args.address, workers=args.workers,
                        batch_size=args.batch_size, resume=not args.no_resume, show_progress=not args.no_progress,
                        console=console)
    print_leaderboard(outcome, spec.metric, console, args.top)
    return 130 if outcome.interrupted else 0
