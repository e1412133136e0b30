"""``backtestester data import|synth|ls|show``: the data catalog from the command line.

Registered in :mod:`actors.cli` with :func:`register`; runs standalone as
``python -m backtestester.data.cli``.  Errors (bad files, unknown symbols, bad arguments)
print ``error: ...`` on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import zoneinfo
from datetime import datetime, timezone
from typing import Any

import pyarrow.csv as pcsv
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import importers as im
from .catalog import ENV_VAR, Catalog
from .dates import datetime_of_ns
from .resample import can_resample
from .schema import TIMEFRAMES
from .synthetic import generate_bars

__all__ = ["register", "run", "main"]

_EXAMPLES = """examples:
  backtestester data import --sample GOOG
  backtestester data import prices.csv --symbol AAPL --timeframe 1m --tz America/New_York
  backtestester data import bars.csv --column start=Time --column close=Last --epoch-unit ms
  backtestester data import AAPL-new-days.csv --timeframe 1d --mode merge
  backtestester data import 2024-01-*.csv.gz --format polygon --tickers AAPL MSFT
  backtestester data synth --symbols AAA BBB --timeframe 1m --start 2020-01-02 --end 2020-07-01 --seed 1
  backtestester data ls
  backtestester data show GOOG 1w --start 2010-01-01 --limit 10
"""


def _calendar(text: str) -> str | None:
    return None if text.strip().lower() in ("none", "24/7") else text


def _column(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--column takes FIELD=NAME (e.g. start=Time), got {text!r}")
    field, name = text.split("=", 1)
    field = field.strip().lower()
    if field not in ("start", "open", "high", "low", "close", "volume"):
        raise argparse.ArgumentTypeError(f"--column FIELD must be start, open, high, low, close or volume, got {field!r}")
    return field, name


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` command group to the subparsers of the main CLI."""
    data = sub.add_parser(
        "data", help="the data catalog: import files, generate bars, list, show",
        description=f"The data catalog: <dir>/<SYMBOL>/<timeframe>.parquet. The directory is --data-dir, "
                    f"else ${ENV_VAR}, else ./data.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="{import,synth,ls,show}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR",
                        help=f"catalog directory (default: ${ENV_VAR}, else ./data)")

    imp = dsub.add_parser(
        "import", parents=[common], help="import CSV/Parquet files (generic, Yahoo, Polygon flat files)",
        description="Read, validate and store bar files. A bad file is rejected with the first bad row "
                    "(1-based, the CSV header is row 1) and the reason; nothing is written then.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("paths", nargs="*", metavar="PATH", help="files to import (.csv, .csv.gz, .parquet)")
    imp.add_argument("--sample", metavar="NAME", help="import a shipped sample series instead (GOOG)")
    imp.add_argument("--format", choices=("auto", "generic", "yahoo", "polygon"), default="auto",
                     help="file format (default: from the columns)")
    imp.add_argument("--symbol", help="symbol of generic/yahoo files (default: from the file name)")
    imp.add_argument("--timeframe", choices=list(TIMEFRAMES),
                     help="bar timeframe (default: yahoo 1d, polygon from the file name, else from the data)")
    imp.add_argument("--tz", help="time zone of naive timestamps (generic/yahoo default UTC; "
                                  "polygon day files: the zone of window_start midnights, default America/New_York)")
    imp.add_argument("--calendar", type=_calendar, default="XNYS",
                     help="exchange calendar stamping daily bars at session opens ('none': 00:00 UTC) "
                          "(default %(default)s)")
    imp.add_argument("--column", action="append", type=_column, default=[], metavar="FIELD=NAME",
                     help="map a field to a file column, e.g. --column start=Time (repeatable)")
    imp.add_argument("--epoch-unit", choices=("auto", "s", "ms", "us", "ns"), default=None,
                     help="unit of epoch-number timestamps (default auto: by magnitude)")
    imp.add_argument("--time-format", metavar="FMT", help="strptime format of the time column, e.g. '%%d/%%m/%%Y %%H:%%M'")
    imp.add_argument("--tickers", nargs="+", metavar="TICKER", help="polygon: import only these tickers")
    imp.add_argument("--sort", action="store_true",
                     help="sort rows by time and keep the last of duplicate timestamps (default: reject them)")
    imp.add_argument("--adjust", action="store_true", help="yahoo: scale OHLC by Adj Close / Close")
    imp.add_argument("--regular-hours", action="store_true",
                     help="drop intraday bars outside the calendar's regular sessions")
    imp.add_argument("--mode", choices=("replace", "merge"), default=None,
                     help="replace the stored series, or merge into it: the file's bars win on equal timestamps, "
                          "the other stored bars are kept (default: replace; merge for polygon)")
    imp.add_argument("--drop-stored", action="store_true",
                     help="let a replace drop stored bars the file lacks (default: such an import is refused)")

    syn = dsub.add_parser("synth", parents=[common], help="generate deterministic synthetic bars into the catalog",
                          description="Seeded GBM bars on real sessions (backtestester.data.synthetic).")
    syn.add_argument("--symbols", nargs="+", action="extend", metavar="SYMBOL", help="symbols to generate (default SYNTH)")
    syn.add_argument("--symbol", nargs="+", action="extend", dest="symbols", help=argparse.SUPPRESS)  # backtest's spelling
    syn.add_argument("--timeframe", choices=list(TIMEFRAMES), default="1m", help="bar timeframe (default %(default)s)")
    syn.add_argument("--start", default="2020-01-02", help="first session date or instant (default %(default)s)")
    span = syn.add_mutually_exclusive_group(required=True)
    span.add_argument("--end", help="end (exclusive): a session date or an instant")
    span.add_argument("--bars", type=int, help="number of bars per symbol")
    syn.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bars (default 0)")
    syn.add_argument("--calendar", type=_calendar, default="XNYS", help="exchange calendar, or 'none' for 24/7")
    syn.add_argument("--mode", choices=("replace", "merge"), default="replace",
                     help="replace the stored file, or merge into it (default %(default)s)")

    ls = dsub.add_parser("ls", parents=[common], help="list stored symbols and timeframes")
    ls.add_argument("symbols", nargs="*", metavar="SYMBOL", help="only these symbols")
    ls.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")

    show = dsub.add_parser("show", parents=[common], help="print bars (resampled if the timeframe is not stored)")
    show.add_argument("symbol", metavar="SYMBOL", help="a stored symbol")
    show.add_argument("timeframe", metavar="TIMEFRAME", choices=list(TIMEFRAMES),
                      help=f"{' '.join(TIMEFRAMES)} (stored, or resampled from a finer stored one)")
    show.add_argument("--start", help="first bar start (a session date or an instant)")
    show.add_argument("--end", help="end (exclusive)")
    show.add_argument("--limit", type=int, default=None, help="rows to print (default 20; 0 = all)")
    show.add_argument("--tail", action="store_true", help="print the last rows instead of the first")
    show.add_argument("--calendar", type=_calendar, default="XNYS",
                      help="sessions for resampling and session dates (default %(default)s; 'none': 24/7)")
    show.add_argument("--tz", default="UTC", help="time zone to display times in (default UTC)")
    show.add_argument("--csv", action="store_true", help="write CSV to stdout (all selected rows unless --limit)")
    data.set_defaults(run=run)
    return data


# --------------------------------------------------------------------------- #


def _consoles():
    return Console(), Console(stderr=True)


def _fmt_time(dt: datetime | None, tz=timezone.utc) -> str:
    if dt is None:
        return "-"
    dt = dt.astimezone(tz)
    text = dt.strftime("%Y-%m-%d %H:%M:%S" if dt.second or dt.microsecond else "%Y-%m-%d %H:%M")
    return text if tz is timezone.utc else text + dt.strftime(" %z")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _entries_table(entries, title: str, *, stored_by_symbol=None, limit: int | None = None):
    table = Table(title=title, title_justify="left")
    for name, justify in (("symbol", "left"), ("timeframe", "left"), ("rows", "right"), ("first (UTC)", "left"),
                          ("last (UTC)", "left"), ("size", "right")):
        table.add_column(name, justify=justify)
    if stored_by_symbol is not None:
        table.add_column("resamples to")
    shown = entries if limit is None else entries[:limit]
    for e in shown:
        row = [e.symbol, e.timeframe, f"{e.rows:,}", _fmt_time(e.first), _fmt_time(e.last),
               _size(e.path.stat().st_size) if e.path.exists() else "-"]
        if stored_by_symbol is not None:
            stored = stored_by_symbol[e.symbol]
            row.append(" ".join(tf for tf in TIMEFRAMES if tf not in stored and can_resample(e.timeframe, tf)))
        table.add_row(*row)
    if limit is not None and len(entries) > limit:
        table.caption = f"... and {len(entries) - limit:,} more"
    return table


def _cmd_import(args, catalog: Catalog, out, err) -> int:
    if args.sample:
        if args.paths:
            raise ValueError("give files or --sample, not both")
        name = args.sample.upper()
        if name not in im.SAMPLES:
            raise ValueError(f"unknown sample {args.sample!r}; samples: {', '.join(im.SAMPLES)}")
        sample = im.SAMPLES[name]
        paths, fmt = [im.sample_path(name)], sample.format
        symbol, timeframe = args.symbol or name, args.timeframe or sample.timeframe
    else:
        if not args.paths:
            raise ValueError("nothing to import: give one or more files, or --sample GOOG")
        paths, fmt, symbol, timeframe = args.paths, args.format, args.symbol, args.timeframe
    options: dict[str, Any] = {}
    if args.column:
        options["columns"] = dict(args.column)
    for key in ("tz", "epoch_unit", "time_format"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.adjust:
        options["adjust"] = True
    if args.regular_hours:
        options["regular_hours"] = True
    options["calendar"] = args.calendar

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage == "rows":
                key = "rows"
                if key not in tasks:
                    tasks[key] = progress.add_task("reading rows", total=None)
                progress.update(tasks[key], completed=done, description=f"read {done:,} rows")
                return
            if stage not in tasks:
                tasks[stage] = progress.add_task("reading files" if stage == "read" else "writing", total=total)
            progress.update(tasks[stage], completed=done, total=total)

        entries = im.import_files(catalog, paths, format=fmt, symbol=symbol, timeframe=timeframe, mode=args.mode,
                                  tickers=args.tickers, sort=args.sort, drop_stored=args.drop_stored,
                                  progress=report, **options)
    rows = sum(e.rows for e in entries)
    out.print(_entries_table(entries, f"imported into {catalog.data_dir}", limit=20))
    out.print(f"{len(entries):,} file{'s' if len(entries) != 1 else ''} written, {rows:,} rows")
    return 0


def _cmd_synth(args, catalog: Catalog, out, err) -> int:
    tables = {}
    for sym in args.symbols or ["SYNTH"]:  # the default (an `extend` option's default would be extended)
        tables[(sym, args.timeframe)] = generate_bars(sym, timeframe=args.timeframe, start=args.start, end=args.end,
                                                      n_bars=args.bars, calendar=args.calendar, seed=args.seed)
    entries = catalog.write_many(tables, mode=args.mode, metadata={
        "source": f"synthetic: seed {args.seed}, calendar {args.calendar or '24/7'}"})
    out.print(_entries_table(entries, f"generated into {catalog.data_dir}"))
    return 0


def _cmd_ls(args, catalog: Catalog, out, err) -> int:
    entries = catalog.entries(args.symbols or None)
    if args.symbols:
        for sym in args.symbols:
            if not any(e.symbol == sym.upper() for e in entries):
                raise catalog.missing_symbol(sym.upper())
    if args.json:
        for e in entries:
            print(json.dumps({"symbol": e.symbol, "timeframe": e.timeframe, "rows": e.rows,
                              "first": None if e.first is None else e.first.isoformat(),
                              "last": None if e.last is None else e.last.isoformat(), "path": str(e.path)}))
        return 0
    if not entries:
        out.print(f"no data in {catalog.data_dir} (--data-dir or ${ENV_VAR} choose the directory); "
                  f"try `backtestester data import --sample GOOG` or `backtestester data synth --bars 100000`")
        return 0
    stored: dict[str, set[str]] = {}
    for e in entries:
        stored.setdefault(e.symbol, set()).add(e.timeframe)
    out.print(_entries_table(entries, f"{catalog.data_dir}: {len(stored)} symbol{'s' if len(stored) != 1 else ''}",
                             stored_by_symbol=stored))
    return 0


def _number(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) and abs(x) >= 1e4 else f"{x:.10g}"


def _cmd_show(args, catalog: Catalog, out, err) -> int:
    try:
        tz = timezone.utc if args.tz.upper() == "UTC" else zoneinfo.ZoneInfo(args.tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {args.tz!r}; use an IANA name such as UTC or America/New_York") from None
    table = catalog.load(args.symbol, args.timeframe, args.start, args.end, calendar=args.calendar)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    n = table.num_rows
    limit = args.limit if args.limit is not None else (0 if args.csv else 20)
    if limit < 0:
        raise ValueError(f"--limit must be >= 0, got {limit}")
    part = table if limit == 0 or limit >= n else (table.slice(n - limit) if args.tail else table.slice(0, limit))
    if args.csv:
        sys.stdout.flush()
        pcsv.write_csv(part, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    sym = meta.get("symbol", args.symbol.upper())
    start_ns = part.column("start").cast("int64").to_numpy()
    first = table.column("start").cast("int64")
    span = ""
    if n:
        lo, hi = (int(first[0].as_py()), int(first[-1].as_py()))
        span = f", {_fmt_time(datetime_of_ns(lo), tz)} .. {_fmt_time(datetime_of_ns(hi), tz)}"
    origin = (f"resampled from {meta['resampled_from']} on {meta.get('calendar')}"
              f"{', ' + meta['dropped_outside_sessions'] + ' bars outside sessions left out' if meta.get('dropped_outside_sessions', '0') != '0' else ''}"
              if "resampled_from" in meta else "stored")
    title = f"{sym} {args.timeframe}: {n:,} bars ({origin}){span}"
    rt = Table(title=title, title_justify="left")
    rt.add_column(f"start ({args.tz})")
    for c in ("open", "high", "low", "close", "volume"):
        rt.add_column(c, justify="right")
    cols = {c: part.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")}
    for i in range(part.num_rows):
        rt.add_row(_fmt_time(datetime_of_ns(int(start_ns[i])), tz), *(_number(float(cols[c][i])) for c in cols))
    if part.num_rows < n:
        rt.caption = (f"{'last' if args.tail else 'first'} {part.num_rows:,} of {n:,}; --limit 0 for all, "
                      f"--tail for the end")
    out.print(rt)
    return 0


_COMMANDS = {"import": _cmd_import, "synth": _cmd_synth, "ls": _cmd_ls, "show": _cmd_show}


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``data`` command; returns the exit status (2 on errors, message on stderr)."""
    out, err = _consoles()
    try:
        catalog = Catalog(args.data_dir)
        return _COMMANDS[args.data_command](args, catalog, out, err)
    except (ValueError, LookupError, OSError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else str(exc.args[0])
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (files are replaced atomically: each is old or new, never partial)", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="backtestester")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

