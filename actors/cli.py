"""Command line: ``backtestester demo | sweep | train | serve | live | backtest | data | backup``."""
# The console script: the top floor, above actors/ and backtestester/. Ray (the sweep, the gateway)
# and grpc are imported by the commands that use them, so `backtestester data ...` and
# `backtestester backtest` never import ray (nor grpc, unless `backtest --gateway`).
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from backtestester import __version__
from backtestester.data import cli as data_cli
from backtestester.data.catalog import Catalog, data_dir_or_default
from backtestester.data.schema import TIMEFRAMES
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Commission, Repository, Slippage
from backtestester.engine.playground import FILL_MODELS
from backtestester.live.barsources import PACES
from backtestester.playgrounds import SIMULATOR_CALENDAR, run_on_catalog
from backtestester.service import backup_cli
from backtestester.strategy import load_strategy, run_backtest
from backtestester.strategy.tables import EXPORT_FORMATS
from backtestester.sweep.arguments import add_sweep_arguments, read_run_file, spec_from_args
from backtestester.sweep.config import DEFAULT_STRATEGY, RunConfig
from backtestester.sweep.prepare import prepare_sweep
from backtestester.sweep.report import fmt, print_leaderboard
from backtestester.sweep.space import parse_value
from backtestester.training.report import print_summary
from backtestester.training.spec import add_train_arguments
from backtestester.training.spec import spec_from_args as train_spec_from_args

# Generated bars for `backtest`: the data layer's timeframes but the weekly one, as always offered.
BACKTEST_TIMEFRAMES = {tf: period for tf, period in TIMEFRAMES.items() if tf != "1w"}


def _parse_param(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameters are NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name, parse_value(value)


def print_result(result, console) -> None:
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    table = Table(title=f"{result.strategy} {params}", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    labels = result.statistics.as_dict(labels=True)
    for (name, value), label in zip(result.statistics.as_dict().items(), labels):
        table.add_row(label, fmt(name, value, digits=2))
    console.print(table)


def _run_with_progress(console, run):
    """``run(progress_callback)`` under a transient progress bar."""
    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("backtest", total=1.0)
        return run(lambda done: progress.update(task, completed=done))


def _print_backtest(result, console, args) -> None:
    print_result(result, console)
    console.print(f"{len(result.trades):,} fills, {len(result.round_trips):,} round trips, "
                  f"{result.ticks:,} ticks; final equity {result.final_equity:,.2f}; "
                  f"{result.rejections:,} rejected orders")
    if args.export:
        paths = result.export(args.export, args.export_format or EXPORT_FORMATS[0])
        console.print(f"exported {', '.join(paths)} to {os.path.abspath(args.export)}")
    if args.plot is not None:
        console.print(f"chart: {result.plot(args.plot or None)}")


# `backtest` options that apply to one kind of run only, as (option, attribute) pairs.
GENERATED_ONLY = (("--bars", "bars"), ("--seed", "seed"))
CATALOG_ONLY = (("--history-days", "history_days"),)
GATEWAY_ONLY = (("--tls-ca", "tls_ca"), ("--transport", "transport"))
DEFAULT_BARS, DEFAULT_SEED = 100_000, 7


def backtest_symbols(args) -> list[str]:
    """The symbols of ``--symbol`` (repeatable), then of ``--symbols A B ...``, upper-cased;
    ``RunConfig``'s default when neither is given. A symbol given twice is refused."""
    symbols = [s.upper() for s in (args.symbol or []) + (args.symbols or [])] or list(RunConfig.symbols)
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise ValueError(f"symbol(s) {', '.join(twice)} given more than once (--symbol/--symbols)")
    return symbols


# A run file's keys (the sweep's TOML, as training's best.toml) -> the option each fills, for the
# commands that run one parameter set; its [fixed] table is their --param. Other sweep keys
# (engine, metric, constraints, seed) do not apply to one run and are ignored; `live` takes its
# fills and costs from the gateway's broker, so it reads the strategy, market and balance only.
RUN_FILE_OPTIONS = {
    "backtest": {"strategy": "strategy", "symbols": "symbols", "timeframe": "timeframe", "balance": "balance",
                 "fill_model": "fill_model", "calendar": "calendar", "commission": "commission",
                 "slippage": "slippage", "start": "start", "end": "stop"},
    "live": {"strategy": "strategy", "symbols": "symbols", "timeframe": "timeframe", "balance": "balance"},
}


def apply_run_file(args, parser: argparse.ArgumentParser) -> None:
    """Fill ``args`` of ``backtest``/``live --config FILE`` from the run file: each key whose
    option was not given, and the ``[fixed]`` parameters before the ``--param`` ones (so the
    command line wins). A file with a sweep's ``[grid]`` or ``random`` is refused."""
    conf = read_run_file(args.run_file)
    sweep_only = [f"[{k}]" if k == "grid" else k for k in ("grid", "random") if k in conf]
    if sweep_only:
        raise ValueError(f"{args.run_file}: {', '.join(sweep_only)} is a sweep's; {args.command} --config runs "
                         f"one parameter set, its [fixed] table (run the file with `backtestester sweep --config`)")
    for key, dest in RUN_FILE_OPTIONS[args.command].items():
        given = getattr(args, dest) != parser.get_default(dest) or (dest == "symbols" and getattr(args, "symbol", None))
        if key in conf and not given:
            setattr(args, dest, conf[key])
    if args.timeframe not in BACKTEST_TIMEFRAMES:
        raise ValueError(f"timeframe {args.timeframe!r} in {args.run_file}: accepted {sorted(BACKTEST_TIMEFRAMES)}")
    for dest in ("balance", "commission", "slippage"):
        if getattr(args, dest, None) is not None:
            setattr(args, dest, float(getattr(args, dest)))
    args.param = list(conf.get("fixed", {}).items()) + list(args.param)


def _refuse(args, options, why: str) -> None:
    """Refuse the ``options`` ((flag, attribute) pairs) that were given: ``why`` they do not apply."""
    given = [flag for flag, name in options if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: {why}")


def _backtest_config(args, symbols, catalog: bool) -> RunConfig:
    """The run's settings, defaults from :class:`RunConfig` (one default fill model for `backtest`
    and `sweep`), after refusing every option that would not apply to this kind of run."""
    if catalog:
        _refuse(args, GENERATED_ONLY, "only for generated bars; catalog and gateway backtests read the catalog's bars")
        if not (args.start and args.stop):
            raise ValueError("catalog and gateway backtests need both --start and --stop (YYYY-MM-DD)")
        if args.calendar not in (None, SIMULATOR_CALENDAR):
            raise ValueError(f"--calendar {args.calendar}: catalog and gateway backtests run on "
                             f"{SIMULATOR_CALENDAR}, as the gateway's playgrounds")
    else:
        _refuse(args, CATALOG_ONLY, "only with catalog bars (--start/--stop, --data-dir or --gateway)")
    if not args.gateway:
        _refuse(args, GATEWAY_ONLY, "only with --gateway")
    config = RunConfig(strategy=args.strategy, params=tuple(args.param), symbols=tuple(symbols),
                       timeframe=args.timeframe, start=args.start, end=args.stop, balance=args.balance,
                       fill_model=args.fill_model or RunConfig.fill_model,
                       calendar=SIMULATOR_CALENDAR if catalog else RunConfig.calendar if args.calendar is None
                       else None if args.calendar.lower() == "none" else args.calendar,
                       commission_rate=args.commission or RunConfig.commission_rate,
                       slippage_rate=args.slippage or RunConfig.slippage_rate)
    if args.gateway and args.data_dir:
        raise ValueError("--data-dir: not with --gateway: its playgrounds use the gateway's catalog")
    return config


def _engine_options(config: RunConfig) -> dict:
    options = dict(fill_model=config.fill_model)
    if config.commission_rate:
        options["commission"] = Commission(rate=config.commission_rate)
    if config.slippage_rate:
        options["slippage"] = Slippage(rate=config.slippage_rate)
    return options


def cmd_backtest(args) -> int:
    """Generated bars (default; one series per symbol, seeds ``--seed``, ``--seed + 1``, ...),
    catalog bars locally (``--start/--stop``, ``--data-dir``) or through a gateway
    (``--gateway``); the last two build the same playground, so they compare. Every option given
    applies, or the run is refused (exit code 2) before it starts."""
    console = Console()
    if args.export_format and not args.export:
        raise ValueError("--export-format needs --export DIR")
    symbols = backtest_symbols(args)
    catalog = bool(args.gateway or args.data_dir or args.start or args.stop)
    config = _backtest_config(args, symbols, catalog)
    strategy = load_strategy(args.strategy)(**dict(args.param))
    if catalog:
        return _backtest_catalog(args, config, strategy, console)
    n_bars, seed = args.bars if args.bars is not None else DEFAULT_BARS, args.seed if args.seed is not None else DEFAULT_SEED
    period = BACKTEST_TIMEFRAMES[config.timeframe]
    repos = [Repository.from_table(symbol, period, generate_bars(symbol, timeframe=config.timeframe, n_bars=n_bars,
                                                                 seed=seed + i, calendar=config.calendar))
             for i, symbol in enumerate(symbols)]
    seeds = ", ".join(str(seed + i) for i in range(len(symbols)))
    data = f"{n_bars:,} generated bars{' each' if len(symbols) > 1 else ''} (seed{'s' if len(symbols) > 1 else ''} {seeds})"
    console.print(f"[bold]{type(strategy).__name__}[/] {strategy.params}: {config.describe(data)}")
    result = _run_with_progress(console, lambda progress: run_backtest(
        strategy, repos, balance=config.balance, progress=progress, calendar=config.calendar, **_engine_options(config)))
    _print_backtest(result, console, args)
    return 0


def _backtest_catalog(args, config: RunConfig, strategy, console) -> int:
    """The gateway's playground (catalog bars from ``--start`` minus ``--history-days`` to the end
    of ``--stop``; clock from the first XNYS open to 16:00 New York, each bar available when it is
    complete), locally from ``--data-dir`` or remotely through ``--gateway``."""
    history = args.history_days or 0
    window = dict(start_date=config.start, stop_date=config.end, balance=config.balance, history_in_days=history)
    repositories = [(symbol, config.timeframe) for symbol in config.symbols]
    data = f"{config.start} to {config.end}" + (f" (+{history} history days)" if history else "")
    header = f"[bold]{type(strategy).__name__}[/] {strategy.params}: {config.describe(data)}"
    if args.gateway:
        from backtestester.remote.broker import run_on_gateway  # noqa: PLC0415  (grpc only with --gateway)
        from backtestester.remote.client import PlaygroundClient, grpc  # noqa: PLC0415  (grpc only with --gateway)

        security = gateway_credentials(args)
        console.print(f"{header}; through the gateway at {args.gateway}")
        try:
            with PlaygroundClient(args.gateway, **security) as client:
                result = _run_with_progress(console, lambda progress: run_on_gateway(
                    strategy, client, repositories, progress=progress, transport=args.transport or "session",
                    **window, **_engine_options(config)))
        except grpc.RpcError as exc:
            print(f"error: gateway {args.gateway}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    else:
        data_dir = data_dir_or_default(args.data_dir)
        console.print(f"{header}; from the catalog {os.path.abspath(data_dir)}")
        try:
            result = _run_with_progress(console, lambda progress: run_on_catalog(
                strategy, data_dir, repositories, progress=progress, **window, **_engine_options(config)))
        except LookupError as exc:  # the catalog's DataNotFoundError
            raise ValueError(str(exc)) from None
    _print_backtest(result, console, args)
    return 0


TLS_CA_ENV = "BACKTESTESTER_TLS_CA"  # the clients' default of --tls-ca
TLS_CA_HELP = f"use TLS, trusting this CA or certificate (PEM; default: {TLS_CA_ENV}, if set)"


def gateway_credentials(args) -> dict:
    """A gateway client's ``token`` (``BACKTESTESTER_TOKEN``) and, with ``--tls-ca`` or else
    ``BACKTESTESTER_TLS_CA``, its ``root_certificates`` (keyword arguments of the clients)."""
    security = {"token": os.environ.get("BACKTESTESTER_TOKEN") or None}
    ca = args.tls_ca or os.environ.get(TLS_CA_ENV)
    if ca:
        try:
            with open(ca, "rb") as f:
                security["root_certificates"] = f.read()
        except OSError as exc:
            source = "--tls-ca" if args.tls_ca else TLS_CA_ENV
            raise ValueError(f"{source} {ca}: cannot read the CA certificate: {exc.strerror or exc}") from None
    return security


DEMO_BARS = 200_000


def cmd_demo(args) -> int:
    """Generate sample data if the catalog lacks it, then sweep the reference SMA crossover."""
    catalog = Catalog(args.data_dir)
    if "1m" not in catalog.timeframes("SYNTH"):
        Console().print(f"generating {DEMO_BARS:,} one-minute bars of SYNTH into {catalog.data_dir}")
        catalog.write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", n_bars=DEMO_BARS, seed=7))
    args.grid = args.grid or ["fast=5:30:5", "slow=40:120:20"]
    args.constraint = args.constraint or ["fast < slow"]
    return cmd_sweep(args)


def cmd_serve(args) -> int:
    """Run the gateway until Ctrl-C/SIGTERM. A refused configuration (a ``ConfigError``, a
    ``ValueError``) is reported by :func:`main` with exit code 2 before Ray starts."""
    from .gateway import security  # noqa: PLC0415  (ray and grpc only for `serve`)
    from .gateway.server import GatewayDied, serve  # noqa: PLC0415

    hosts = args.playground_hosts
    if hosts != "auto" and not (hosts.isdigit()):
        raise ValueError(f"--playground-hosts must be 0, a number of host actors or 'auto', got {hosts!r}")
    hosts = hosts if hosts == "auto" else int(hosts)
    cert, key = security.read_tls(args.tls_cert, args.tls_key)
    config = security.SecurityConfig(**security.load_credentials(args.token_file), tls_cert=cert, tls_key=key,
                                     max_message_bytes=int(args.max_message_mb * 2**20),
                                     rate_limit=args.rate_limit, rate_burst=args.rate_burst,
                                     max_playgrounds=args.max_playgrounds,
                                     twirp_trusted=tuple(args.twirp_trusted_network),
                                     **({} if args.max_streams is None else {"max_streams": args.max_streams}))
    if args.twirp_port < 0:
        raise ValueError(f"--twirp-port must be a port number, or 0 for no Twirp (the default), got {args.twirp_port}")
    live = live_config(args)
    try:
        serve(args.host, args.port, args.data_dir, ray_address=args.address, security=config,
              hosts=hosts, twirp_port=args.twirp_port or None, live=live)
    except (OSError, GatewayDied) as exc:  # e.g. the port is in use; the actor was killed
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def live_config(args):
    """The ``serve`` live flags as a checked :class:`~actors.gateway.live.LiveConfig` (refused
    before Ray starts). The sim broker is always there, tradier with ``--live-broker tradier``."""
    from .gateway.live import LiveConfig  # noqa: PLC0415

    return LiveConfig(brokers=tuple(dict.fromkeys(["sim", *(args.live_broker or [])])), feed=args.live_feed,
                      replay_start=args.replay_start, replay_speed=args.replay_speed, replay_pace=args.replay_pace,
                      replay_symbols=tuple(s.upper() for s in args.replay_symbols or ()),
                      replay_timeframe=args.replay_timeframe, tradier_config=args.tradier_config,
                      alpaca_config=args.alpaca_config,
                      polygon_config=args.polygon_config,
                      poll_seconds=args.live_poll_seconds, settle_seconds=args.live_settle_seconds,
                      fill_model=args.live_fill_model).validate()


def cmd_live(args) -> int:
    """Run a strategy live on a gateway until SIGTERM/SIGINT (exit 0) or ``--max-bars``."""
    from backtestester.remote.client import grpc  # noqa: PLC0415  (grpc only for `live`)
    from backtestester.remote.live import LiveClient, run_live  # noqa: PLC0415

    if not args.gateway:
        raise ValueError("live needs a gateway: give --gateway HOST:PORT or set BACKTESTESTER_GATEWAY")
    if not (args.strategy and args.symbols):
        raise ValueError("live needs --strategy and --symbols (or a --config run file that has them)")
    strategy = load_strategy(args.strategy)(**dict(args.param))
    security = gateway_credentials(args)
    console = Console()
    try:
        with LiveClient(args.gateway, **security) as client:
            pid, result = run_live(strategy, client, broker=args.broker, symbols=[s.upper() for s in args.symbols],
                                   timeframe=args.timeframe, balance=args.balance, client_id=args.client_id,
                                   account_type=args.account_type, max_bars=args.max_bars, poll_s=args.poll_seconds,
                                   transport=args.transport)
    except grpc.RpcError as exc:
        print(f"error: gateway {args.gateway}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    console.print(f"live playground {pid}: {len(result.trades):,} fills, final equity {result.final_equity:,.2f}",
                  highlight=False)
    return 0


def cmd_sweep(args) -> int:
    """Sweep on Ray: check the whole sweep before Ray starts (a bad one is exit code 2), run what
    is not done yet (a finished sweep answers from its results file, without Ray), print the
    leaderboard."""
    from .sweep import run_sweep  # noqa: PLC0415  (ray only for the commands that sweep)

    prepared = prepare_sweep(spec_from_args(args), data_dir=args.data_dir)  # fails fast, before Ray
    spec, cls = prepared.spec, prepared.strategy
    out = args.out or Path("reports") / f"{cls.__name__}-{'-'.join(spec.symbols)}-{spec.timeframe}"
    console = Console()
    console.print(f"[bold]{cls.__name__}[/]: {len(prepared.configs)} parameter sets, engine {spec.engine}; "
                  f"{spec.describe()}; results in {out}")
    outcome = run_sweep(spec, out, data_dir=args.data_dir, address=args.address, workers=args.workers,
                        batch_size=args.batch_size, resume=not args.no_resume, show_progress=not args.no_progress,
                        console=console, prepared=prepared)
    print_leaderboard(outcome, spec.metric, console, args.top)
    return 130 if outcome.interrupted else 0


def cmd_train(args) -> int:
    """Train on Ray: check the whole study before Ray starts (a bad one is exit code 2), run or
    resume it (``--study``: the same name resumes), print the best trial and the report's path."""
    from .train import run_training  # noqa: PLC0415  (ray only for the commands that train)

    spec = train_spec_from_args(args)
    cls = spec.check()  # fails fast, before the data is read and Ray starts
    console = Console()
    console.print(f"[bold]{cls.__name__}[/]: study {spec.study_name}, {spec.trials} trials, sampler "
                  f"{spec.sampler_name}, pruner {spec.pruner}, {spec.folds} {spec.scheme} folds, seed {spec.seed}; "
                  f"journal in {spec.out_dir}")
    try:
        result = run_training(spec, data_dir=args.data_dir, address=args.address, workers=args.workers,
                              show_progress=not args.no_progress, console=console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the finished trials are in the journal; run the same command to resume[/]")
        return 130
    print_summary(result, result.reports, console, top=args.top)
    if result.best is None:
        console.print("[red]no trial completed[/]: the failed trials' tracebacks are in the journal and the report")
        return 1
    return 0


def _add_serve_parser(sub) -> None:
    """``backtestester serve``: the gateway's options."""
    serve = sub.add_parser("serve", help="start the gateway (PlaygroundService over gRPC, and Twirp with --twirp-port) on an embedded or given Ray")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    serve.add_argument("--port", type=int, default=5051, help="port, 0 for one the OS picks (default %(default)s)")
    serve.add_argument("--data-dir", help="data catalog directory (default: BACKTESTESTER_DATA, else ./data)")
    serve.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else an embedded one)")
    serve.add_argument("--playground-hosts", default="0", metavar="N",
                       help="where playgrounds live: 0 = in the gateway's process (default, lowest latency), "
                            "N = N Ray actors holding many each (more cores, other nodes), auto = one per core")
    serve.add_argument("--tls-cert", metavar="PEM", help="TLS certificate chain (required, with --tls-key and a "
                                                         "token, for a non-loopback --host)")
    serve.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    serve.add_argument("--token-file", metavar="PATH", help="bearer tokens, one per line: TOKEN (a tenant of its own) or "
                                                            "NAME TOKEN (tenant NAME; several tokens may name one); "
                                                            "mode 0600 (default: the token in BACKTESTESTER_TOKEN, if set)")
    serve.add_argument("--max-message-mb", type=float, default=16.0, metavar="MIB",
                       help="largest request or response in MiB (default %(default)g)")
    serve.add_argument("--rate-limit", type=float, default=0.0, metavar="PER_SECOND",
                       help="requests per second per client (token and host); 0 turns it off (default)")
    serve.add_argument("--rate-burst", type=int, metavar="N", help="requests a client may send at once "
                                                                    "(default: twice --rate-limit)")
    serve.add_argument("--max-streams", type=int, metavar="N",
                       help="open StreamTicks/StreamCandlesArrow/Session calls per client (token); 0: no limit "
                            "(default: actors.gateway.security.DEFAULT_MAX_STREAMS, 4)")
    serve.add_argument("--max-playgrounds", type=int, default=0, metavar="N",
                       help="playgrounds per client (token), saved ones included; 0: no limit (default)")
    serve.add_argument("--twirp-port", type=int, default=0, metavar="PORT",
                       help="also serve Twirp (the original's clients, TWIRP_HOST=http://HOST:PORT) on this port; "
                            "0: no Twirp (default)")
    serve.add_argument("--twirp-trusted-network", action="append", default=[], metavar="CIDR",
                       help="Twirp calls from this client network need no token (the original's clients cannot "
                            "send one); repeatable; logged as a WARNING; never on by default")
    _add_live_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)


def _add_live_serve_arguments(serve) -> None:
    """``serve``'s live trading options (docs/live.md)."""
    live = serve.add_argument_group("live trading (the sim broker is always available)")
    live.add_argument("--live-broker", action="append", choices=("sim", "tradier", "alpaca"), metavar="NAME",
                      help="a broker to trade: sim (always on), tradier (needs --tradier-config) or alpaca "
                           "(needs --alpaca-config); repeatable")
    live.add_argument("--live-feed", choices=("replay", "tradier", "push", "polygon"), default="replay",
                      help="where live bars come from: replay of the catalog, Tradier time-sales, PushBars, or "
                           "Polygon/Massive (needs --polygon-config) "
                           "(default %(default)s)")
    live.add_argument("--replay-start", metavar="DATE", help="replay the catalog from this date (09:30 New York) "
                                                             "or time; the replay clock is the live clock")
    live.add_argument("--replay-speed", type=float, default=1.0, metavar="X",
                      help="replay X times faster than the wall clock (default %(default)g)")
    live.add_argument("--replay-pace", choices=PACES, default="sessions",
                      help="sessions: nights and weekends take no wall time (default); clock: the replay "
                           "waits them out")
    live.add_argument("--replay-symbols", nargs="+", metavar="SYMBOL", help="the catalog symbols to replay "
                                                                            "(also the Tradier and Polygon feeds' symbols)")
    live.add_argument("--replay-timeframe", default="1m", metavar="TF", help="bar timeframe (default %(default)s)")
    live.add_argument("--tradier-config", metavar="FILE", help="TOML: account_id, environment, base_url, data_url, "
                                                               "the names of the token variables")
    live.add_argument("--alpaca-config", metavar="FILE", help="TOML: environment (paper or live), base_url, "
                                                              "where the keys are (docs/live/alpaca.md)")
    live.add_argument("--polygon-config", metavar="FILE",
                      help="TOML: api_key_env or api_key_file, base_url, stream_url, stream, adjusted "
                           "(docs/live/polygon.md); also serves GetDailyTickerSummaryFromPolygon")
    live.add_argument("--live-poll-seconds", type=float, default=1.0, metavar="S",
                      help="seconds between two polls of the brokers and bars (default %(default)g)")
    live.add_argument("--live-settle-seconds", type=float, default=2.0, metavar="S",
                      help="a bar is delivered this long after its end (late prints; default %(default)g)")
    live.add_argument("--live-fill-model", choices=FILL_MODELS, default="close",
                      help="the sim broker's market fills (default %(default)s, as backtests)")


def _add_live_parser(sub) -> None:
    """``backtestester live``: run a strategy live through a gateway."""
    live = sub.add_parser("live", help="run a strategy live on a gateway's live playground until SIGTERM")
    live.add_argument("--config", dest="run_file", type=Path, metavar="TOML",
                      help="a run file (training's best.toml; the sweep's keys): strategy, symbols, timeframe, "
                           "balance and [fixed] parameters; options given win (docs/training.md)")
    live.add_argument("--strategy", help="package.module:Class (required, here or in --config)")
    live.add_argument("--gateway", default=os.environ.get("BACKTESTESTER_GATEWAY"), metavar="HOST:PORT",
                      help="the gateway (default: BACKTESTESTER_GATEWAY; token: BACKTESTESTER_TOKEN)")
    live.add_argument("--broker", default="sim", help="the gateway's broker: sim, mock, tradier or alpaca (default %(default)s)")
    live.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="the symbols to trade (required, here or in --config)")
    live.add_argument("--timeframe", choices=sorted(BACKTEST_TIMEFRAMES), default="1m",
                      help="bar timeframe (default %(default)s)")
    live.add_argument("--balance", type=float, default=100_000.0, help="the playground's cash (default %(default)g)")
    live.add_argument("--account-type", default="paper", help="the broker account's type (default %(default)s)")
    live.add_argument("--client-id", metavar="ID", help="pick up the live playground of this id (a restart "
                                                        "continues it); default: a new playground")
    live.add_argument("--param", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                      help="a strategy parameter (repeat for each), as in `backtest` and `sweep`")
    live.add_argument("--max-bars", type=int, metavar="N", help="stop after N new bars (default: until SIGTERM)")
    live.add_argument("--poll-seconds", type=float, default=0.25, metavar="S",
                      help="how often to ask the gateway for news (default %(default)g)")
    live.add_argument("--tls-ca", metavar="PEM", help=TLS_CA_HELP)
    live.add_argument("--transport", choices=("session", "unary"), default="session",
                      help="session (default): one Session stream carries ticks, orders and account reads; "
                           "unary: one call each (NextTick, PlaceOrder, GetAccount)")
    live.set_defaults(func=cmd_live, command_parser=live)


def build_parser() -> argparse.ArgumentParser:
    """The ``backtestester`` command line: every command and its options."""
    parser = argparse.ArgumentParser(prog="backtestester", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_backtest_args(p, strategy):
        p.add_argument("--strategy", default=strategy, help="package.module:Class (default %(default)s)")
        p.add_argument("--param", action="append", type=_parse_param, default=[], metavar="NAME=VALUE",
                       help="a strategy parameter (repeat for each)")
        p.add_argument("--symbol", action="append", metavar="SYMBOL",
                       help=f"a symbol; repeat for several (default {' '.join(RunConfig.symbols)})")
        p.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="several symbols at once, as in `sweep`")
        p.add_argument("--timeframe", choices=sorted(BACKTEST_TIMEFRAMES), default=RunConfig.timeframe,
                       help="bar timeframe (default %(default)s)")
        p.add_argument("--bars", type=int, help=f"generated bars only: bars per symbol (default {DEFAULT_BARS})")
        p.add_argument("--seed", type=int, help=f"generated bars only: seed of the first symbol, the next ones "
                                                f"+1, +2, ... (default {DEFAULT_SEED})")
        p.add_argument("--calendar", help=f"exchange code, or 'none' for 24/7 (default {RunConfig.calendar}; "
                                          f"catalog and gateway backtests run on {SIMULATOR_CALENDAR} only)")
        p.add_argument("--balance", type=float, default=RunConfig.balance, help="initial cash (default %(default)g)")
        p.add_argument("--fill-model", choices=FILL_MODELS,
                       help=f"market orders fill at the close of the bar they were placed on or at the next "
                            f"bar's open (default {RunConfig.fill_model}, as `sweep`)")
        p.add_argument("--commission", type=float, help="fraction of traded value, e.g. 0.0005 (default 0)")
        p.add_argument("--slippage", type=float, help="fraction of price, e.g. 0.0001 (default 0)")

    demo = sub.add_parser("demo", help="generate sample data if missing, sweep the reference SMA crossover on an "
                                       "embedded Ray cluster, print the leaderboard and the report's path")
    add_sweep_arguments(demo)
    demo.set_defaults(func=cmd_demo)
    sweep = sub.add_parser("sweep", help="sweep a strategy's parameters over catalog data on Ray")
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)
    train = sub.add_parser("train", help="search a strategy's parameters out of sample (walk-forward folds, Optuna, "
                                         "Ray actors), resumable; the best is tested once on a holdout")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    _add_serve_parser(sub)
    _add_live_parser(sub)
    bt = sub.add_parser("backtest", help="backtest a strategy on generated bars, on catalog bars (--start/--stop) "
                                         "or through a gateway (--gateway)")
    bt.add_argument("--plot", nargs="?", const="", metavar="PATH",
                    help="write an interactive HTML chart of the run (candles, trades, equity, drawdown, volume) "
                         "to PATH (default: <Strategy>.html)")
    add_backtest_args(bt, DEFAULT_STRATEGY)
    catalog = bt.add_argument_group("catalog bars, locally or through a gateway (the same playground, so they compare)")
    catalog.add_argument("--start", metavar="YYYY-MM-DD", help="first day (the clock starts at its first XNYS open)")
    catalog.add_argument("--stop", metavar="YYYY-MM-DD", help="last day (the clock stops at 16:00 New York, "
                                                              "when the day's bars, a daily bar too, are complete)")
    catalog.add_argument("--history-days", type=int, metavar="N",
                         help="calendar days of bars before --start, for indicator warm-up (default 0)")
    catalog.add_argument("--data-dir", help="run locally on this catalog (default: BACKTESTESTER_DATA, else ./data)")
    catalog.add_argument("--gateway", metavar="HOST:PORT", help="run through this gateway, on its catalog "
                                                                "(token: BACKTESTESTER_TOKEN)")
    catalog.add_argument("--tls-ca", metavar="PEM", help=f"with --gateway: {TLS_CA_HELP}")
    catalog.add_argument("--transport", choices=("session", "unary"),
                         help="with --gateway: session (default; one Session stream, several ticks per message "
                              "up to the strategy's next decision) or unary (one NextTick call per tick)")
    bt.add_argument("--export", metavar="DIR", help="write trades, fills, orders and equity into DIR as files")
    bt.add_argument("--export-format", choices=EXPORT_FORMATS, help="with --export: parquet (default) or csv")
    bt.add_argument("--config", dest="run_file", type=Path, metavar="TOML",
                    help="a run file (training's best.toml; the sweep's keys): strategy, symbols, timeframe, run "
                         "options and [fixed] parameters; options given win (docs/training.md)")
    bt.set_defaults(func=cmd_backtest, command_parser=bt)
    data_cli.register(sub).set_defaults(func=data_cli.run)  # `backtestester data ...`
    backup_cli.register(sub).set_defaults(func=backup_cli.run)  # `backtestester backup ...`
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """The command line's options, a ``backtest``/``live --config`` run file's applied."""
    args = build_parser().parse_args(argv)
    if getattr(args, "run_file", None) is not None:
        apply_run_file(args, args.command_parser)
    return args


def main(argv=None) -> int:
    """Run one command; a ``ValueError`` (a refused option, file or name) is printed, exit code 2."""
    try:
        args = parse_args(argv)
        return args.func(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
