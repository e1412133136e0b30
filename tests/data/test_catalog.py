"""The data catalog: layout, directory resolution, validation, atomic writes, merging,
loading with ranges and resampling, listing, and the pure-core import rule."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backtestester.data import catalog as catalog_module
from backtestester.data.catalog import (
    BarValidationError,
    Catalog,
    CatalogEntry,
    StoredBarsLostError,
    SymbolNotFoundError,
    TimeframeNotFoundError,
)
from backtestester.data.resample import resample
from backtestester.data.schema import BAR_SCHEMA
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository

from .conftest import REPO, ns, starts

UTC = timezone.utc


@pytest.fixture(scope="module")
def minutes():
    """Two XNYS weeks of minute bars starting on a Monday."""
    return generate_bars("AAA", timeframe="1m", start="2021-06-07", end="2021-06-21", seed=11)


def with_column(table, name, values):
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- #
# Directory and names
# --------------------------------------------------------------------------- #


def test_directory_argument_then_env_then_dot_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKTESTESTER_DATA", raising=False)
    assert Catalog().data_dir == Path("data")
    monkeypatch.setenv("BACKTESTESTER_DATA", str(tmp_path / "env"))
    assert Catalog().data_dir == tmp_path / "env"
    assert Catalog(tmp_path / "arg").data_dir == tmp_path / "arg"
    assert Catalog(str(tmp_path / "arg")).data_dir == tmp_path / "arg"


def test_layout_schema_and_roundtrip(tmp_path, minutes):
    cat = Catalog(tmp_path)
    entry = cat.write("aaa", "1m", minutes)
    assert entry.path == tmp_path / "AAA" / "1m.parquet" and entry.path.is_file()
    assert files_under(tmp_path) == ["AAA/1m.parquet"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert entry.path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert entry.rows == minutes.num_rows
    assert entry.first == datetime(2021, 6, 7, 13, 30, tzinfo=UTC)
    stored = pq.read_table(entry.path)
    assert stored.schema.remove_metadata() == BAR_SCHEMA
    assert stored.schema.metadata[b"symbol"] == b"AAA" and stored.schema.metadata[b"timeframe"] == b"1m"
    loaded = cat.load("Aaa", "1m")
    assert loaded.equals(minutes.replace_schema_metadata(None), check_metadata=False)
    assert all(c.num_chunks == 1 for c in loaded.columns)  # engine repositories use it in place
    repo = Repository.from_table("AAA", timedelta(minutes=1), loaded)
    assert len(repo) == minutes.num_rows


@pytest.mark.parametrize("bad", ["", "  ", "../x", "a/b", ".hidden", "a b", "x..y", None, 5])
def test_bad_symbols_are_refused(tmp_path, minutes, bad):
    with pytest.raises((ValueError, TypeError)):
        Catalog(tmp_path).write(bad, "1m", minutes)
    assert files_under(tmp_path) == []


def test_symbols_with_punctuation(tmp_path, minutes):
    cat = Catalog(tmp_path)
    for sym in ("brk.b", "^gspc", "eurusd=x", "x:btcusd"):
        cat.write(sym, "1m", minutes.slice(0, 10))
    assert cat.symbols() == ["BRK.B", "EURUSD=X", "X:BTCUSD", "^GSPC"]


def test_unknown_timeframe(tmp_path, minutes):
    with pytest.raises(ValueError, match="timeframe must be one of 1m 5m 15m 30m 1h 4h 1d 1w"):
        Catalog(tmp_path).write("AAA", "2m", minutes)


# --------------------------------------------------------------------------- #
# Validation and atomic writes
# --------------------------------------------------------------------------- #


def _broken(minutes, kind):
    t = minutes.slice(0, 50)
    o = t.column("open").to_numpy().copy()
    h = t.column("high").to_numpy().copy()
    lo = t.column("low").to_numpy().copy()
    v = t.column("volume").to_numpy().copy()
    s = starts(t).copy()
    if kind == "unsorted":
        s[7], s[8] = s[8], s[7]
        return with_column(t, "start", s), 8, "before the previous row"
    if kind == "duplicate":
        s[7] = s[6]
        return with_column(t, "start", s), 7, "duplicate timestamp"
    if kind == "high":
        h[9] = max(o[9], t.column("close").to_numpy()[9]) - 0.01
        return with_column(t, "high", h), 9, "high .* is below max"
    if kind == "low":
        lo[10] = min(o[10], t.column("close").to_numpy()[10]) + 0.01
        return with_column(t, "low", lo), 10, "low .* is above min"
    if kind == "nan":
        o[11] = np.nan
        return with_column(t, "open", o), 11, "open is missing"
    if kind == "volume":
        v[12] = -1
        return with_column(t, "volume", v), 12, "volume is -1"
    if kind == "spacing":
        s[13] = s[12] + 30 * 10**9
        return with_column(t, "start", s), 13, "only 0:00:30 after the previous bar"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["unsorted", "duplicate", "high", "low", "nan", "volume", "spacing"])
def test_bad_tables_are_rejected_and_nothing_is_written(tmp_path, minutes, kind):
    table, index, reason = _broken(minutes, kind)
    cat = Catalog(tmp_path)
    with pytest.raises(BarValidationError, match=reason) as info:
        cat.write("AAA", "1m", table)
    assert info.value.index == index
    assert isinstance(info.value, ValueError)
    assert "nothing was written" in str(info.value)
    assert files_under(tmp_path) == [] and cat.symbols() == []


def test_bad_table_types(tmp_path, minutes):
    cat = Catalog(tmp_path)
    naive = minutes.set_column(0, "start", minutes.column("start").cast(pa.timestamp("ns")))
    with pytest.raises(BarValidationError, match="naive timestamps are ambiguous"):
        cat.write("AAA", "1m", naive)
    with pytest.raises(BarValidationError, match="missing columns volume"):
        cat.write("AAA", "1m", minutes.drop_columns(["volume"]))
    # other units and zones are converted; extra columns are dropped
    other = minutes.set_column(0, "start", minutes.column("start").cast(pa.timestamp("us", "America/New_York")))
    other = other.append_column("extra", pa.array(np.zeros(other.num_rows)))
    cat.write("AAA", "1m", other)
    assert cat.load("AAA", "1m").schema.remove_metadata() == BAR_SCHEMA


def test_write_survives_an_exception_mid_write(tmp_path, minutes, monkeypatch):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes)
    before = (tmp_path / "AAA" / "1m.parquet").read_bytes()
    real_write = pq.write_table

    def half_then_fail(table, where, **kw):
        real_write(table.slice(0, 10), where, **kw)  # some bytes reach the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(catalog_module.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        cat.write("AAA", "1m", minutes.slice(0, 100))
    with pytest.raises(OSError, match="disk full"):
        cat.write("BBB", "1m", minutes.slice(0, 100))
    assert (tmp_path / "AAA" / "1m.parquet").read_bytes() == before  # the old file, intact
    assert files_under(tmp_path) == ["AAA/1m.parquet"]  # no temporary files, no BBB directory
    monkeypatch.undo()
    assert cat.load("AAA", "1m").num_rows == minutes.num_rows


def test_write_many_is_all_or_nothing(tmp_path, minutes):
    cat = Catalog(tmp_path)
    bad, _, _ = _broken(minutes, "nan")
    with pytest.raises(BarValidationError):
        cat.write_many({("AAA", "1m"): minutes, ("BBB", "1m"): bad})
    assert files_under(tmp_path) == []
    entries = cat.write_many({("AAA", "1m"): minutes, ("BBB", "1m"): minutes.slice(0, 5)})
    assert [(e.symbol, e.rows) for e in entries] == [("AAA", minutes.num_rows), ("BBB", 5)]


def test_merge_mode(tmp_path, minutes):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes.slice(0, 100))
    update = minutes.slice(50, 100)  # overlaps rows 50-99 and adds 100-149
    changed = with_column(update, "volume", update.column("volume").to_numpy() + 1)
    entry = cat.write("AAA", "1m", changed, mode="merge")
    assert entry.rows == 150
    got = cat.load("AAA", "1m")
    assert np.array_equal(starts(got), starts(minutes.slice(0, 150)))
    vol = got.column("volume").to_numpy()
    assert np.array_equal(vol[:50], minutes.column("volume").to_numpy()[:50])
    assert np.array_equal(vol[50:], changed.column("volume").to_numpy())  # the new rows win
    # merge into nothing = write; replace drops the old rows
    assert cat.write("CCC", "1m", minutes.slice(0, 3), mode="merge").rows == 3
    assert cat.write("AAA", "1m", minutes.slice(0, 3)).rows == 3
    with pytest.raises(ValueError, match="mode must be"):
        cat.write("AAA", "1m", minutes, mode="append")


def test_keep_stored_refuses_a_replace_that_drops_stored_bars(tmp_path, minutes):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes.slice(0, 100))
    before = (tmp_path / "AAA" / "1m.parquet").read_bytes()
    with pytest.raises(StoredBarsLostError) as info:  # rows 0-1 and 98-99 would go
        cat.write_many({("BBB", "1m"): minutes, ("AAA", "1m"): minutes.slice(2, 96)}, keep_stored=True)
    err = info.value
    assert (err.symbol, err.timeframe, err.stored, err.lost) == ("AAA", "1m", 100, 4)
    assert (err.first_lost, err.last_lost) == (starts(minutes)[0], starts(minutes)[99])
    assert "would drop 4 of the 100 stored AAA 1m bars" in str(err) and "mode='merge'" in str(err)
    assert files_under(tmp_path) == ["AAA/1m.parquet"]  # all or nothing: BBB is not written either
    assert (tmp_path / "AAA" / "1m.parquet").read_bytes() == before
    # a superset replaces; a merge never drops; without keep_stored a replace is a replace
    assert cat.write("AAA", "1m", minutes.slice(0, 150), keep_stored=True).rows == 150
    assert cat.write("AAA", "1m", minutes.slice(200, 10), mode="merge", keep_stored=True).rows == 160
    assert cat.write("AAA", "1m", minutes.slice(0, 3)).rows == 3


def test_merge_that_breaks_the_series_is_rejected(tmp_path, minutes):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes.slice(0, 10))
    shifted = with_column(minutes.slice(0, 10), "start", starts(minutes.slice(0, 10)) + 30 * 10**9)
    with pytest.raises(BarValidationError, match="merging with the 10 stored rows"):
        cat.write("AAA", "1m", shifted, mode="merge")
    assert cat.load("AAA", "1m").num_rows == 10


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def test_load_range(tmp_path, minutes):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes)
    # dates are session dates: from the open of the first session on/after start, to the open of end
    day = cat.load("AAA", "1m", "2021-06-08", "2021-06-09")
    assert day.num_rows == 390 and starts(day)[0] == ns("2021-06-08T13:30")
    weekend = cat.load("AAA", "1m", "2021-06-12", "2021-06-15")  # Sat .. Tue: Monday's session
    assert weekend.num_rows == 390 and starts(weekend)[0] == ns("2021-06-14T13:30")
    # instants: [start, end)
    inst = cat.load("AAA", "1m", datetime(2021, 6, 8, 14, 0, tzinfo=UTC), "2021-06-08T14:10:00Z")
    assert inst.num_rows == 10 and starts(inst)[0] == ns("2021-06-08T14:00")
    assert cat.load("AAA", "1m", np.datetime64("2030-01-01")).num_rows == 0
    with pytest.raises(ValueError, match="end .* must be after start"):
        cat.load("AAA", "1m", "2021-06-09", "2021-06-08")


def test_load_resamples_from_the_finest_stored(tmp_path, minutes):
    cat = Catalog(tmp_path)
    cat.write("AAA", "1m", minutes)
    cat.write("AAA", "1h", resample(minutes, "1m", "1h"))
    four = cat.load("AAA", "4h")
    assert four.schema.metadata[b"resampled_from"] == b"1m"
    assert four.schema.metadata[b"symbol"] == b"AAA" and four.schema.metadata[b"timeframe"] == b"4h"
    grid = generate_bars("AAA", timeframe="4h", start="2021-06-07", end="2021-06-21", seed=11)
    assert np.array_equal(starts(four), starts(grid))
    # ranges apply to the resampled bars
    part = cat.load("AAA", "1d", "2021-06-09", "2021-06-11")
    assert list(starts(part)) == [ns("2021-06-09T13:30"), ns("2021-06-10T13:30")]
    assert part.column("volume").to_numpy()[0] == cat.load("AAA", "1m", "2021-06-09", "2021-06-10").column(
        "volume").to_numpy().sum()
    week = cat.load("AAA", "1w")
    assert week.num_rows == 2 and all(c.num_chunks == 1 for c in week.columns)
    # the stored 1h file is used as is
    assert b"resampled_from" not in (cat.load("AAA", "1h").schema.metadata or {})


def test_load_falls_back_when_the_finest_does_not_fit(tmp_path, minutes):
    """30m bars at :15/:45 straddle XNYS hour buckets; the stored 1h bars serve 4h instead."""
    cat = Catalog(tmp_path)
    half = resample(minutes, "1m", "30m")
    odd = with_column(half, "start", starts(half) + 15 * 60 * 10**9)
    cat.write("AAA", "30m", odd)
    with pytest.raises(ValueError, match="spans two XNYS 1h buckets"):
        cat.load("AAA", "1h")
    cat.write("AAA", "1h", resample(minutes, "1m", "1h"))
    assert cat.load("AAA", "4h").schema.metadata[b"resampled_from"] == b"1h"


def test_missing_symbol_and_timeframe_errors(tmp_path, minutes):
    cat = Catalog(tmp_path / "nowhere")
    with pytest.raises(SymbolNotFoundError, match="does not exist"):
        cat.load("AAA", "1m")
    cat = Catalog(tmp_path)
    cat.write("AAA", "1d", generate_bars("AAA", timeframe="1d", start="2021-01-04", n_bars=20, seed=1))
    cat.write("BBB", "1m", minutes.slice(0, 10))
    with pytest.raises(LookupError) as info:
        cat.load("zzz", "1m")
    msg = str(info.value)
    assert isinstance(info.value, SymbolNotFoundError)
    assert "'ZZZ'" in msg and str(tmp_path) in msg and "AAA, BBB" in msg
    with pytest.raises(TimeframeNotFoundError) as info:
        cat.load("AAA", "1h")
    msg = str(info.value)
    assert isinstance(info.value, LookupError)
    assert "AAA has no 1h bars" in msg and "(1d)" in msg and "1m, 5m, 15m, 30m" in msg
    assert info.value.stored == ["1d"]
    with pytest.raises(ValueError, match="calendar"):
        cat.load("AAA", "1w", calendar="NOT_A_CALENDAR")


def test_24_7_loading(tmp_path):
    bars = generate_bars("BTC", timeframe="1m", start="2021-06-05", n_bars=3 * 1440, calendar=None, seed=2)
    cat = Catalog(tmp_path)
    cat.write("BTC", "1m", bars)
    d = cat.load("BTC", "1d", calendar=None)
    assert list(starts(d)) == [ns("2021-06-05"), ns("2021-06-06"), ns("2021-06-07")]
    assert cat.load("BTC", "1d", "2021-06-06", calendar=None).num_rows == 2  # a date is 00:00 UTC
    # on XNYS only Monday's session remains
    assert cat.load("BTC", "1d").num_rows == 1


# --------------------------------------------------------------------------- #
# Listing
# --------------------------------------------------------------------------- #


def test_entries_and_symbols(tmp_path, minutes):
    cat = Catalog(tmp_path)
    assert cat.symbols() == [] and cat.entries() == []
    cat.write("BBB", "1d", generate_bars("BBB", timeframe="1d", start="2021-01-04", n_bars=5, seed=1))
    cat.write("AAA", "1m", minutes)
    cat.write("AAA", "1h", resample(minutes, "1m", "1h"))
    cat.write("EMPTY", "1m", minutes.slice(0, 0))
    (tmp_path / "AAA" / ".1m.parquet.x.tmp").write_bytes(b"junk")  # a crashed writer's leftover
    (tmp_path / "notes").mkdir()
    (tmp_path / "lower").mkdir()
    (tmp_path / "lower" / "1m.parquet").write_bytes(b"x")
    assert cat.symbols() == ["AAA", "BBB", "EMPTY"]
    assert cat.timeframes("aaa") == ["1m", "1h"]
    entries = cat.entries()
    assert [(e.symbol, e.timeframe) for e in entries] == [("AAA", "1m"), ("AAA", "1h"), ("BBB", "1d"),
                                                          ("EMPTY", "1m")]
    first = entries[0]
    assert isinstance(first, CatalogEntry)
    assert first.rows == minutes.num_rows
    assert first.first == datetime(2021, 6, 7, 13, 30, tzinfo=UTC)
    assert first.last == datetime(2021, 6, 18, 19, 59, tzinfo=UTC)
    assert first.path == tmp_path / "AAA" / "1m.parquet"
    assert entries[-1].rows == 0 and entries[-1].first is None
    symbol, timeframe, rows, first_start, last_start, path = entries[2]  # a plain tuple too
    assert (symbol, timeframe, rows) == ("BBB", "1d", 5)
    assert [e.symbol for e in cat.entries(["bbb"])] == ["BBB"]


# --------------------------------------------------------------------------- #
# Pure core
# --------------------------------------------------------------------------- #

DATA_MODULES = ["catalog", "resample", "schema", "dates", "validation",
                "importers/__init__", "importers/into_catalog", "importers/samples", "importers/errors",
                "importers/reading", "importers/conversion", "importers/frames", "importers/generic",
                "importers/yahoo", "importers/polygon", "cli"]


def test_data_modules_import_no_pandas_ray_or_grpc():
    for name in DATA_MODULES:
        tree = ast.parse((REPO / "backtestester" / "data" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert not set(roots) & {"pandas", "ray", "grpc"}, f"{name}.py imports {roots}"
    code = ("import sys; import backtestester.data.catalog, backtestester.data.resample, "
            "backtestester.data.importers, backtestester.data.cli; "
            "print(sorted(m for m in ('ray', 'grpc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "[]"
