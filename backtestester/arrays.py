"""The one validator of numeric input arrays, shared by indicators, statistics and the fast path,
so that every public function refuses a bad array with the same words."""
from __future__ import annotations

from typing import Any

import numpy as np


def float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array (no copy when it already is one), or ``ValueError`` naming
    ``name`` and saying what was wrong."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    return arr


def same_length(**named: np.ndarray) -> None:
    """Refuse arrays of different lengths, naming the first and the one that differs."""
    names = list(named)
    first = named[names[0]]
    for name in names[1:]:
        if named[name].shape[0] != first.shape[0]:
            raise ValueError(f"array lengths differ: {names[0]} has length {first.shape[0]} "
                             f"but {name} has length {named[name].shape[0]}")
