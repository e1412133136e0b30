"""Combinatorial purged cross-validation as a diagnostic of a study's best parameter set (AFML
ch. 12): after the search, the best set is evaluated on the CPCV splits of the search bars (never
the holdout), with the folds' purge and embargo, and the out-of-sample Sharpe of each recombined
path (:func:`~.folds.cpcv_paths`, :func:`~.evaluate.cpcv_path_returns`) is summed up. It picks
nothing: it shows how much the best set's out-of-sample Sharpe depends on which bars were left
out of sample.

The setting is ``"GROUPS:TEST_GROUPS"`` (e.g. ``"6:2"``: 15 splits, 5 paths), ``"off"``, or None
for the default: :data:`DEFAULT_CPCV` when every group holds at least ``min_group_bars`` bars,
else skipped with a note. A path's Sharpe is the objective ``sharpe`` of :mod:`backtestester.stats`
(annualised with 252 periods a year, risk-free rate 0) of its daily returns. Pure: the driver
(``actors/train.py``) runs the splits on its actors.
"""
from __future__ import annotations

import math

import numpy as np

from ..stats import ratio_stats
from .folds import CPCVSplit, cpcv, cpcv_paths

DEFAULT_CPCV = (6, 2)
PERIODS_PER_YEAR = 252  # stats' default: a path's Sharpe is on the scale of the objective "sharpe"


def parse_cpcv(setting) -> tuple[int, int] | str | None:
    """``(groups, test_groups)`` from ``"G:K"``; ``"off"`` for ``"off"``; None (the default) for
    None or ``"auto"``. ``ValueError`` for anything else, naming what is accepted."""
    if setting is None or str(setting).strip().lower() in ("", "auto"):
        return None
    text = str(setting).strip().lower()
    if text == "off":
        return "off"
    parts = text.split(":")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        groups, test_groups = (int(p) for p in parts)
        if 1 <= test_groups < groups:
            return groups, test_groups
    raise ValueError(f"cpcv must be GROUPS:TEST_GROUPS with 1 <= TEST_GROUPS < GROUPS (e.g. 6:2), 'off' or "
                     f"'auto', got {setting!r}")


def plan_cpcv(setting, search_bars: int, *, purge: int, embargo: int,
              min_group_bars: int) -> tuple[list[CPCVSplit] | None, str]:
    """``(splits, note)``: the CPCV splits of bars ``[0, search_bars)`` for ``setting``
    (:func:`parse_cpcv`), or None with the reason it is skipped. A given ``G:K`` whose groups
    would hold fewer than ``min_group_bars`` bars is a ``ValueError``; the default is skipped."""
    parsed = parse_cpcv(setting)
    if parsed == "off":
        return None, "CPCV: off"
    groups, test_groups = parsed or DEFAULT_CPCV
    size = search_bars // groups
    if size < min_group_bars:
        message = (f"{groups} groups of the {search_bars} search bars hold {size} bars each, fewer than "
                   f"{min_group_bars} (a test window's least)")
        if parsed is None:
            return None, f"CPCV: skipped, {message}"
        raise ValueError(f"--cpcv {groups}:{test_groups}: {message}: give fewer groups, --cpcv off or more data")
    splits = cpcv(search_bars, groups=groups, test_groups=test_groups, purge=purge, embargo=embargo)
    return splits, f"CPCV {groups}:{test_groups}: {len(splits)} splits, {len(cpcv_paths(groups, test_groups))} paths"


def path_sharpe(returns) -> float:
    """The annualised Sharpe of one path's daily returns (``nan`` with fewer than two, or flat)."""
    return float(ratio_stats(np.asarray(returns, dtype=np.float64), PERIODS_PER_YEAR, 0.0)[1])


def summarize(sharpes: list[float]) -> dict:
    """The distribution of the paths' Sharpe ratios: ``n_paths``, ``mean``, ``std`` (ddof 1),
    ``min``, ``p5`` (5th percentile, linear interpolation), ``losing`` (paths with Sharpe <= 0,
    ``nan`` counted as losing: a path without a Sharpe earned nothing) and ``share_losing``."""
    values = np.asarray(sharpes, dtype=np.float64)
    finite = values[np.isfinite(values)]
    losing = int(np.sum(~np.isfinite(values) | (values <= 0)))

    def stat(f, least: int = 1) -> float:
        return float(f(finite)) if finite.size >= least else math.nan

    return {"n_paths": int(values.size), "sharpes": [float(v) for v in values],
            "mean": stat(np.mean), "std": stat(lambda v: np.std(v, ddof=1), 2), "min": stat(np.min),
            "p5": stat(lambda v: np.percentile(v, 5)), "losing": losing,
            "share_losing": losing / values.size if values.size else math.nan}


def cpcv_line(record: dict | None) -> str:
    """One line for the console and the verdict: ``"CPCV 6:2: 2 of 5 paths lose; Sharpe mean
    ..."``, the note when skipped, ``""`` without a record."""
    if not record:
        return ""
    if record.get("error"):
        return f"CPCV {record['groups']}:{record['test_groups']}: the best set raised on a split"
    if "n_paths" not in record:
        return record.get("note", "")
    return (f"CPCV {record['groups']}:{record['test_groups']}: {record['losing']} of {record['n_paths']} paths lose; "
            f"Sharpe mean {record['mean']:.2f}, std {record['std']:.2f}, min {record['min']:.2f}, "
            f"5th pct {record['p5']:.2f}")
