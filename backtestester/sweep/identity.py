"""Fingerprints that make part of a run's identity (:class:`~backtestester.sweep.config.RunConfig`):
the strategy's code and the data it runs on. A sweep run again after either changed gets new
run ids, so it never reuses (nor shows as current) a result computed from other code or data.

- The strategy's fingerprint is a SHA-256 of the source files of the modules that define the
  strategy class and its bases (the library's ``Strategy`` base excepted). It does not cover
  other modules the strategy imports, nor the engine's own code.
- A table's fingerprint is :func:`~backtestester.data.fingerprint.table_fingerprint` (its home:
  saved gateway playgrounds use it too): column names and types, row count, and a SHA-256 of every
  column's values at up to 4,096 evenly spaced rows, the first and last included. A change to a bar
  between the sampled rows that leaves the count and the ends alone is not seen (``--no-resume``
  runs everything).
"""
from __future__ import annotations

import hashlib
import inspect
import sys

from ..data.fingerprint import FINGERPRINT_DIGITS, table_fingerprint


def strategy_fingerprint(cls: type) -> str:
    """The fingerprint of the source of ``cls``'s module and of its bases' (the library's
    ``Strategy`` base excepted); for a class without source files (defined in a notebook cell or
    ``python -c``), of the class's own source if ``inspect`` finds it, else of its qualified name."""
    digest = hashlib.sha256()
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if klass is object or module is None or klass.__module__ == "backtestester.strategy.base":
            continue
        digest.update(klass.__module__.encode() + b"\0" + _source(module, klass) + b"\0")
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def _source(module, klass) -> bytes:
    path = getattr(module, "__file__", None)
    if path:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            pass
    try:
        return inspect.getsource(klass).encode()
    except (OSError, TypeError):
        return klass.__qualname__.encode()


def data_fingerprint(tables: dict) -> str:
    """The fingerprint of a sweep's tables ``{(symbol, timeframe): table}``: of each table's
    fingerprint under its key."""
    parts = sorted(f"{symbol}|{timeframe}|{table_fingerprint(table)}" for (symbol, timeframe), table in tables.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:FINGERPRINT_DIGITS]
