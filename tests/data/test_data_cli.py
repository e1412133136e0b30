"""`backtestester data import|synth|ls|show` end to end through `actors.cli.main`,
and once as a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.csv as pcsv
import pytest

from actors.cli import main
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars

from .conftest import REPO


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped, so lines can be matched
    monkeypatch.delenv("BACKTESTESTER_DATA", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_ls_show(tmp_path, capsys):
    d = str(tmp_path / "cat")
    code, out, err = run(capsys, "data", "synth", "--symbols", "aaa", "BBB", "--timeframe", "1m",
                         "--start", "2020-11-23", "--end", "2020-12-01", "--seed", "3", "--data-dir", d)
    assert code == 0, err
    assert "AAA" in out and "BBB" in out and "1,770" in out  # 4.5 sessions of 390 minutes
    cat = Catalog(d)
    assert cat.symbols() == ["AAA", "BBB"] and cat.entries()[0].rows == 1770

    code, out, _ = run(capsys, "data", "ls", "--data-dir", d)
    assert code == 0
    assert "2 symbols" in out and "5m 15m 30m 1h 4h 1d 1w" in out and "2020-11-23 14:30" in out

    code, out, _ = run(capsys, "data", "show", "aaa", "4h", "--start", "2020-11-27", "--end", "2020-11-28",
                       "--data-dir", d)
    assert code == 0
    assert "AAA 4h: 1 bars (resampled from 1m on XNYS)" in out  # the early close: one 4h bar
    assert "2020-11-27 14:30" in out

    code, out, _ = run(capsys, "data", "show", "AAA", "1m", "--limit", "3", "--tail", "--tz", "America/New_York",
                       "--data-dir", d)
    assert code == 0 and "2020-11-30 15:59 -0500" in out and "last 3 of 1,770" in out


def test_bars_and_seed_are_deterministic(tmp_path, capsys):
    for sub in ("a", "b"):
        assert run(capsys, "data", "synth", "--bars", "500", "--seed", "9", "--data-dir", str(tmp_path / sub))[0] == 0
    a = (tmp_path / "a" / "SYNTH" / "1m.parquet").read_bytes()
    assert a == (tmp_path / "b" / "SYNTH" / "1m.parquet").read_bytes()
    with pytest.raises(SystemExit) as info:  # argparse: one of --end / --bars is required
        main(["data", "synth", "--data-dir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--end" in err and "--bars" in err


def test_environment_variable_chooses_the_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BACKTESTESTER_DATA", str(tmp_path / "env"))
    assert run(capsys, "data", "import", "--sample", "GOOG")[0] == 0
    assert (tmp_path / "env" / "GOOG" / "1d.parquet").is_file()
    code, out, _ = run(capsys, "data", "ls", "--json")
    assert code == 0
    (line,) = out.strip().splitlines()
    assert json.loads(line) == {"symbol": "GOOG", "timeframe": "1d", "rows": 2148,
                                "first": "2004-08-19T13:30:00+00:00", "last": "2013-03-01T14:30:00+00:00",
                                "path": str(tmp_path / "env" / "GOOG" / "1d.parquet")}
    # --data-dir wins over the variable
    code, out, _ = run(capsys, "data", "ls", "--data-dir", str(tmp_path / "other"))
    assert code == 0 and "no data in" in out


def test_import_show_resampled_and_csv_roundtrip(tmp_path, capsys):
    d = str(tmp_path / "cat")
    code, out, _ = run(capsys, "data", "import", "--sample", "GOOG", "--data-dir", d)
    assert code == 0 and "2,148" in out
    code, out, _ = run(capsys, "data", "show", "GOOG", "1w", "--start", "2010-01-04", "--limit", "2", "--data-dir", d)
    assert code == 0
    assert "resampled from 1d on XNYS" in out and "2010-01-04 14:30" in out and "2010-01-11 14:30" in out
    code, out, _ = run(capsys, "data", "show", "GOOG", "1d", "--csv", "--end", "2004-08-24", "--data-dir", d)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 4 and lines[0] == '"start","open","high","low","close","volume"'
    csv_path = tmp_path / "goog.csv"
    csv_path.write_text(out)
    code, out, err = run(capsys, "data", "import", str(csv_path), "--symbol", "copy", "--timeframe", "1d",
                         "--data-dir", d)
    assert code == 0, err
    assert Catalog(d).load("COPY", "1d").equals(Catalog(d).load("GOOG", "1d", end="2004-08-24"), check_metadata=False)


def test_generic_import_with_mapping(tmp_path, capsys):
    src = tmp_path / "btc.csv"
    src.write_text("ts;o;h;l;c\n1622554200000;1;2;0.5;1.5\n1622554260000;1.5;2;1;1\n")
    d = str(tmp_path / "cat")
    code, out, err = run(capsys, "data", "import", str(src), "--column", "start=ts", "--epoch-unit", "ms",
                         "--calendar", "none", "--data-dir", d)
    assert code == 0, err
    assert "BTC" in out and "2021-06-01 13:30" in out
    entry = Catalog(d).entries()[0]
    assert (entry.symbol, entry.timeframe, entry.rows) == ("BTC", "1m", 2)


def test_bad_file_exits_2_with_the_row_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text("time,open,high,low,close,volume\n2021-06-01T13:30:00Z,1,2,0.5,1.5,1\n"
                   "2021-06-01T13:31:00Z,1,0.9,0.5,1.5,1\n")
    d = tmp_path / "cat"
    code, out, err = run(capsys, "data", "import", str(src), "--symbol", "X", "--data-dir", str(d))
    assert code == 2 and out == ""
    assert err.startswith("error: bad.csv: row 3: high 0.9 is below max(open 1, close 1.5)")
    assert not d.exists() or not any(p.is_file() for p in d.rglob("*"))


def stored_series(capsys, d: str) -> tuple[str, bytes]:
    """5,000 daily X bars in the catalog ``d``; returns their CSV (``data show --csv``) and the file's bytes."""
    code, _, err = run(capsys, "data", "synth", "--symbols", "X", "--timeframe", "1d", "--start", "2000-01-03",
                       "--bars", "5000", "--seed", "3", "--data-dir", d)
    assert code == 0, err
    code, out, err = run(capsys, "data", "show", "X", "1d", "--csv", "--data-dir", d)
    assert code == 0, err
    return out, Catalog(d).path("X", "1d").read_bytes()


def test_header_only_csv_over_a_stored_series_exits_2_and_keeps_it(tmp_path, capsys):
    # The campaign's defect: this exited 0 with "1 file written, 0 rows" and emptied the series.
    d = str(tmp_path / "cat")
    _, before = stored_series(capsys, d)
    empty = tmp_path / "X.csv"
    empty.write_text("start,open,high,low,close,volume\n")
    code, out, err = run(capsys, "data", "import", str(empty), "--timeframe", "1d", "--data-dir", d)
    assert code == 2 and out == ""
    assert err.startswith("error: X.csv has a header and no rows: expected")
    assert Catalog(d).path("X", "1d").read_bytes() == before and Catalog(d).entries()[0].rows == 5000


def test_a_shorter_file_needs_drop_stored(tmp_path, capsys):
    d = str(tmp_path / "cat")
    text, before = stored_series(capsys, d)
    short = tmp_path / "X.csv"
    short.write_text("".join(text.splitlines(keepends=True)[:101]))  # the header and the first 100 bars
    code, out, err = run(capsys, "data", "import", str(short), "--timeframe", "1d", "--data-dir", d)
    assert code == 2 and out == ""
    assert "would drop 4,900 of the 5,000 stored X 1d bars" in err
    assert "--mode merge" in err and "--drop-stored" in err
    assert Catalog(d).path("X", "1d").read_bytes() == before
    code, out, err = run(capsys, "data", "import", str(short), "--timeframe", "1d", "--drop-stored", "--data-dir", d)
    assert code == 0, err
    assert "1 file written, 100 rows" in out and Catalog(d).entries()[0].rows == 100


def test_merging_new_days_into_a_stored_series(tmp_path, capsys):
    d = str(tmp_path / "cat")
    text, _ = stored_series(capsys, d)
    lines = text.splitlines(keepends=True)
    Catalog(d).write("X", "1d", Catalog(d).load("X", "1d").slice(0, 4990))  # the last 10 days are new
    new = tmp_path / "X.csv"
    new.write_text(lines[0] + "".join(lines[-10:]))
    code, out, err = run(capsys, "data", "import", str(new), "--timeframe", "1d", "--mode", "merge", "--data-dir", d)
    assert code == 0, err
    assert "1 file written, 5,000 rows" in out


@pytest.mark.parametrize("argv,words", [
    (["data", "show", "NOPE", "1d"], "no data for symbol 'NOPE'"),
    (["data", "import"], "nothing to import"),
    (["data", "import", "--sample", "XYZ"], "unknown sample 'XYZ'"),
    (["data", "import", "missing.csv", "--symbol", "X"], "no such file"),
    (["data", "ls", "NOPE"], "no data for symbol 'NOPE'"),
])
def test_errors_exit_2(tmp_path, capsys, argv, words):
    code, _, err = run(capsys, *argv, "--data-dir", str(tmp_path))
    assert code == 2 and words in err and err.startswith("error: ")


def test_missing_timeframe_error(tmp_path, capsys):
    d = str(tmp_path)
    run(capsys, "data", "import", "--sample", "GOOG", "--data-dir", d)
    code, _, err = run(capsys, "data", "show", "GOOG", "1h", "--data-dir", d)
    assert code == 2 and "GOOG has no 1h bars" in err and "(1d)" in err


def test_subprocess(tmp_path):
    env = {**os.environ, "BACKTESTESTER_DATA": str(tmp_path), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "actors.cli", "data"]
    done = subprocess.run(cmd + ["import", "--sample", "GOOG"], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(cmd + ["show", "goog", "1d", "--limit", "1"], capture_output=True, text=True, env=env,
                          cwd=REPO)
    assert done.returncode == 0 and "2004-08-19 13:30" in done.stdout and "100.34" in done.stdout
    done = subprocess.run(cmd + ["show", "AAPL", "1d"], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 2 and "no data for symbol 'AAPL'" in done.stderr and "GOOG" in done.stderr


def test_a_killed_import_leaves_the_stored_series_whole(tmp_path):
    # SIGKILL `data import` once its temporary file exists (or whenever it is done): the stored
    # series is the old one or the new one, never a partial file, and the catalog still reads.
    d = tmp_path / "cat"
    bars = generate_bars("X", timeframe="1m", start="2020-01-02", n_bars=300_000, seed=5)
    cat = Catalog(d)
    cat.write("X", "1m", bars.slice(0, 1000))
    before = cat.path("X", "1m").read_bytes()
    pcsv.write_csv(bars, tmp_path / "X.csv")
    proc = subprocess.Popen([sys.executable, "-m", "actors.cli", "data", "import", str(tmp_path / "X.csv"),
                             "--timeframe", "1m", "--data-dir", str(d)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not list((d / "X").glob(".1m.parquet.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.001)  # polling for the condition, not waiting for it to happen
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    after = cat.load("X", "1m")
    if after.num_rows == 1000:
        assert cat.path("X", "1m").read_bytes() == before
    else:
        assert after.equals(bars, check_metadata=False)
    assert [(e.symbol, e.rows) for e in cat.entries()] == [("X", after.num_rows)]  # a left .tmp is ignored
