"""Fast-path inputs and import: bad input raises ValueError naming the problem; the import is
pure and numba compiles on first use into a cache that the next process reuses."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from backtestester.fastpath import (
    run_crossover_batch,
    run_signals,
    run_signals_batch,
)

# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_input_raises_value_error_naming_the_problem():
    p = np.array([10.0, 11.0, 12.0, 13.0])
    t = np.array([True, False, False, False])
    f = np.zeros(4, bool)

    def call(**kw):
        args = dict(open=p, high=p, low=p, close=p, entries=t, exits=f, balance=1000.0)
        args.update(kw)
        o, h, l, c, e, x = (args.pop(k) for k in ("open", "high", "low", "close", "entries", "exits"))
        return run_signals(o, h, l, c, e, x, **args)

    with pytest.raises(ValueError, match="length mismatch: the prices have 4 bars but entries has 3"):
        call(entries=t[:3])
    with pytest.raises(ValueError, match="lengths differ: close has length 4 but high has length 5"):
        call(high=np.append(p, 1.0))
    with pytest.raises(ValueError, match="entries must be a boolean array.*int64"):
        call(entries=t.astype(np.int64))
    with pytest.raises(ValueError, match="exits must be a boolean array.*float64"):
        call(exits=f.astype(float))
    with pytest.raises(ValueError, match=r"close is not finite at index 2 \(nan\)"):
        call(close=np.array([10.0, 11.0, np.nan, 13.0]))
    with pytest.raises(ValueError, match="open is not finite at index 0"):
        call(open=np.array([np.inf, 11.0, 12.0, 13.0]))
    with pytest.raises(ValueError, match="low is not finite at index 3"):
        call(low=np.array([10.0, 11.0, 12.0, np.nan]))
    with pytest.raises(ValueError, match="close must be > 0"):
        call(close=np.array([10.0, 0.0, 12.0, 13.0]))
    with pytest.raises(ValueError, match="open must be 1-D"):
        call(open=p.reshape(2, 2))
    with pytest.raises(ValueError, match="entries must be 1-D"):
        call(entries=np.vstack([t, t]))
    with pytest.raises(ValueError, match="empty"):
        e = np.zeros(0)
        run_signals(e, e, e, e, e.astype(bool), e.astype(bool), balance=1)
    with pytest.raises(ValueError, match="fill_model must be one of"):
        call(fill_model="open")
    with pytest.raises(ValueError, match="direction must be one of"):
        call(direction="sideways")
    with pytest.raises(ValueError, match="balance must be > 0"):
        call(balance=0)
    with pytest.raises(ValueError, match="balance must be a finite number"):
        call(balance=float("nan"))
    with pytest.raises(ValueError, match="fraction must be <= 1"):
        call(fraction=1.5)
    with pytest.raises(ValueError, match="fraction must be > 0"):
        call(fraction=0)
    with pytest.raises(ValueError, match="either fraction .* or size"):
        call(fraction=0.5, size=10)
    with pytest.raises(ValueError, match="size must be > 0"):
        call(size=-1)
    with pytest.raises(ValueError, match="commission must be None or a Commission"):
        call(commission=0.001)
    with pytest.raises(ValueError, match="slippage must be None or a Slippage"):
        call(slippage={"rate": 0.1})


def test_bad_batch_input():
    p = np.array([10.0, 11.0, 12.0])
    e = np.zeros((2, 3), bool)
    with pytest.raises(ValueError, match=r"entries must be 2-D \(n_runs, n_bars\)"):
        run_signals_batch(p, p, p, p, e[0], e[0], balance=10)
    with pytest.raises(ValueError, match="entries has 2 runs but exits has 1"):
        run_signals_batch(p, p, p, p, e, e[:1], balance=10)
    with pytest.raises(ValueError, match=r"fraction must be a number or one per run \(shape \(2,\)\)"):
        run_signals_batch(p, p, p, p, e, e, balance=10, fraction=[0.5])
    with pytest.raises(ValueError, match="fraction values must be finite and in"):
        run_signals_batch(p, p, p, p, e, e, balance=10, fraction=[0.5, 2.0])
    lines = np.vstack([p, p])
    with pytest.raises(ValueError, match="pairs index lines out of range"):
        run_crossover_batch(p, p, p, p, lines, [[0, 2]], balance=10)
    with pytest.raises(ValueError, match="pairs must be an integer array"):
        run_crossover_batch(p, p, p, p, lines, [[0.0, 1.0]], balance=10)
    with pytest.raises(ValueError, match=r"lines must have shape \(n_lines, 3\)"):
        run_crossover_batch(p, p, p, p, lines[:, :2], [[0, 1]], balance=10)


# --------------------------------------------------------------------------------------------
# Purity and cold start
# --------------------------------------------------------------------------------------------


def test_import_is_pure_and_numba_is_loaded_on_first_use():
    code = textwrap.dedent("""
        import sys
        import backtestester.fastpath, backtestester.strategy
        assert not [m for m in sys.modules if m.split('.')[0] in ('ray', 'grpc', 'numba')], sorted(sys.modules)
        import numpy as np
        from backtestester.fastpath import run_signals
        p = np.array([1.0, 2.0]); e = np.array([True, False])
        run_signals(p, p, p, p, e, ~e, balance=10.0)
        assert 'numba' in sys.modules and not [m for m in sys.modules if m.split('.')[0] in ('ray', 'grpc')]
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_fresh_process_compiles_into_the_cache_and_the_next_one_reuses_it(tmp_path):
    """A fresh process with an empty numba cache compiles and runs the kernels (single runs and
    serial batches share one; the threaded one is separate) and writes them to the cache; a
    second process runs from it. How long that takes is a benchmark's business
    (benchmarks/bench_fastpath.py prints cold and warm times), not a test's."""
    code = textwrap.dedent("""
        import numpy as np
        from backtestester.fastpath import run_signals, run_crossover_batch
        p = np.array([10.0, 11.0, 12.0, 11.0]); e = np.array([True, False, False, False])
        print(run_signals(p, p, p, p, e, ~e, balance=100.0).final_equity)
        run_crossover_batch(p, p, p, p, np.vstack([p, p[::-1]]), [[0, 1]], balance=100.0, parallel=True)
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    cold = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    cached = sorted(p.name for p in tmp_path.rglob("*.nbi"))
    assert cached, "numba wrote no cache index"
    warm = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert warm.stdout == cold.stdout
    assert sorted(p.name for p in tmp_path.rglob("*.nbi")) == cached  # nothing recompiled into new entries
