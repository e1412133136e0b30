"""Command line: ``backtestester demo | sweep | serve | backtest | data``."""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from .engine import Commission, Repository, Slippage
from .sweep.report import fmt
from .strategy import load_strategy, run_backtest

TIMEFRAMES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}


def _parse_param(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameters are NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return name, cast(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    return name, value


def print_result(result, console) -> None:
    from rich.table import Table

    table = Table(title=f"{result.strategy} {result.params}", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    labels = result.statistics.as_dict(labels=True)
    for (name, value), label in zip(result.statistics.as_dict().items(), labels):
        table.add_row(label, fmt(name, value, digits=2))
    console.print(table)


def cmd_backtest(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .data.synthetic import generate_bars

    console = Console()
    cls = load_strategy(args.strategy)
    strategy = cls(**dict(args.param))
    period = timedelta(minutes=TIMEFRAMES[args.timeframe])
    table = generate_bars(args.symbol, timeframe=args.timeframe, n_bars=args.bars, seed=args.seed,
                          calendar=args.calendar)
    repo = Repository.from_table(args.symbol, period, table)
    console.print(f"[bold]{args.symbol}[/]: {len(repo):,} generated {args.timeframe} bars "
                  f"(seed {args.seed}, calendar {args.calendar}), balance {args.balance:,.0f}")
    options = dict(fill_model=args.fill_model, calendar=args.calendar)
    if args.commission:
        options["commission"] = Commission(rate=args.commission)
    if args.slippage:
        options["slippage"] = Slippage(rate=args.slippage)
    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("backtest", total=1.0)
        result = run_backtest(strategy, [repo], balance=args.balance,
                              progress=lambda done: progress.update(task, completed=done), **options)
    print_result(result, console)
    console.print(f"{len(result.trades):,} fills, {len(result.round_trips):,} round trips, "
                  f"{result.ticks:,} ticks; final equity {result.final_equity:,.2f}")
    return 0


DEMO_BARS = 200_000


def cmd_demo(args) -> int:
    """Generate sample data if the catalog lacks it, then sweep the reference SMA crossover."""
    from rich.console import Console

    from actors.cli import cmd_sweep

    from .data.catalog import Catalog
    from .data.synthetic import generate_bars

    catalog = Catalog(args.data_dir)
    if "1m" not in catalog.timeframes("SYNTH"):
        Console().print(f"generating {DEMO_BARS:,} one-minute bars of SYNTH into {catalog.data_dir}")
        catalog.write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=DEMO_BARS, seed=7))
    args.grid = args.grid or ["fast=5:30:5", "slow=40:120:20"]
    args.constraint = args.constraint or ["fast < slow"]
    return cmd_sweep(args)


def cmd_serve(args) -> int:
    from actors.gateway.server import serve

    serve(args.host, args.port, args.data_dir, ray_address=args.address)
    return 0


def main(argv=None) -> int:
    from actors.cli import add_sweep_arguments, cmd_sweep

    parser = argparse.ArgumentParser(prog="backtestester", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add_backtest_args(p, bars, strategy):
        p.add_argument("--strategy", default=strategy, help="package.module:Class (default %(default)s)")
        p.add_argument("--param", action="append", type=_parse_param, default=[], metavar="NAME=VALUE")
        p.add_argument("--symbol", default="SYNTH")
        p.add_argument("--timeframe", choices=sorted(TIMEFRAMES), default="1m")
        p.add_argument("--bars", type=int, default=bars, help="number of generated bars (default %(default)s)")
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--calendar", default="XNYS", help="exchange code, or 'none' for 24/7")
        p.add_argument("--balance", type=float, default=100_000.0)
        p.add_argument("--fill-model", choices=("close", "next_open"), default="next_open")
        p.add_argument("--commission", type=float, default=0.0, help="fraction of traded value, e.g. 0.0005")
        p.add_argument("--slippage", type=float, default=0.0, help="fraction of price, e.g. 0.0001")

    demo = sub.add_parser("demo", help="generate sample data if missing, sweep the reference SMA crossover on an "
                                       "embedded Ray cluster, print the leaderboard and the report's path")
    add_sweep_arguments(demo)
    demo.set_defaults(func=cmd_demo)
    sweep = sub.add_parser("sweep", help="sweep a strategy's parameters over catalog data on Ray")
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)
    serve = sub.add_parser("serve", help="start the gRPC gateway (PlaygroundService) on an embedded or given Ray")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    serve.add_argument("--port", type=int, default=5051, help="port, 0 for one the OS picks (default %(default)s)")
    serve.add_argument("--data-dir", help="data catalog directory (default: BACKTESTESTER_DATA, else ./data)")
    serve.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    serve.set_defaults(func=cmd_serve)
    bt = sub.add_parser("backtest", help="backtest a strategy on generated bars")
    add_backtest_args(bt, 100_000, "backtestester.strategy.reference:SmaCross")
    bt.set_defaults(func=cmd_backtest)
    from .data.cli import register as register_data, run as run_data  # `backtestester data ...`
    register_data(sub).set_defaults(func=run_data)
    args = parser.parse_args(argv)
    if getattr(args, "calendar", None) and args.calendar.lower() == "none" and args.command == "backtest":
        args.calendar = None
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
