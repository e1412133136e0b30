"""Importing files into the catalog: format detection and :func:`import_files`.

Every file is read and validated (by the reader of its format) before anything is written;
the tables are then written together through :meth:`Catalog.write_many`, which refuses a
replace that would drop stored bars unless the caller allows it (``drop_stored``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa

from ..catalog import Catalog, CatalogEntry, StoredBarsLostError
from ..schema import catalog_symbol
from .errors import FileFormatError
from .generic import read_generic
from .polygon import read_polygon
from .reading import csv_layout, existing_file, is_parquet
from .yahoo import read_yahoo

__all__ = ["FORMATS", "detect_format", "import_files"]

FORMATS = ("generic", "yahoo", "polygon")


# --------------------------------------------------------------------------- #
# Into the catalog
# --------------------------------------------------------------------------- #


def detect_format(path) -> str:
    """``polygon``, ``yahoo`` or ``generic`` from the file's columns (Parquet: generic)."""
    path = existing_file(path)
    if is_parquet(path):
        return "generic"
    layout = csv_layout(path)
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
        return catalog_symbol(stem)
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
    drop_stored: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    **options,
) -> list[CatalogEntry]:
    """Read, validate and store one or more files; returns the written catalog entries.

    ``format``: ``auto`` (from the columns), ``generic``, ``yahoo`` or ``polygon``.
    ``symbol``: for generic/yahoo files (default: the file name, e.g. ``AAPL.csv``,
    ``GOOG-1d.csv``).  ``mode``: ``replace`` (default) or ``merge`` (default for polygon,
    whose flat files hold one day each; the file's bars win on equal timestamps, every other
    stored bar is kept).  A replace never drops a stored bar (one whose timestamp the new bars
    lack) unless ``drop_stored=True``: it raises :class:`StoredBarsLostError` saying how many
    would be lost.  A file without rows is an error (:class:`FileFormatError`), never an empty
    series.  Several files for the same symbol and timeframe
    are combined (they must not overlap unless ``sort=True``; then later files win).
    Every file is read and validated before anything is written, and all files are then
    written together (staged, then renamed).  Other keyword arguments go to the reader
    (``columns``, ``tz``, ``epoch_unit``, ``time_format``, ``calendar``, ``adjust``,
    ``regular_hours``).  ``progress(stage, done, total)`` reports ``"rows"`` (rows read so far
    in the current file, total 0), ``"read"`` per file and ``"write"`` per stored table.
    """
    paths = _checked_paths(paths, format, options)
    fmts = [detect_format(path) if format == "auto" else format for path in paths]
    formats = set(fmts)
    mode = _import_mode(mode, formats, drop_stored)
    parts: dict[tuple[str, str], list[tuple[pa.Table, Path]]] = {}
    wanted = None if tickers is None else {catalog_symbol(t) for t in tickers}
    rows_read = None if progress is None else (lambda rows: progress("rows", rows, 0))
    for k, (path, fmt) in enumerate(zip(paths, fmts)):
        for key, table in _read_file(path, fmt, symbol=symbol, timeframe=timeframe, tickers=tickers, wanted=wanted,
                                     sort=sort, rows_read=rows_read, options=options):
            parts.setdefault(key, []).append((table, path))
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
    files = paths[0].name if len(paths) == 1 else f"{paths[0].name} ... {paths[-1].name} ({len(paths)} files)"
    try:
        return catalog.write_many(tables, mode=mode, metadata={"source": ", ".join(sorted(formats)) + ": " + files},
                                  progress=None if progress is None else (lambda d, t: progress("write", d, t)),
                                  keep_stored=not drop_stored)
    except StoredBarsLostError as exc:
        raise exc.retold(
            f"importing {files}", "pass mode='merge' (--mode merge) to add the file's bars to the stored ones "
            "(the file's bars win on equal timestamps), or drop_stored=True (--drop-stored) to replace the "
            "stored bars anyway") from None


def _import_mode(mode: str | None, formats: set[str], drop_stored: bool) -> str:
    """``mode``, by default ``merge`` for polygon files (one day each) and ``replace`` for the others."""
    if mode is None:
        mode = "merge" if formats == {"polygon"} else "replace"
    if mode not in ("replace", "merge"):  # before reading any file
        raise ValueError(f"mode must be 'replace' or 'merge', got {mode!r}")
    if drop_stored and mode != "replace":
        why = "polygon imports merge unless mode='replace' (--mode replace) is given" if formats == {"polygon"} \
            else "a merge never drops a stored bar"
        raise ValueError(f"drop_stored (--drop-stored) applies to mode='replace' only: {why}")
    return mode


def _checked_paths(paths, format: str, options: dict) -> list[Path]:
    """The files to import as paths, once the format and the option names are known to be valid."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [existing_file(p) for p in paths]
    if not paths:
        raise ValueError("no files to import")
    if format not in ("auto",) + FORMATS:
        raise ValueError(f"format must be auto, {', '.join(FORMATS)}; got {format!r}")
    unknown = set(options) - set().union(*_OPTIONS.values())
    if unknown:
        raise TypeError(f"unknown import option(s) {', '.join(sorted(unknown))}")
    return paths


def _read_file(path: Path, fmt: str, *, symbol: str | None, timeframe: str | None, tickers, wanted: set[str] | None,
               sort: bool, rows_read, options: dict) -> list[tuple[tuple[str, str], pa.Table]]:
    """``[((symbol, timeframe), table)]`` of one file read with the reader of ``fmt``."""
    misplaced = [key for key, v in options.items() if key not in _OPTIONS[fmt] and v not in (None, False)]
    if misplaced:
        flags = ", ".join(f"{key} (--{key.replace('_', '-')})" for key in misplaced)
        raise ValueError(f"{flags} does not apply to {fmt} files ({path.name}); {fmt} options: "
                         f"{', '.join(sorted(_OPTIONS[fmt]))}")
    opts = {key: v for key, v in options.items() if key in _OPTIONS[fmt]}
    if fmt == "polygon":
        tables, tf = read_polygon(path, timeframe=timeframe, tickers=wanted, sort=sort, progress=rows_read, **opts)
        if symbol is not None:
            raise ValueError("polygon files name their tickers: use tickers=[...] (--tickers), not symbol")
        return [((sym, tf), table) for sym, table in tables.items()]
    sym = catalog_symbol(symbol) if symbol is not None else _symbol_from_name(path)
    if tickers is not None:
        raise ValueError("tickers (--tickers) applies to polygon files only")
    if fmt == "yahoo":
        table = read_yahoo(path, timeframe=timeframe or "1d", sort=sort, progress=rows_read, **opts)
        tf = timeframe or "1d"
    else:
        table, tf = read_generic(path, timeframe=timeframe, sort=sort, progress=rows_read, **opts)
    return [((sym, tf), table)]


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
