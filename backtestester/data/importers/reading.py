"""Reading import files: CSV layout (delimiter, header lines, row numbers) and Parquet, with
columns found by name or alias and read as strings (CSV) or as stored (Parquet).

A file that cannot be read or lacks a column raises :class:`FileFormatError`; a CSV row with the
wrong number of fields is reported with its row number.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .errors import FileFormatError

_ALIASES = {
    "start": ("start", "time", "timestamp", "datetime", "date_time", "date", "window_start", "ts", "t",
              "open_time", "open time", "gmt time", "local time"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price", "last", "price"),
    "volume": ("volume", "vol", "v", "qty", "quantity"),
}



def shown_columns(names: Sequence[str], limit: int = 20, width: int = 40) -> str:
    """The column names for an error message: the first ``limit``, each cut to ``width`` characters
    (a garbage or binary header must not make a 100 KB message)."""
    shown = [repr(n if len(n) <= width else n[:width] + "...") for n in names[:limit]]
    more = f", ... ({len(names):,} columns)" if len(names) > limit else ""
    return ", ".join(shown) + more


def existing_file(path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileFormatError(f"no such file: {p}", path=p)
    return p


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _peek_lines(path: Path, n: int = 3) -> list[str]:
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 16)
    except (OSError, pa.ArrowException) as exc:
        raise FileFormatError(f"cannot read {path}: {exc}", path=path) from None
    text = head.decode("utf-8-sig", errors="replace")
    return text.splitlines()[:n]


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@dataclass
class CsvLayout:
    names: list[str]
    delimiter: str
    first_row: int  # file row number of the first data row
    skip_after_names: int = 0


def csv_layout(path: Path) -> CsvLayout:
    lines = _peek_lines(path)
    if not lines or not lines[0].strip():
        raise FileFormatError(f"{path.name} is empty: expected a header line, then one row per bar; "
                              f"nothing was imported", path=path)
    delim = _delimiter(lines[0])
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    names = [c.strip() for c in rows[0]]
    # yfinance >= 0.2.51 writes three header lines: Price,..., Ticker,..., Date,,,
    if names and names[0].lower() == "price" and len(rows) > 1 and rows[1] and rows[1][0].strip().lower() == "ticker":
        skip = 2 if len(rows) > 2 and rows[2] and rows[2][0].strip().lower() in ("date", "datetime") else 1
        return CsvLayout(names, delim, 2 + skip, skip)
    return CsvLayout(names, delim, 2)


def read_csv(path: Path, layout: CsvLayout, include: list[str], progress=None) -> pa.Table:
    """The ``include`` columns as strings (nulls for empty/NULL/NaN cells)."""
    def read(use_threads: bool):
        invalid = []

        def on_invalid(row):
            invalid.append(row)
            return "error"

        batches = []
        try:
            with pa.input_stream(str(path), compression="detect") as stream:
                reader = pcsv.open_csv(
                    stream,
                    read_options=pcsv.ReadOptions(use_threads=use_threads,
                                                  skip_rows_after_names=layout.skip_after_names,
                                                  block_size=1 << 22),
                    parse_options=pcsv.ParseOptions(delimiter=layout.delimiter, invalid_row_handler=on_invalid),
                    convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in include},
                                                        include_columns=include, strings_can_be_null=True,
                                                        quoted_strings_can_be_null=True),
                )
                rows = 0
                for batch in reader:
                    batches.append(batch)
                    rows += batch.num_rows
                    if progress is not None:
                        progress(rows)
        except pa.ArrowInvalid as exc:
            return None, invalid, exc
        return pa.Table.from_batches(batches, schema=reader.schema), invalid, None

    try:
        table, invalid, exc = read(True)
        if exc is not None:
            if invalid and invalid[0].number is None:
                _, invalid, exc = read(False)  # single-threaded parsing knows row numbers
            if invalid:
                bad = invalid[0]
                where = f"row {bad.number}" if bad.number is not None else "a row"
                raise FileFormatError(
                    f"{path.name}: {where}: expected {bad.expected_columns} fields separated by "
                    f"{layout.delimiter!r}, got {bad.actual_columns}: {bad.text[:80]!r} "
                    f"(file rejected: nothing was imported)", path=path)
            raise FileFormatError(f"cannot parse {path.name} as CSV: {exc}", path=path)
    except (OSError, pa.ArrowException) as exc:
        raise FileFormatError(f"cannot read {path}: {exc}", path=path) from None
    return require_rows(table, path)


def require_rows(table: pa.Table, path: Path) -> pa.Table:
    """``table``, unless the file held no rows: an empty input is an error, never an empty series."""
    if table.num_rows == 0:
        what = "has no rows" if is_parquet(path) else "has a header and no rows"
        raise FileFormatError(f"{path.name} {what}: expected at least one bar (one row per bar); "
                              f"nothing was imported", path=path)
    return table


def column_names(path: Path) -> list[str]:
    if is_parquet(path):
        try:
            return list(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise FileFormatError(f"cannot read {path} as Parquet: {exc}", path=path) from None
    return csv_layout(path).names


def resolve_columns(names: Sequence[str], mapping: Mapping[str, str | None] | None, required: Iterable[str],
             optional: Iterable[str], path: Path, fmt: str) -> dict[str, str | None]:
    """Canonical name -> file column (None for an absent optional column)."""
    mapping = dict(mapping or {})
    lower = {n.lower(): n for n in names}
    out: dict[str, str | None] = {}
    for canon in list(required) + list(optional):
        if canon in mapping:
            given = mapping[canon]
            if given is None or (given == "" and "" not in names):
                out[canon] = None
                continue
            actual = given if given in names else lower.get(str(given).lower())
            if actual is None:
                raise FileFormatError(
                    f"{path.name}: no column {given!r} (mapped to {canon}); columns: {shown_columns(names)}",
                    path=path)
            out[canon] = actual
            continue
        actual = next((lower[a] for a in _ALIASES.get(canon, (canon,)) if a in lower), None)
        if actual is None and canon == "start" and names and names[0] == "":
            actual = ""  # pandas-written index column
        if actual is None and canon in required:
            raise FileFormatError(
                f"{path.name}: no {canon} column for the {fmt} format; columns: {shown_columns(names)}; "
                f"accepted names: {', '.join(_ALIASES.get(canon, (canon,)))} "
                f"(or map one: columns={{'{canon}': 'NAME'}}, CLI --column {canon}=NAME)", path=path)
        out[canon] = actual
    used = [v for v in out.values() if v is not None]
    dup = {v for v in used if used.count(v) > 1}
    if dup:
        raise FileFormatError(f"{path.name}: column {sorted(dup)[0]!r} is mapped to more than one field", path=path)
    return out


def read_columns(path: Path, resolved: Mapping[str, str | None], progress=None) -> tuple[pa.Table, int]:
    """(table of the resolved columns, file row number of the first record)."""
    include = sorted({v for v in resolved.values() if v is not None})
    if is_parquet(path):
        try:
            table = pq.read_table(path, columns=include)
        except (OSError, pa.ArrowException) as exc:
            raise FileFormatError(f"cannot read {path} as Parquet: {exc}", path=path) from None
        return require_rows(table, path), 1
    layout = csv_layout(path)
    return read_csv(path, layout, include, progress), layout.first_row

