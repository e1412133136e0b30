"""Errors of the importers and the collector of bad rows found while converting a file.

:class:`DataImportError` and its two kinds (a file unusable as a whole, a bad row) are
re-exported by :mod:`backtestester.data.importers`; ``Problems`` gathers the rows that fail
to convert, with a reason each, until the first bad row in file order is reported.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


class DataImportError(ValueError):
    """A file cannot be imported (base class)."""

    def __init__(self, message: str, *, path: Path | str | None = None):
        super().__init__(message)
        self.path = path


class FileFormatError(DataImportError):
    """The file as a whole is unusable: unreadable, missing columns, unknown format."""


class BadRowError(DataImportError):
    """A row breaks the rules; ``row`` is its 1-based number in the file (the CSV header is row 1)."""

    def __init__(self, path, row: int, reason: str, *, symbol: str | None = None):
        where = f"{Path(path).name}: row {row}" + (f" ({symbol})" if symbol else "")
        super().__init__(f"{where}: {reason} (file rejected: nothing was imported)", path=path)
        self.row, self.reason, self.symbol = row, reason, symbol


class Problems:
    """Rows found bad while converting: a mask (in file order) and a reason per row."""

    def __init__(self, n: int):
        self.n = n
        self.stages: list[tuple[np.ndarray, Callable[[int], str]]] = []

    def add(self, mask: np.ndarray, reason: Callable[[int], str]) -> None:
        if mask.any():
            self.stages.append((mask, reason))

    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for m, _ in self.stages:
            out |= m
        return out

    def reason(self, i: int) -> str:
        for m, fn in self.stages:
            if m[i]:
                return fn(i)
        return "bad row"

