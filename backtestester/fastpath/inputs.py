"""Input checks of the fast path and the plumbing to the kernel: every array the kernel sees is
validated here and passed as a read-only C-contiguous view, every scalar as a plain float, bool
or int, so that numba compiles one specialisation for all calls."""
from __future__ import annotations

import math

import numpy as np

from ..arrays import float_array, same_length
from ..engine.costs import Commission, Slippage

FILL_MODELS = ("close", "next_open")
DIRECTIONS = ("long", "short", "both")


def read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (a copy only if not contiguous). Every kernel input goes
    through here: numba types read-only and writable arrays apart, and Arrow's zero-copy columns
    are read-only, so one kind for all keeps one compiled specialisation."""
    view = np.ascontiguousarray(arr).view()
    view.flags.writeable = False
    return view


def load_kernel():
    """The :mod:`.kernel` module (numba compiles or loads its cache on the first call)."""
    from . import kernel  # noqa: PLC0415  (numba is imported here, on first use: it is slow to import)

    return kernel


def unused_inputs(k) -> tuple:
    """Empty stand-ins for the kernels' unused inputs (read-only) and unrecorded outputs."""
    return (read_only(np.zeros(0, dtype=np.bool_)), read_only(np.zeros(0)), np.zeros(0, dtype=np.bool_), np.zeros(0),
            np.zeros((0, k.N_TRADE_FIELDS)))


def empty_samples() -> tuple:
    """``(sample_at, samples_out)`` for "no sampled equity points"."""
    return read_only(np.zeros(0, dtype=np.int64)), np.zeros((0, 0))


def checked_prices(open, high, low, close) -> tuple[np.ndarray, np.ndarray]:
    """The price columns checked (equal length, finite, open and close > 0): read-only ``(open, close)``."""
    cols = {name: float_array(values, name)
            for name, values in (("close", close), ("open", open), ("high", high), ("low", low))}
    if cols["close"].shape[0] == 0:
        raise ValueError("the price arrays are empty: need at least one bar")
    same_length(**cols)
    for name, arr in cols.items():
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} is not finite at index {i} ({arr[i]}): NaN or infinite prices are refused")
    for name in ("open", "close"):
        bad = np.flatnonzero(cols[name] <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} must be > 0 (orders need a positive price), got {cols[name][i]} at index {i}")
    return read_only(cols["open"]), read_only(cols["close"])


def checked_signals(values, name: str, n: int, ndim: int) -> np.ndarray:
    """A boolean signal array of ``ndim`` dimensions and ``n`` bars, read-only."""
    arr = np.asarray(values)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean array (dtype bool), got dtype {arr.dtype}")
    if arr.ndim != ndim:
        shape = "(n_bars,)" if ndim == 1 else "(n_runs, n_bars)"
        raise ValueError(f"{name} must be {ndim}-D {shape}, got shape {arr.shape}")
    if arr.shape[-1] != n:
        raise ValueError(f"length mismatch: the prices have {n} bars but {name} has {arr.shape[-1]}")
    return read_only(arr)


def _finite(value, name: str, *, low=None, high=None, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def kernel_options(balance, fill_model, size, commission, slippage, direction) -> dict:
    """The run options checked and flattened into the kernel's scalar arguments."""
    balance = _finite(balance, "balance", low=0.0, low_open=True)
    if fill_model not in FILL_MODELS:
        raise ValueError(f"fill_model must be one of {FILL_MODELS}, got {fill_model!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if size is not None:
        size = _finite(size, "size", low=0.0, low_open=True)
    if commission is not None and not isinstance(commission, Commission):
        raise ValueError(f"commission must be None or a Commission(...), got {commission!r}")
    if slippage is not None and not isinstance(slippage, Slippage):
        raise ValueError(f"slippage must be None or a Slippage(...), got {slippage!r}")
    c = commission or Commission()
    s = slippage or Slippage()
    return dict(balance=balance, fill_close=fill_model == "close", direction=DIRECTIONS.index(direction),
                size=0.0 if size is None else size, has_comm=commission is not None, c_ps=float(c.per_share),
                c_rate=float(c.rate), c_po=float(c.per_order), c_min=float(c.minimum),
                has_slip=slippage is not None, s_ps=float(s.per_share), s_rate=float(s.rate))
    # (plain floats, bools and ints only: numba compiles one specialisation per argument type)


def checked_fraction(fraction, size) -> float:
    """The sizing fraction of one run in (0, 1] (1 with a fixed ``size``)."""
    if size is not None:
        if fraction is not None:
            raise ValueError("give either fraction (sizing from uninvested cash) or size (fixed quantity), not both")
        return 1.0
    return _finite(1.0 if fraction is None else fraction, "fraction", low=0.0, high=1.0, low_open=True)


def checked_fractions(fraction, size, runs: int) -> np.ndarray:
    """One sizing fraction per run (a number or an array of ``runs``), read-only."""
    if size is not None:
        if fraction is not None:
            raise ValueError("give either fraction (sizing from uninvested cash) or size (fixed quantity), not both")
        return read_only(np.ones(runs))
    if fraction is None or np.ndim(fraction) == 0:
        return read_only(np.full(runs, checked_fraction(fraction, None)))
    arr = np.asarray(fraction, dtype=np.float64)
    if arr.shape != (runs,):
        raise ValueError(f"fraction must be a number or one per run (shape ({runs},)), got shape {arr.shape}")
    if not (np.isfinite(arr).all() and (arr > 0).all() and (arr <= 1).all()):
        raise ValueError("fraction values must be finite and in (0, 1]")
    return read_only(arr)


def sample_points(equity_at, n: int) -> np.ndarray:
    """``equity_at`` as the kernel's ``sample_at``: strictly increasing int64 bar indices in ``[0, n)``."""
    arr = np.asarray(equity_at)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"equity_at must be a 1-D array of bar indices, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr[0] < 0 or arr[-1] >= n or (np.diff(arr) <= 0).any()):
        raise ValueError(f"equity_at must be strictly increasing bar indices in 0..{n - 1}")
    return read_only(arr)
