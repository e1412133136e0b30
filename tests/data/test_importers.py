"""Importers: good and bad files of each format; a bad file names its first bad row (1-based,
the CSV header is row 1) and the reason, and nothing is written."""
from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.importers import (
    SAMPLES,
    BadRowError,
    DataImportError,
    FileFormatError,
    detect_format,
    import_files,
    import_sample,
    read_generic,
    read_polygon,
    read_yahoo,
    sample_path,
)

from .conftest import ns, starts

MIN = 60 * 10**9


def start_list(table) -> list[int]:
    return starts(table).tolist()


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"))
    return path


def nothing_written(cat: Catalog) -> bool:
    return not cat.data_dir.exists() or not any(p.is_file() for p in cat.data_dir.rglob("*"))


GOOD = """
time,open,high,low,close,volume
2021-06-01T13:30:00Z,10,11,9,10.5,100
2021-06-01T13:31:00Z,10.5,10.8,10.1,10.2,50
2021-06-01T13:32:00Z,10.2,10.3,10.0,10.1,0
2021-06-01T13:33:00Z,10.1,10.4,10.1,10.4,70
"""


# --------------------------------------------------------------------------- #
# Generic
# --------------------------------------------------------------------------- #


def test_generic_iso_utc(tmp_path):
    table, tf = read_generic(write(tmp_path / "x.csv", GOOD))
    assert tf == "1m"  # inferred from the spacing
    assert start_list(table) == [ns("2021-06-01T13:30") + k * MIN for k in range(4)]
    assert table.column("close").to_pylist() == [10.5, 10.2, 10.1, 10.4]
    assert table.column("volume").to_pylist() == [100, 50, 0, 70]


def test_generic_naive_local_times_across_dst(tmp_path):
    text = "Date,Open,High,Low,Close,Volume\n2021-03-12 09:30:00,1,1,1,1,1\n2021-03-15 09:30:00,1,1,1,1,1\n"
    table, _ = read_generic(write(tmp_path / "x.csv", text), timeframe="1m", tz="America/New_York")
    assert start_list(table) == [ns("2021-03-12T14:30"), ns("2021-03-15T13:30")]  # EST, then EDT
    table, _ = read_generic(tmp_path / "x.csv", timeframe="1m")  # default UTC
    assert start_list(table)[0] == ns("2021-03-12T09:30")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        read_generic(tmp_path / "x.csv", timeframe="1m", tz="Mars/Base")


@pytest.mark.parametrize("scale,unit", [(1, "s"), (10**3, "ms"), (10**6, "us"), (10**9, "ns")])
def test_generic_epoch_numbers(tmp_path, scale, unit):
    t0 = ns("2021-06-01T13:30") // 10**9
    rows = "\n".join(f"{(t0 + 60 * k) * scale},1,2,0.5,1.5,10" for k in range(3))
    path = write(tmp_path / "e.csv", "t,o,h,l,c,v\n" + rows + "\n")
    for given in ("auto", unit):
        table, tf = read_generic(path, epoch_unit=given)
        assert tf == "1m" and start_list(table) == [ns("2021-06-01T13:30") + k * MIN for k in range(3)]


def test_generic_column_mapping_semicolons_and_no_volume(tmp_path):
    text = "Zeit;Erster;Hoch;Tief;Letzter\n2021-06-01 15:30:00+02:00;1;2;0.5;1.5\n2021-06-01 15:35:00+02:00;1.5;2;1;1\n"
    path = write(tmp_path / "de.csv", text)
    cols = {"start": "zeit", "open": "Erster", "high": "HOCH", "low": "Tief", "close": "Letzter"}
    table, tf = read_generic(path, columns=cols)
    assert tf == "5m"
    assert start_list(table) == [ns("2021-06-01T13:30"), ns("2021-06-01T13:35")]
    assert table.column("volume").to_pylist() == [0.0, 0.0]
    with pytest.raises(FileFormatError, match="no column 'Nope' \\(mapped to close\\)"):
        read_generic(path, columns={**cols, "close": "Nope"})


def test_generic_time_format_gzip_and_parquet(tmp_path):
    text = "when,open,high,low,close,volume\n01/06/2021 13:30,1,2,0.5,1.5,10\n01/06/2021 13:31,1,2,0.5,1.5,10\n"
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    table, _ = read_generic(gz, time_format="%d/%m/%Y %H:%M", columns={"start": "when"})
    assert start_list(table) == [ns("2021-06-01T13:30"), ns("2021-06-01T13:31")]
    # Parquet: naive timestamps are local time in tz; aware ones are instants
    for tz_type, tz, want in ((pa.timestamp("ms"), "Europe/London", ns("2021-06-01T12:30")),
                              (pa.timestamp("s", "Asia/Tokyo"), "UTC", ns("2021-06-01T13:30"))):
        local = ns("2021-06-01T13:30") // 10**6 if tz_type.tz is None else ns("2021-06-01T13:30") // 10**9
        t = pa.table({"Timestamp": pa.array([local], tz_type), "Open": [1.0], "High": [2.0], "Low": [0.5],
                      "Close": [1.5], "Volume": [3]})
        pq.write_table(t, tmp_path / "f.parquet")
        table, _ = read_generic(tmp_path / "f.parquet", timeframe="1m", tz=tz)
        assert start_list(table) == [want]


def test_generic_dates_make_daily_bars_at_the_session_open(tmp_path):
    path = write(tmp_path / "d.csv", "date,open,high,low,close,volume\n2021-06-04,1,2,0.5,1.5,10\n"
                                     "2021-06-07,1,2,0.5,1.5,10\n")
    table, tf = read_generic(path)
    assert tf == "1d" and start_list(table) == [ns("2021-06-04T13:30"), ns("2021-06-07T13:30")]
    table, _ = read_generic(path, calendar=None)
    assert start_list(table) == [ns("2021-06-04"), ns("2021-06-07")]
    with pytest.raises(FileFormatError, match="dates without a time of day"):
        read_generic(path, timeframe="1h")


def test_generic_sort_flag(tmp_path):
    text = """
time,open,high,low,close,volume
2021-06-01T13:32:00Z,3,3,3,3,3
2021-06-01T13:30:00Z,1,1,1,1,1
2021-06-01T13:31:00Z,2,2,2,2,2
2021-06-01T13:30:00Z,9,9,9,9,9
"""
    path = write(tmp_path / "u.csv", text)
    with pytest.raises(BadRowError) as info:
        read_generic(path)
    assert info.value.row == 3 and "sort=True (CLI --sort)" in str(info.value)
    table, _ = read_generic(path, sort=True, timeframe="1m")
    assert start_list(table) == [ns("2021-06-01T13:30"), ns("2021-06-01T13:31"), ns("2021-06-01T13:32")]
    assert table.column("open").to_pylist() == [9, 2, 3]  # the last of the duplicates wins


def test_generic_regular_hours(tmp_path):
    rows = "\n".join(f"2021-06-01T13:{m:02d}:00Z,1,1,1,1,1" for m in range(28, 33))
    path = write(tmp_path / "x.csv", "time,open,high,low,close,volume\n" + rows + "\n")
    table, _ = read_generic(path, regular_hours=True)
    assert start_list(table) == [ns("2021-06-01T13:30"), ns("2021-06-01T13:31"), ns("2021-06-01T13:32")]


BAD_GENERIC = [
    # (replace line k (0 = header) with text, expected row, expected words)
    (3, "2021-06-01T13:30:00Z,10.5,10.8,10.1,10.2,50", 3, "duplicate timestamp"),
    (3, "2021-06-01T13:29:00Z,10.5,10.8,10.1,10.2,50", 3, "is before the previous row"),
    (3, "2021-06-01T13:30:30Z,10.5,10.8,10.1,10.2,50", 3, "only 0:00:30 after"),
    (2, "2021-06-01T13:30:00Z,10,10.4,9,10.5,100", 2, "high 10.4 is below max"),
    (5, "2021-06-01T13:33:00Z,10.1,10.4,10.2,10.4,70", 5, "low 10.2 is above min"),
    (3, "2021-06-01T13:31:00Z,,10.8,10.1,10.2,50", 3, "open is missing"),
    (3, "2021-06-01T13:31:00Z,10.5,10.8,NaN,10.2,50", 3, "low is missing"),
    (4, "2021-06-01T13:32:00Z,10.2,10.3,10.0,10.1,-5", 4, "volume is -5"),
    (4, "2021-06-01T13:32:00Z,10.2,10.3,10.0,1o.1,5", 4, "close value '1o.1' is not a number"),
    (3, "2021-06-01 25:61:00Z,10.5,10.8,10.1,10.2,50", 3, "is not an ISO 8601 time"),
    (3, ",10.5,10.8,10.1,10.2,50", 3, "time is empty"),
]


@pytest.mark.parametrize("line,text,row,words", BAD_GENERIC)
def test_generic_bad_rows(tmp_path, line, text, row, words):
    lines = GOOD.strip().splitlines()
    lines[line - 1] = text
    path = write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    cat = Catalog(tmp_path / "data")
    with pytest.raises(BadRowError) as info:
        import_files(cat, [path], format="generic", symbol="X", timeframe="1m")
    err = info.value
    assert err.row == row, str(err)
    assert words in str(err) and f"bad.csv: row {row}" in str(err)
    assert "nothing was imported" in str(err)
    assert isinstance(err, ValueError) and isinstance(err, DataImportError)
    assert nothing_written(cat)


def test_the_first_bad_row_wins_whatever_the_check(tmp_path):
    text = """
time,open,high,low,close,volume
2021-06-01T13:30:00Z,10,11,9,10.5,100
2021-06-01T13:31:00Z,10,9,9,10.5,100
2021-06-01T13:32:00Z,abc,11,9,10.5,100
not a time,10,11,9,10.5,100
"""
    with pytest.raises(BadRowError) as info:
        read_generic(write(tmp_path / "x.csv", text), timeframe="1m")
    assert info.value.row == 3 and "high 9 is below" in info.value.reason


def test_dst_ambiguous_and_missing_local_times(tmp_path):
    head = "time,open,high,low,close,volume\n2021-11-07 00:30:00,1,1,1,1,1\n"
    path = write(tmp_path / "a.csv", head + "2021-11-07 01:30:00,1,1,1,1,1\n")
    with pytest.raises(BadRowError, match="row 3: time 2021-11-07 01:30:00 is ambiguous in America/New_York"):
        read_generic(path, timeframe="1h", tz="America/New_York", calendar=None)
    path = write(tmp_path / "n.csv", "time,open,high,low,close,volume\n2021-03-14 02:30:00,1,1,1,1,1\n")
    with pytest.raises(BadRowError, match="row 2: time 2021-03-14 02:30:00 does not exist in America/New_York"):
        read_generic(path, timeframe="1h", tz="America/New_York", calendar=None)


def test_generic_whole_file_errors(tmp_path):
    cat = Catalog(tmp_path / "data")
    ragged = write(tmp_path / "r.csv", GOOD.strip() + "\n2021-06-01T13:34:00Z,1,1\n")
    with pytest.raises(FileFormatError, match="row 6: expected 6 fields"):
        import_files(cat, [ragged], symbol="X")
    nocol = write(tmp_path / "n.csv", "time,open,high,low,volume\n2021-06-01T13:30:00Z,1,1,1,1\n")
    with pytest.raises(FileFormatError, match="no close column .* columns: 'time', 'open', 'high', 'low', 'volume'"):
        import_files(cat, [nocol], symbol="X")
    with pytest.raises(FileFormatError, match="no such file"):
        import_files(cat, [tmp_path / "missing.csv"], symbol="X")
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(FileFormatError, match="empty"):
        import_files(cat, [empty], symbol="X")
    one = write(tmp_path / "one.csv", "time,open,high,low,close,volume\n2021-06-01T13:30:00Z,1,1,1,1,1\n")
    with pytest.raises(FileFormatError, match="cannot tell the timeframe"):
        import_files(cat, [one], symbol="X")
    assert nothing_written(cat)


def test_not_a_session_date(tmp_path):
    path = write(tmp_path / "d.csv", "date,open,high,low,close,volume\n2021-06-04,1,2,0.5,1.5,10\n"
                                     "2021-06-05,1,2,0.5,1.5,10\n")
    with pytest.raises(BadRowError, match="row 3: date 2021-06-05 is not a session of the XNYS calendar"):
        read_generic(path, timeframe="1d")


# --------------------------------------------------------------------------- #
# Yahoo
# --------------------------------------------------------------------------- #


def test_goog_sample(tmp_path):
    cat = Catalog(tmp_path)
    entry = import_sample(cat, "goog")
    assert (entry.symbol, entry.timeframe, entry.rows) == ("GOOG", "1d", 2148)
    table = cat.load("GOOG", "1d")
    s = start_list(table)
    assert s[0] == ns("2004-08-19T13:30") and s[-1] == ns("2013-03-01T14:30")  # session opens (EDT, EST)
    first = {c: table.column(c)[0].as_py() for c in ("open", "high", "low", "close", "volume")}
    assert first == {"open": 100.0, "high": 104.06, "low": 95.96, "close": 100.34, "volume": 22351900.0}
    assert sample_path("GOOG").name == "GOOG-1d.csv" and "GOOG" in SAMPLES
    assert detect_format(sample_path("GOOG")) == "yahoo"
    readme = (sample_path("GOOG").parent / "README.md").read_text()
    assert "backtesting.py" in readme and "AGPL" in readme and "Yahoo" in readme


YAHOO = """
Date,Open,High,Low,Close,Adj Close,Volume
2021-06-01,100,102,99,101,50.5,1000
2021-06-02,101,103,100,102,51,1200
2021-06-03,102,104,101,103,51.5,900
"""


def test_yahoo_good_and_adjusted(tmp_path):
    path = write(tmp_path / "MSFT.csv", YAHOO)
    table = read_yahoo(path)
    assert start_list(table) == [ns("2021-06-01T13:30"), ns("2021-06-02T13:30"), ns("2021-06-03T13:30")]
    assert table.column("close").to_pylist() == [101, 102, 103]
    adj = read_yahoo(path, adjust=True)
    assert adj.column("close").to_pylist() == [50.5, 51, 51.5]
    assert adj.column("open").to_pylist()[0] == 50.0
    assert adj.column("volume").to_pylist() == [1000, 1200, 900]
    cat = Catalog(tmp_path / "data")
    (entry,) = import_files(cat, [path])  # format and symbol from the file
    assert (entry.symbol, entry.timeframe, entry.rows) == ("MSFT", "1d", 3)
    assert detect_format(path) == "yahoo"


def test_yfinance_three_line_header(tmp_path):
    text = """
Price,Close,High,Low,Open,Volume
Ticker,AAPL,AAPL,AAPL,AAPL,AAPL
Date,,,,,
2021-06-01 00:00:00-04:00,124.28,125.35,123.94,125.08,67637100
2021-06-02,125.06,125.24,124.05,124.28,59278900
2021-06-03,123.54,124.85,123.13,124.68,
"""
    path = write(tmp_path / "aapl.csv", text)
    with pytest.raises(BadRowError) as info:
        read_yahoo(path)
    assert info.value.row == 6 and "volume is missing" in info.value.reason  # three header lines
    write(path, text.replace("124.68,\n", "124.68,76229200\n"))
    table = read_yahoo(path)
    assert start_list(table)[0] == ns("2021-06-01T13:30") and table.num_rows == 3
    assert detect_format(path) == "yahoo"


@pytest.mark.parametrize("line,text,row,words", [
    (3, "2021-06-05,101,103,100,102,51,1200", 3, "2021-06-05 is not a session"),
    (3, "2021-06-02,null,null,null,null,null,null", 3, "open is missing"),
    (4, "2021-06-02,102,104,101,103,51.5,900", 4, "duplicate timestamp"),
    (2, "June 1 2021,100,102,99,101,50.5,1000", 2, "is not a date"),
])
def test_yahoo_bad_rows(tmp_path, line, text, row, words):
    lines = YAHOO.strip().splitlines()
    lines[line - 1] = text
    path = write(tmp_path / "Y.csv", "\n".join(lines) + "\n")
    cat = Catalog(tmp_path / "data")
    with pytest.raises(BadRowError) as info:
        import_files(cat, [path], format="yahoo")
    assert info.value.row == row and words in str(info.value), str(info.value)
    assert nothing_written(cat)


def test_yahoo_whole_file_errors(tmp_path):
    with pytest.raises(FileFormatError, match="no Date column"):
        read_yahoo(write(tmp_path / "y.csv", "Day,Open,High,Low,Close,Volume\n2021-06-01,1,1,1,1,1\n"))
    with pytest.raises(FileFormatError, match="needs an 'Adj Close' column"):
        read_yahoo(sample_path("GOOG"), adjust=True)


# --------------------------------------------------------------------------- #
# Polygon
# --------------------------------------------------------------------------- #


def polygon_rows(tickers=("AAPL", "MSFT", "TSLA"), minutes=3, t0="2021-06-01T13:30"):
    base = ns(t0)
    rows = []
    for m in range(minutes):  # interleaved, as a merge of sources would be
        for k, tk in enumerate(tickers):
            p = 100 + 10 * k + m
            rows.append(f"{tk},{1000 + m},{p},{p + 0.5},{p + 1},{p - 1},{base + m * MIN},{10 + m}")
    return rows


POLY_HEAD = "ticker,volume,open,close,high,low,window_start,transactions"


def test_polygon_all_and_filtered(tmp_path):
    path = write(tmp_path / "2021-06-01.csv", POLY_HEAD + "\n" + "\n".join(polygon_rows()) + "\n")
    tables, tf = read_polygon(path)
    assert tf == "1m" and sorted(tables) == ["AAPL", "MSFT", "TSLA"]
    msft = tables["MSFT"]
    assert start_list(msft) == [ns("2021-06-01T13:30") + k * MIN for k in range(3)]
    assert msft.column("open").to_pylist() == [110, 111, 112]
    assert msft.column("close").to_pylist() == [110.5, 111.5, 112.5]
    some, _ = read_polygon(path, tickers=["tsla", "aapl"])
    assert sorted(some) == ["AAPL", "TSLA"]
    cat = Catalog(tmp_path / "data")
    entries = import_files(cat, [path], tickers=["MSFT"])
    assert [(e.symbol, e.timeframe, e.rows) for e in entries] == [("MSFT", "1m", 3)]
    assert detect_format(path) == "polygon"
    with pytest.raises(FileFormatError, match="tickers not found in the file: NFLX"):
        import_files(cat, [path], tickers=["MSFT", "NFLX"])


def test_polygon_bad_row_names_row_and_ticker_and_writes_nothing(tmp_path):
    rows = polygon_rows()
    rows[7] = rows[7].replace(",113,", ",13,")  # MSFT minute 2: high 13 is below the close (row 9)
    path = write(tmp_path / "p.csv", POLY_HEAD + "\n" + "\n".join(rows) + "\n")
    cat = Catalog(tmp_path / "data")
    with pytest.raises(BadRowError) as info:
        import_files(cat, [path])
    assert info.value.row == 9 and info.value.symbol == "MSFT"
    assert "p.csv: row 9 (MSFT): high 13 is below max" in str(info.value)
    assert nothing_written(cat)
    # rows of tickers left out are not even checked
    assert [e.symbol for e in import_files(cat, [path], tickers=["AAPL", "TSLA"])] == ["AAPL", "TSLA"]


def test_polygon_bad_window_start_and_unsorted(tmp_path):
    rows = polygon_rows()
    rows[4] = rows[4].replace(str(ns("2021-06-01T13:31")), "soon")
    path = write(tmp_path / "p.csv", POLY_HEAD + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadRowError, match="row 6 \\(MSFT\\): window_start value 'soon' is not an epoch number"):
        read_polygon(path, timeframe="1m")
    rows = polygon_rows()
    rows[0], rows[3] = rows[3], rows[0]  # AAPL minute 1 before minute 0
    write(path, POLY_HEAD + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadRowError, match="row 5 \\(AAPL\\): timestamp .* is before the previous row"):
        read_polygon(path)
    tables, _ = read_polygon(path, sort=True)
    assert start_list(tables["AAPL"]) == [ns("2021-06-01T13:30") + k * MIN for k in range(3)]


def test_polygon_day_aggregates_and_merging_files(tmp_path):
    day = tmp_path / "us_stocks_sip" / "day_aggs_v1"
    day.mkdir(parents=True)
    midnight_ny = {"2021-06-01": ns("2021-06-01T04:00"), "2021-06-02": ns("2021-06-02T04:00")}
    paths = []
    for date, ws in midnight_ny.items():
        paths.append(write(day / f"{date}.csv", f"{POLY_HEAD}\nAAPL,10,1,1,1,1,{ws},1\nMSFT,10,2,2,2,2,{ws},1\n"))
    tables, tf = read_polygon(paths[0])
    assert tf == "1d" and start_list(tables["AAPL"]) == [ns("2021-06-01T13:30")]  # at the session open
    cat = Catalog(tmp_path / "data")
    import_files(cat, [paths[0]])
    import_files(cat, [paths[1]])  # polygon files merge by default: one day per file
    assert start_list(cat.load("AAPL", "1d")) == [ns("2021-06-01T13:30"), ns("2021-06-02T13:30")]
    entries = import_files(cat, paths, mode="replace")  # several files at once are combined
    assert [(e.symbol, e.rows) for e in entries] == [("AAPL", 2), ("MSFT", 2)]
    with pytest.raises(FileFormatError, match="overlap"):
        import_files(cat, [paths[0], paths[0]])


def test_polygon_gzip_and_missing_columns(tmp_path):
    gz = tmp_path / "2021-06-01.csv.gz"
    gz.write_bytes(gzip.compress((POLY_HEAD + "\n" + "\n".join(polygon_rows()) + "\n").encode()))
    tables, _ = read_polygon(gz)
    assert len(tables) == 3
    with pytest.raises(FileFormatError, match="not a Polygon aggregates flat file: missing window_start"):
        read_polygon(write(tmp_path / "x.csv", "ticker,volume,open,close,high,low\nA,1,1,1,1,1\n"))


def test_import_options_per_format(tmp_path):
    cat = Catalog(tmp_path / "data")
    path = write(tmp_path / "p.csv", POLY_HEAD + "\n" + "\n".join(polygon_rows()) + "\n")
    with pytest.raises(ValueError, match="polygon files name their tickers"):
        import_files(cat, [path], symbol="X")
    generic = write(tmp_path / "g.csv", GOOD)
    with pytest.raises(ValueError, match="--tickers\\) applies to polygon files only"):
        import_files(cat, [generic], tickers=["X"])
    with pytest.raises(ValueError, match="format must be"):
        import_files(cat, [generic], format="excel")
    assert nothing_written(cat)
