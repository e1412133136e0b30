"""``backtestester backtest``: several symbols (generated and catalog bars), one default fill model
with `sweep`, every run setting in the header, and every option that would not apply refused."""
from __future__ import annotations

import pytest

from actors.cli import main
from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars
from backtestester.strategy import Strategy
from backtestester.sweep.config import RunConfig, SweepSpec

SEEN: dict[str, list] = {}  # what the last SymbolRecorder run saw: symbol -> closes


class SymbolRecorder(Strategy):
    """Records the closes of every symbol it is shown (in SEEN, for the test to read)."""

    def on_start(self, ctx):
        SEEN.clear()
        SEEN["symbols"] = list(ctx.symbols)

    def on_candle(self, ctx, bar):
        SEEN.setdefault(bar.symbol, []).append(bar.close)


RECORDER = f"{__name__}:SymbolRecorder"


def _words(text):
    return " ".join(text.split())  # rich wraps long lines at the terminal width


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-catalog")
    for seed, symbol in enumerate(("AAA", "BBB", "CCC")):
        Catalog(path).write(symbol, "1m", generate_bars(symbol, start="2024-01-02", end="2024-01-05", seed=seed))
    return path


@pytest.mark.parametrize("symbols", [["--symbol", "aaa", "--symbol", "bbb"], ["--symbols", "aaa", "bbb"],
                                     ["--symbol", "aaa", "--symbols", "bbb", "ccc"]])
def test_generated_bars_one_series_per_symbol_with_distinct_seeds(symbols, capsys):
    assert main(["backtest", "--strategy", RECORDER, "--bars", "300", *symbols, "--seed", "3"]) == 0
    expected = [s.upper() for s in symbols if not s.startswith("--")]
    assert SEEN["symbols"] == expected
    assert all(len(SEEN[s]) == 300 for s in expected)
    closes = [tuple(SEEN[s]) for s in expected]
    assert len(set(closes)) == len(expected)  # distinct series
    header = _words(capsys.readouterr().out)
    seeds = ", ".join(str(3 + i) for i in range(len(expected)))
    assert f"{', '.join(expected)} 1m, 300 generated bars each (seeds {seeds})" in header
    # the first symbol keeps --seed: a one-symbol run on it sees the same bars
    assert main(["backtest", "--strategy", RECORDER, "--bars", "300", "--symbol", expected[0], "--seed", "3"]) == 0
    assert tuple(SEEN[expected[0]]) == closes[0]


def test_catalog_bars_of_several_symbols(catalog_dir, capsys):
    assert main(["backtest", "--strategy", RECORDER, "--data-dir", str(catalog_dir), "--symbols", "aaa", "ccc",
                 "--start", "2024-01-03", "--stop", "2024-01-03"]) == 0
    assert SEEN["symbols"] == ["AAA", "CCC"] and len(SEEN["AAA"]) == len(SEEN["CCC"]) == 390
    assert SEEN["AAA"] != SEEN["CCC"]
    assert "AAA, CCC 1m, 2024-01-03 to 2024-01-03" in _words(capsys.readouterr().out)


def test_the_header_names_every_setting_and_the_default_fill_model_is_the_sweeps(catalog_dir, capsys):
    assert main(["backtest", "--bars", "500", "--symbol", "xyz", "--timeframe", "5m", "--balance", "5000",
                 "--commission", "0.001", "--slippage", "0.0002", "--calendar", "XLON", "--param", "fast=3",
                 "--param", "slow=9"]) == 0
    header = _words(capsys.readouterr().out)
    assert ("XYZ 5m, 500 generated bars (seed 7), balance 5,000.00, fill model next_open, commission 0.001, "
            "slippage 0.0002, calendar XLON") in header and "'fast': 3, 'slow': 9" in header
    assert RunConfig.fill_model == SweepSpec.fill_model == "next_open"
    assert main(["backtest", "--strategy", RECORDER, "--data-dir", str(catalog_dir), "--symbol", "aaa",
                 "--start", "2024-01-03", "--stop", "2024-01-03", "--history-days", "1"]) == 0
    header = _words(capsys.readouterr().out)
    assert ("AAA 1m, 2024-01-03 to 2024-01-03 (+1 history days), balance 100,000.00, fill model next_open, "
            "commission 0, slippage 0, calendar XNYS") in header
    assert "from the catalog" in header
    assert main(["backtest", "--bars", "200", "--calendar", "none"]) == 0
    assert "calendar none (24/7)" in _words(capsys.readouterr().out)


CATALOG = ["--data-dir", "DATA", "--start", "2024-01-03", "--stop", "2024-01-03"]


@pytest.mark.parametrize("argv,message", [
    (["--bars", "100", *CATALOG], "--bars: only for generated bars"),
    (["--seed", "1", *CATALOG], "--seed: only for generated bars"),
    (["--bars", "100", "--seed", "1", "--start", "2024-01-03", "--stop", "2024-01-03"], "--bars, --seed: only for"),
    (["--calendar", "XLON", *CATALOG], "--calendar XLON: catalog and gateway backtests run on XNYS"),
    (["--calendar", "none", *CATALOG], "--calendar none: catalog and gateway backtests run on XNYS"),
    (["--history-days", "3"], "--history-days: only with catalog bars"),
    (["--history-days", "3", "--bars", "10"], "--history-days: only with catalog bars"),
    (["--tls-ca", "ca.pem"], "--tls-ca: only with --gateway"),
    (["--tls-ca", "ca.pem", *CATALOG], "--tls-ca: only with --gateway"),
    (["--transport", "unary", *CATALOG], "--transport: only with --gateway"),
    (["--start", "2024-01-03"], "need both --start and --stop"),
    (["--data-dir", "DATA"], "need both --start and --stop"),
    (["--symbol", "aaa", "--symbols", "bbb", "AAA"], "symbol(s) AAA given more than once"),
    (["--gateway", "127.0.0.1:1", "--start", "2024-01-03", "--stop", "2024-01-03", "--fill-model", "close",
      "--commission", "0.001", "--data-dir", "DATA"], "--data-dir: not with --gateway"),
])
def test_options_that_would_not_apply_are_refused(argv, message, catalog_dir, capsys):
    argv = [str(catalog_dir) if a == "DATA" else a for a in argv]
    assert main(["backtest", "--strategy", RECORDER, *argv]) == 2
    assert message in capsys.readouterr().err
