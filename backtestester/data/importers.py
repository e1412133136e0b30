"""Importers: generic OHLCV CSV/Parquet, Yahoo-style daily CSV, Polygon aggregate flat files.

Every importer reads a whole file, converts it to bars (``start`` as UTC nanoseconds,
``open high low close volume`` as float64), validates them and only then lets the catalog
write (atomically).  A bad file raises :class:`BadRowError` naming the file, the first bad
row and the reason; nothing is written.

Row numbers are 1-based as in the file: for CSV the header is row 1 and the first data row
row 2 (yfinance's three header lines make the first data row 4); for Parquet the first
record is row 1.  They count one line per row (files with quoted newlines or blank lines
shift them).

Validation (see :func:`backtestester.data.catalog.find_problem`): parseable timestamps, no
empty or NaN prices, ``high >= max(open, close)``, ``low <= min(open, close)``,
``volume >= 0``, timestamps sorted ascending and unique (``sort=True`` sorts and keeps the
last of duplicate timestamps instead) and at least a timeframe apart.

Formats (each described in its module's docstring)
--------------------------------------------------
* **generic** (:func:`read_generic`, :mod:`backtestester.data.import_generic`): CSV
  (optionally compressed) or Parquet, columns by name or ``columns=``, times as ISO 8601,
  epoch numbers, ``time_format``, Parquet timestamps or dates.
* **yahoo** (:func:`read_yahoo`, :mod:`backtestester.data.import_yahoo`):
  ``Date,Open,High,Low,Close,Adj Close,Volume`` as Yahoo Finance / yfinance write it.
* **polygon** (:func:`read_polygon`, :mod:`backtestester.data.import_polygon`): Polygon.io
  minute and day aggregate flat files, many tickers per file.

Dates without a time of day (Yahoo rows, generic ``1d``/``1w`` files with dates, Polygon day
aggregates) are stamped as the synthetic generator stamps daily and weekly bars: a ``1d``
bar at the open of that date's session of ``calendar`` (default XNYS; a date that is not a
session is an error), a ``1w`` bar at the open of the first session of the date's ISO week;
with ``calendar=None`` at 00:00 UTC of the date (of the week's Monday for ``1w``).

``regular_hours=True`` (generic, polygon; intraday bars) drops bars starting outside the
regular sessions of ``calendar`` (pre-market, after hours).

Layout
------
This module is the public entry point (every public name is importable from here): format
detection, :func:`import_files` (several files into the catalog) and the shipped samples.
The work is done by sibling modules:

* ``import_errors``: :class:`DataImportError`, :class:`FileFormatError`, :class:`BadRowError`
  and the collector of bad rows;
* ``import_reading``: CSV layout and Parquet reading, column names and aliases;
* ``import_conversion``: columns to numbers and UTC nanosecond times, timeframe inference;
* ``import_validation``: filtering, sorting and validating bars, reporting the first bad row;
* ``import_generic``, ``import_yahoo``, ``import_polygon``: one reader per format.

Part of the pure core: numpy, pyarrow (its CSV reader and compute functions) and
exchange_calendars; no pandas.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa

from .catalog import Catalog, CatalogEntry, normalize_symbol
from .import_errors import BadRowError, DataImportError, FileFormatError
from .import_generic import read_generic
from .import_polygon import read_polygon
from .import_reading import _as_path, _csv_layout, _is_parquet
from .import_yahoo import read_yahoo

__all__ = [
    "FORMATS",
    "SAMPLES",
    "DataImportError",
    "FileFormatError",
    "BadRowError",
    "detect_format",
    "read_generic",
    "read_yahoo",
    "read_polygon",
    "import_files",
    "import_sample",
    "sample_path",
]

FORMATS = ("generic", "yahoo", "polygon")


@dataclass(frozen=True)
class Sample:
    file: str
    timeframe: str
    format: str
    description: str


SAMPLES: dict[str, Sample] = {
    "GOOG": Sample("GOOG-1d.csv", "1d", "yahoo",
                   "Alphabet (GOOG) daily OHLCV 2004-08-19 to 2013-03-01, 2,148 sessions "
                   "(Yahoo Finance, via backtesting.py; see sample_data/README.md)"),
}
"""Sample series shipped in ``backtestester/sample_data``."""


# --------------------------------------------------------------------------- #
# Into the catalog
# --------------------------------------------------------------------------- #


def detect_format(path) -> str:
    """``polygon``, ``yahoo`` or ``generic`` from the file's columns (Parquet: generic)."""
    path = _as_path(path)
    if _is_parquet(path):
        return "generic"
    layout = _csv_layout(path)
    lower = {n.lower() for n in layout.names}
    if {"ticker", "window_start"} <= lower:
        return "polygon"
    if "adj close" in lower or layout.first_row > 2:
        return "yahoo"
    if {"open", "high", "low", "close"} <= lower and (layout.names[0].lower() in ("date", "") and
                                                      "volume" in lower):
        return "yahoo"
    return "generic"


def _symbol_from_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".bz2", ".zst", ".csv", ".parquet", ".pq", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    m = re.match(r"^(.+?)[-_.](1m|5m|15m|30m|1h|4h|1d|1w)$", stem, re.IGNORECASE)
    if m:
        stem = m.group(1)
    try:
        return normalize_symbol(stem)
    except ValueError:
        raise ValueError(f"cannot use the file name {path.name!r} as a symbol; give one (symbol=..., --symbol)") \
            from None


_OPTIONS = {
    "generic": {"columns", "tz", "epoch_unit", "time_format", "calendar", "regular_hours"},
    "yahoo": {"calendar", "adjust", "tz"},
    "polygon": {"calendar", "tz", "regular_hours"},
}


def import_files(
    catalog: Catalog,
    paths: Sequence[str | Path] | str | Path,
    *,
    format: str = "auto",
    symbol: str | None = None,
    timeframe: str | None = None,
    mode: str | None = None,
    tickers: Iterable[str] | None = None,
    sort: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    **options,
) -> list[CatalogEntry]:
    """Read, validate and store one or more files; returns the written catalog entries.

    ``format``: ``auto`` (from the columns), ``generic``, ``yahoo`` or ``polygon``.
    ``symbol``: for generic/yahoo files (default: the file name, e.g. ``AAPL.csv``,
    ``GOOG-1d.csv``).  ``mode``: ``replace`` (default) or ``merge`` (default for polygon,
    whose flat files hold one day each).  Several files for the same symbol and timeframe
    are combined (they must not overlap unless ``sort=True``; then later files win).
    Every file is read and validated before anything is written, and all files are then
    written together (staged, then renamed).  Other keyword arguments go to the reader
    (``columns``, ``tz``, ``epoch_unit``, ``time_format``, ``calendar``, ``adjust``,
    ``regular_hours``).  ``progress(stage, done, total)`` reports ``"rows"`` (rows read so far
    in the current file, total 0), ``"read"`` per file and ``"write"`` per stored table.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [_as_path(p) for p in paths]
    if not paths:
        raise ValueError("no files to import")
    if format not in ("auto",) + FORMATS:
        raise ValueError(f"format must be auto, {', '.join(FORMATS)}; got {format!r}")
    parts: dict[tuple[str, str], list[tuple[pa.Table, Path]]] = {}
    formats = set()
    unknown = set(options) - set().union(*_OPTIONS.values())
    if unknown:
        raise TypeError(f"unknown import option(s) {', '.join(sorted(unknown))}")
    wanted = None if tickers is None else {normalize_symbol(t) for t in tickers}
    rows_read = None if progress is None else (lambda rows: progress("rows", rows, 0))
    for k, path in enumerate(paths):
        fmt = detect_format(path) if format == "auto" else format
        formats.add(fmt)
        misplaced = [key for key, v in options.items() if key not in _OPTIONS[fmt] and v not in (None, False)]
        if misplaced:
            flags = ", ".join(f"{key} (--{key.replace('_', '-')})" for key in misplaced)
            raise ValueError(f"{flags} does not apply to {fmt} files ({path.name}); {fmt} options: "
                             f"{', '.join(sorted(_OPTIONS[fmt]))}")
        if fmt == "polygon":
            opts = {key: v for key, v in options.items() if key in _OPTIONS["polygon"]}
            tables, tf = read_polygon(path, timeframe=timeframe, tickers=wanted, sort=sort, progress=rows_read, **opts)
            if symbol is not None:
                raise ValueError("polygon files name their tickers: use tickers=[...] (--tickers), not symbol")
            for sym, table in tables.items():
                parts.setdefault((sym, tf), []).append((table, path))
        else:
            sym = normalize_symbol(symbol) if symbol is not None else _symbol_from_name(path)
            if tickers is not None:
                raise ValueError("tickers (--tickers) applies to polygon files only")
            if fmt == "yahoo":
                opts = {key: v for key, v in options.items() if key in _OPTIONS["yahoo"]}
                table = read_yahoo(path, timeframe=timeframe or "1d", sort=sort, progress=rows_read, **opts)
                tf = timeframe or "1d"
            else:
                opts = {key: v for key, v in options.items() if key in _OPTIONS["generic"]}
                table, tf = read_generic(path, timeframe=timeframe, sort=sort, progress=rows_read, **opts)
            parts.setdefault((sym, tf), []).append((table, path))
        if progress is not None:
            progress("read", k + 1, len(paths))
    if wanted is not None:
        found = {sym for sym, _ in parts}
        absent = sorted(wanted - found)
        if absent:
            raise FileFormatError(f"tickers not found in {'the file' if len(paths) == 1 else 'any file'}: "
                                  f"{', '.join(absent)}; nothing was imported", path=paths[0])
    if not parts:
        raise FileFormatError(f"no rows to import in {', '.join(p.name for p in paths)}", path=paths[0])
    tables = {key: _combine(key, items, sort) for key, items in parts.items()}
    if mode is None:
        mode = "merge" if formats == {"polygon"} else "replace"
    source = ", ".join(sorted(formats)) + ": " + (paths[0].name if len(paths) == 1 else
                                                  f"{paths[0].name} ... {paths[-1].name} ({len(paths)} files)")
    return catalog.write_many(tables, mode=mode, metadata={"source": source},
                              progress=None if progress is None else (lambda d, t: progress("write", d, t)))


def _combine(key: tuple[str, str], items: list[tuple[pa.Table, Path]], sort: bool) -> pa.Table:
    if len(items) == 1:
        return items[0][0]
    items = sorted((it for it in items if it[0].num_rows), key=lambda it: _first_ns(it[0]))
    if not items:
        return pa.concat_tables([])
    if sort:
        table = pa.concat_tables([t for t, _ in items])
        start = table.column("start").combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False)
        order = np.argsort(start, kind="stable")
        start = start[order]
        keep = np.ones(start.size, dtype=bool)
        keep[:-1] = start[1:] != start[:-1]  # later files win
        return table.take(pa.array(order[keep]))
    for (a, pa_), (b, pb) in zip(items, items[1:]):
        if _last_ns(a) >= _first_ns(b):
            raise FileFormatError(
                f"{key[0]} {key[1]}: {pa_.name} and {pb.name} overlap (up to "
                f"{np.datetime64(_last_ns(a), 'ns')} and from {np.datetime64(_first_ns(b), 'ns')}); "
                f"pass sort=True (--sort) to let later files win; nothing was imported", path=pb)
    return pa.concat_tables([t for t, _ in items])


def _first_ns(table: pa.Table) -> int:
    return int(table.column("start")[0].cast(pa.int64()).as_py())


def _last_ns(table: pa.Table) -> int:
    return int(table.column("start")[-1].cast(pa.int64()).as_py())


def sample_path(name: str = "GOOG") -> Path:
    """Path of a shipped sample file (see :data:`SAMPLES`)."""
    key = str(name).upper()
    if key not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    ref = resources.files("backtestester").joinpath("sample_data", SAMPLES[key].file)
    path = Path(str(ref))
    if not path.is_file():  # pragma: no cover - zipped installs
        raise FileFormatError(f"sample file {SAMPLES[key].file} is not installed", path=path)
    return path


def import_sample(catalog: Catalog, name: str = "GOOG", *, mode: str = "replace") -> CatalogEntry:
    """Import a shipped sample series (e.g. ``GOOG`` daily bars) into ``catalog``."""
    key = str(name).upper()
    path = sample_path(key)
    sample = SAMPLES[key]
    return import_files(catalog, [path], format=sample.format, symbol=key, timeframe=sample.timeframe,
                        mode=mode)[0]
