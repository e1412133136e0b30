"""The curated top-level API: every name importable from ``backtestester``, loaded on first use."""
import subprocess
import sys

import backtestester


def test_every_public_name_resolves_to_its_home():
    assert set(backtestester.__all__) - {"__version__"} == set(backtestester._HOMES)
    for name in backtestester.__all__:
        assert getattr(backtestester, name) is not None
    from backtestester.engine import Playground
    from backtestester.strategy import run_backtest

    assert backtestester.Playground is Playground and backtestester.run_backtest is run_backtest


def test_an_unknown_name_is_an_attribute_error_naming_it():
    try:
        backtestester.Nope
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("backtestester.Nope resolved")


def test_importing_the_engine_does_not_load_the_rest():
    """A Ray worker importing the engine pays for the engine only (names load on first use)."""
    code = ("import sys, backtestester.engine; "
            "print(sorted(m for m in ('backtestester.strategy', 'backtestester.sweep', 'backtestester.data', "
            "'ray', 'grpc', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
