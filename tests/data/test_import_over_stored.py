"""Importing over stored data: an empty input is an error, a replace never drops stored bars
without drop_stored=True (--drop-stored), a merge never drops any, and every malformed CSV of the
fault campaign is rejected with a clear message while the stored series stays byte for byte."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.importers import DataImportError, FileFormatError, StoredBarsLostError, import_files
from backtestester.data.synthetic import generate_bars

POLY_HEAD = "ticker,volume,open,close,high,low,window_start,transactions"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


STORED_BARS = 5000


@pytest.fixture
def stored(tmp_path):
    """(a catalog holding 5,000 daily X bars, those bars, the stored file's bytes)."""
    cat = Catalog(tmp_path / "data")
    cat.write("X", "1d", generate_bars("X", timeframe="1d", start="2000-01-03", n_bars=STORED_BARS, seed=3))
    bars = cat.load("X", "1d")
    return cat, bars, cat.path("X", "1d").read_bytes()


def csv_of(table, path: Path) -> Path:
    pcsv.write_csv(table, path)
    return path


def assert_unchanged(cat: Catalog, before: bytes) -> None:
    assert cat.path("X", "1d").read_bytes() == before  # the stored file, byte for byte
    assert [p.name for p in cat.path("X", "1d").parent.iterdir()] == ["1d.parquet"]  # no temporary file left


EMPTY_INPUTS = [
    # (file name, content, import options, words of the error)
    ("X.csv", "time,open,high,low,close,volume\n", {"timeframe": "1d"}, "X.csv has a header and no rows"),
    ("X.csv", "time,open,high,low,close,volume\n", {}, "X.csv has a header and no rows"),
    ("X.csv", "time,open,high,low,close,volume\n\n\n", {"timeframe": "1d"}, "X.csv has a header and no rows"),
    ("X.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n", {"format": "yahoo"}, "X.csv has a header and no rows"),
    ("X.csv", "Price,Close,High,Low,Open,Volume\nTicker,X,X,X,X,X\nDate,,,,,\n", {"format": "yahoo"},
     "X.csv has a header and no rows"),
    ("X.csv", "", {}, "X.csv is empty"),
    ("X.csv", "\n\n", {}, "X.csv is empty"),
    ("X.csv", "time,open,high,low,close,volume\n2021-06-01T12:00:00Z,1,1,1,1,1\n2021-06-01T12:01:00Z,1,1,1,1,1\n",
     {"regular_hours": True}, "none of the 2 rows of X.csv is in a regular session of XNYS"),
]


@pytest.mark.parametrize("name,text,options,words", EMPTY_INPUTS)
def test_an_empty_input_is_an_error_and_the_stored_series_is_kept(stored, tmp_path, name, text, options, words):
    # The campaign's defect: a header-only CSV over a 5,000-row series exited 0 ("1 file written,
    # 0 rows") and left the series empty. Now every empty input raises and writes nothing.
    cat, bars, before = stored
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FileFormatError) as info:
        import_files(cat, [path], symbol="X", **options)
    assert words in str(info.value)
    assert "expected" in str(info.value) and "nothing was imported" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert_unchanged(cat, before)
    assert cat.load("X", "1d").equals(bars)


def test_an_empty_polygon_file_is_an_error(stored, tmp_path):
    cat, _, before = stored
    path = write(tmp_path / "2021-06-01.csv", POLY_HEAD + "\n")
    with pytest.raises(FileFormatError, match="2021-06-01.csv has a header and no rows: expected"):
        import_files(cat, [path])
    assert_unchanged(cat, before)


def test_one_empty_file_among_several_rejects_the_import(stored, tmp_path):
    cat, bars, before = stored
    full = csv_of(bars, tmp_path / "full.csv")
    empty = write(tmp_path / "empty.csv", "start,open,high,low,close,volume\n")
    with pytest.raises(FileFormatError, match="empty.csv has a header and no rows"):
        import_files(cat, [full, empty], symbol="X", timeframe="1d")
    assert_unchanged(cat, before)


def test_a_shorter_file_does_not_replace_the_stored_series_without_drop_stored(stored, tmp_path):
    cat, bars, before = stored
    short = csv_of(bars.slice(0, 100), tmp_path / "short.csv")
    with pytest.raises(StoredBarsLostError) as info:
        import_files(cat, [short], symbol="X", timeframe="1d")
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.symbol, err.timeframe, err.stored, err.lost) == ("X", "1d", STORED_BARS, STORED_BARS - 100)
    text = str(err)
    assert "would drop 4,900 of the 5,000 stored X 1d bars" in text and "short.csv" in text
    assert "mode='merge' (--mode merge)" in text and "drop_stored=True (--drop-stored)" in text
    assert_unchanged(cat, before)
    # the explicit flag replaces
    entry = import_files(cat, [short], symbol="X", timeframe="1d", drop_stored=True)[0]
    assert entry.rows == 100 and cat.load("X", "1d").equals(bars.slice(0, 100), check_metadata=False)


def test_a_file_that_no_longer_covers_the_stored_range_is_refused(stored, tmp_path):
    # as many rows as stored, but shifted by 10 sessions: the first 10 stored bars would go
    cat, bars, before = stored
    later = generate_bars("X", timeframe="1d", start="2000-01-03", n_bars=STORED_BARS + 10, seed=3).slice(10)
    path = csv_of(later, tmp_path / "later.csv")
    with pytest.raises(StoredBarsLostError, match="would drop 10 of the 5,000 stored X 1d bars") as info:
        import_files(cat, [path], symbol="X", timeframe="1d")
    assert info.value.lost == 10
    assert_unchanged(cat, before)


def test_appending_new_days(stored, tmp_path):
    cat, bars, before = stored
    longer = generate_bars("X", timeframe="1d", start="2000-01-03", n_bars=STORED_BARS + 10, seed=3)
    # a file of only the new days: replacing would drop every stored bar; merging appends
    new_days = csv_of(longer.slice(STORED_BARS), tmp_path / "new.csv")
    with pytest.raises(StoredBarsLostError, match="would drop 5,000 of the 5,000 stored"):
        import_files(cat, [new_days], symbol="X", timeframe="1d")
    assert_unchanged(cat, before)
    entry = import_files(cat, [new_days], symbol="X", timeframe="1d", mode="merge")[0]
    assert entry.rows == STORED_BARS + 10
    assert cat.load("X", "1d").equals(longer, check_metadata=False)
    # a re-download of the whole history plus new days replaces (nothing stored is dropped)
    cat.write("X", "1d", bars)
    assert import_files(cat, [csv_of(longer, tmp_path / "all.csv")], symbol="X", timeframe="1d")[0].rows == \
        STORED_BARS + 10
    # merging overlapping rows: the file's rows win for equal timestamps, the rest is kept
    last = longer.slice(STORED_BARS - 1, 1)
    high = float(last.column("high")[0].as_py()) * 2
    changed = last.set_column(2, "high", pa.array([high]))
    import_files(cat, [csv_of(changed, tmp_path / "fix.csv")], symbol="X", timeframe="1d", mode="merge")
    got = cat.load("X", "1d")
    assert got.num_rows == STORED_BARS + 10 and got.column("high")[STORED_BARS - 1].as_py() == high


# Malformed CSVs of the fault campaign, each imported over the stored 5,000-bar series: every one
# is rejected with a message naming the file (and the row) and what is accepted; nothing changes.
HEAD = "time,open,high,low,close,volume\n"
ROW2 = "2021-06-02T13:30:00Z,10,11,9,10.5,100\n"
ROW3 = "2021-06-03T13:30:00Z,10,11,9,10.5,100\n"
MALFORMED = [
    ("empty file", "", "is empty: expected a header line, then one row per bar"),
    ("header only", HEAD, "has a header and no rows: expected"),
    ("blank lines only", "\n \n", "is empty: expected a header line, then one row per bar"),
    ("bad date", HEAD + ROW2 + "2021-13-45T13:30:00Z,10,11,9,10.5,100\n", "row 3: time value '2021-13-45T13:30:00Z' is not"),
    ("duplicated timestamp", HEAD + ROW2 + ROW2, "row 3: duplicate timestamp"),
    ("unsorted", HEAD + ROW3 + ROW2, "row 3: timestamp 2021-06-02 13:30 UTC is before the previous row"),
    ("too close for 1d", HEAD + ROW2 + "2021-06-02T13:31:00Z,10,11,9,10.5,100\n", "row 3: timestamp"),
    ("NaN price", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,NaN,9,10.5,100\n", "row 3: high is missing"),
    ("empty price", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,11,,10.5,100\n", "row 3: low is missing"),
    ("infinite price", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,inf,9,10.5,100\n", "row 3:"),
    ("text price", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,11,9,ten,100\n", "row 3: close value 'ten' is not a number"),
    ("high below close", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,10.2,9,10.5,100\n", "row 3: high 10.2 is below max"),
    ("low above open", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,11,10.1,10.5,100\n", "row 3: low 10.1 is above min"),
    ("negative volume", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,11,9,10.5,-1\n", "row 3: volume is -1"),
    ("missing column", "time,open,high,low,volume\n2021-06-02T13:30:00Z,10,11,9,100\n",
     "no close column for the generic format"),
    ("wrong columns", "a,b,c\n1,2,3\n", "no start column for the generic format"),
    ("ragged row", HEAD + ROW2 + "2021-06-03T13:30:00Z,10,11\n", "row 3: expected 6 fields"),
    ("empty time", HEAD + ROW2 + ",10,11,9,10.5,100\n", "row 3: time is empty"),
    ("not a session", HEAD + "2021-06-04,10,11,9,10.5,100\n2021-06-05,10,11,9,10.5,100\n",
     "row 3: time 2021-06-05 is not a session of the XNYS calendar"),
    ("binary garbage", "\x00\x01\x02\x03garbage\xff\n\x00", "X.csv"),
    # the error names the columns it found, but never echoes a whole 100 KB header
    ("100 KB header", "x" * 100_000 + "\n1\n", "no start column for the generic format; columns: 'xxxx"),
    ("20,000 columns", ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join("1" * 20_000) + "\n",
     "columns: 'c0', 'c1', 'c2'"),
    ("100 KB time", HEAD + ROW2 + "2021-06-03T13:30:00Z" + "Z" * 100_000 + ",10,11,9,10.5,100\n", "row 3: time value"),
]


@pytest.mark.parametrize("case,text,words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_csvs_are_rejected_and_change_nothing(stored, tmp_path, case, text, words):
    cat, bars, before = stored
    path = tmp_path / "X.csv"
    path.write_text(text)
    with pytest.raises(DataImportError) as info:
        import_files(cat, [path], symbol="X", timeframe="1d")
    message = str(info.value)
    assert words in message and "X.csv" in message, message
    assert len(message) < 1000, message
    assert_unchanged(cat, before)


def test_drop_stored_applies_to_replace_only(stored, tmp_path):
    # a merge never drops a stored bar, so the flag there is a mistake, not something to ignore
    cat, bars, before = stored
    path = csv_of(bars.slice(0, 10), tmp_path / "X.csv")
    with pytest.raises(ValueError, match="drop_stored \\(--drop-stored\\) applies to mode='replace'"):
        import_files(cat, [path], symbol="X", timeframe="1d", mode="merge", drop_stored=True)
    polygon = write(tmp_path / "2021-06-01.csv", POLY_HEAD + "\nAAPL,10,1,1,1,1,1622554200000000000,1\n")
    with pytest.raises(ValueError, match="polygon imports merge unless mode='replace' \\(--mode replace\\)"):
        import_files(cat, [polygon], drop_stored=True)
    with pytest.raises(ValueError, match="mode must be 'replace' or 'merge', got 'append'"):
        import_files(cat, [path], symbol="X", timeframe="1d", mode="append")
    assert_unchanged(cat, before)


def test_an_empty_parquet_file_is_an_error(stored, tmp_path):
    cat, bars, before = stored
    pq.write_table(bars.slice(0, 0), tmp_path / "X.parquet")
    with pytest.raises(FileFormatError, match="X.parquet has no rows: expected at least one bar"):
        import_files(cat, [tmp_path / "X.parquet"], timeframe="1d")
    assert_unchanged(cat, before)
