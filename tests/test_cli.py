"""The ``backtestester`` command line as a whole: version, a help text for every option of every
command, one spelling per concept across commands."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.cli import build_parser, main
from backtestester import __version__


def commands(parser, path=()):
    """``(command path, parser)`` for the main parser and every (nested) subcommand."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def options(parser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_every_option_of_every_command_has_help():
    missing = [f"{' '.join(path) or 'backtestester'} {a.option_strings or a.dest}"
               for path, parser in commands(build_parser()) for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == []


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"backtestester {__version__}"
    done = subprocess.run([str(Path(sys.executable).parent / "backtestester"), "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"backtestester {__version__}"


# One spelling per concept: the options backtest and sweep share, and those every command that
# reads the catalog takes.
SHARED = {"--strategy", "--param", "--timeframe", "--calendar", "--balance", "--fill-model", "--commission",
          "--slippage", "--start", "--data-dir"}


def test_the_same_concept_has_the_same_flag_across_commands():
    parsers = {" ".join(path): parser for path, parser in commands(build_parser())}
    assert SHARED <= options(parsers["backtest"]) and SHARED <= options(parsers["sweep"])
    # the live client: an unchanged strategy, so the strategy's flags are spelled as in backtest and sweep
    assert {"--strategy", "--param", "--timeframe", "--balance", "--gateway", "--tls-ca"} <= options(parsers["live"])
    assert parsers["live"].parse_args(["--strategy", "m:C", "--symbols", "X", "--param", "fast=2",
                                       "--param", "slow=5"]).param == [("fast", 2), ("slow", 5)]
    for name in ("sweep", "demo", "serve", "backtest", "data import", "data synth", "data ls", "data show"):
        assert "--data-dir" in options(parsers[name]), name
    # several symbols: --symbols, repeatable; backtest's --symbol is accepted (hidden) by sweep and synth
    for name in ("sweep", "data synth"):
        args = parsers[name].parse_args(["--symbol", "a", "--symbols", "b", "c", *(
            ["--bars", "5"] if name == "data synth" else [])])
        assert args.symbols == ["a", "b", "c"]


def test_hidden_aliases_are_not_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = capsys.readouterr().out
    assert "--symbols" in text and "--symbol " not in text


def test_strategy_module_in_the_current_directory(tmp_path):
    """``--strategy mine:Hold`` finds ``mine.py`` in the current directory, as ``python -m`` would,
    without PYTHONPATH. (A sweep's workers too: tests/sweep/test_sweep_cli.py's Ctrl-C test runs a
    strategy from its temporary directory.)"""
    (tmp_path / "mine.py").write_text(
        "from backtestester import Strategy\n\n\nclass Hold(Strategy):\n    quantity: int = 3\n\n"
        "    def on_candle(self, ctx, bar):\n        if ctx.position(bar.symbol).quantity == 0:\n"
        "            ctx.buy(bar.symbol, self.quantity)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(Path(sys.executable).parent / "backtestester"), "backtest", "--strategy", "mine:Hold",
                           "--param", "quantity=4", "--bars", "500"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Hold {'quantity': 4}" in done.stdout and "1 fills" in done.stdout


def test_live_takes_its_gateway_from_the_environment_or_says_where_to_give_it(monkeypatch, capsys):
    """pm2 clients set BACKTESTESTER_GATEWAY (group_vars); without it and without --gateway: exit 2."""
    monkeypatch.setenv("BACKTESTESTER_GATEWAY", "10.0.0.5:5051")
    assert build_parser().parse_args(["live", "--strategy", "m:C", "--symbols", "X"]).gateway == "10.0.0.5:5051"
    monkeypatch.delenv("BACKTESTESTER_GATEWAY")
    assert main(["live", "--strategy", "backtestester.strategy.reference:SmaCross", "--symbols", "X"]) == 2
    assert "give --gateway HOST:PORT or set BACKTESTESTER_GATEWAY" in capsys.readouterr().err
