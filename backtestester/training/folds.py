"""Which bars a trial trains on and which it is scored on: walk-forward folds (anchored and
rolling), combinatorial purged cross-validation (a diagnostic), and the final holdout with its
:class:`Lockbox` (opened once).

Bars are indices into the study's bar axis (the first symbol's bars), ranges half-open
``[start, end)``. The boundary rule every generator keeps, for a train bar ``t`` and a test bar
``s`` of the same fold (López de Prado, AFML ch. 7 and 12, at the scale of bars):

* **purge**: ``t < s`` implies ``s - t > purge`` (the last ``purge`` bars before a test window are
  dropped from training: their labels or open positions may reach into the test);
* **embargo**: ``t > s`` implies ``t - s > embargo`` (the first ``embargo`` bars after a test window
  are dropped from training, against serial correlation). Only CPCV trains after a test window;
  in walk-forward no training bar follows its fold's test, so the embargo removes nothing there.

Bars dropped by these rules count to neither side. docs/training/validation.md has the pictures.
"""
from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from math import comb
from pathlib import Path

SCHEMES = ("anchored", "rolling")
LOCKBOX_FILE = "lockbox.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: ``train`` and ``test`` are ``[start, end)`` bar ranges, the training
    window ending before the test window starts (``test[0] - train[1]`` bars purged between them)."""

    index: int
    train: tuple[int, int]
    test: tuple[int, int]

    def __post_init__(self):
        (a, b), (c, d) = self.train, self.test
        if not (0 <= a < b and c < d):
            raise ValueError(f"fold {self.index}: train {self.train} and test {self.test} must be non-empty "
                             "[start, end) bar ranges")
        if b > c:
            raise ValueError(f"fold {self.index}: the test window {self.test} must start at or after the "
                             f"end of the training window {self.train}")


@dataclass(frozen=True)
class CPCVSplit:
    """One split of combinatorial purged cross-validation: the tested ``test_groups``, their bar
    ranges (``test``, adjacent groups merged) and the training ranges left after purge and embargo."""

    index: int
    train: tuple[tuple[int, int], ...]
    test: tuple[tuple[int, int], ...]
    test_groups: tuple[int, ...]


def _check_counts(**counts) -> None:
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a whole number of bars >= 0, got {value!r}")


def _sizes(n_bars: int, folds: int, purge: int, train_bars, test_bars) -> tuple[int, int]:
    """(train length, test length) from the given ones; the defaults split the bars evenly."""
    if test_bars is None:
        rest = n_bars - purge - (train_bars if train_bars is not None else 0)
        test_bars = rest // (folds if train_bars is not None else folds + 1)
    if train_bars is None:
        train_bars = n_bars - purge - folds * test_bars
    if test_bars < 1 or train_bars < 1:
        raise ValueError(f"too few bars: {n_bars} bars cannot hold {folds} folds (purge {purge}) with at least "
                         f"one training and one test bar each")
    if train_bars + purge + folds * test_bars > n_bars:
        raise ValueError(f"train_bars {train_bars} + purge {purge} + {folds} folds × test_bars {test_bars} "
                         f"do not fit in {n_bars} bars")
    return train_bars, test_bars


def walk_forward(n_bars: int, *, folds: int = 5, scheme: str = "anchored", train_bars: int | None = None,
                 test_bars: int | None = None, purge: int = 0, embargo: int = 0) -> list[Fold]:
    """Walk-forward folds over ``n_bars`` bars: ``folds`` consecutive test windows of ``test_bars``
    ending at the last bar (one stitched out-of-sample path), each after ``purge`` dropped bars.
    ``"anchored"``: fold k trains on ``[0, test_start - purge)`` (expanding); ``"rolling"``: on the
    ``train_bars`` bars before that. Defaults: ``test_bars = (n_bars - purge) // (folds + 1)`` and
    the first training window takes the rest (at least one test window long). ``embargo`` is
    accepted for the same signature as :func:`cpcv`; no training bar follows a test bar here, so
    it drops nothing. Raises ``ValueError`` naming what does not fit."""
    _check_counts(n_bars=n_bars, purge=purge, embargo=embargo)
    if not isinstance(folds, int) or folds < 1:
        raise ValueError(f"folds must be a whole number >= 1, got {folds!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES} (anchored = expanding), got {scheme!r}")
    for name, value in (("train_bars", train_bars), ("test_bars", test_bars)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a whole number of bars >= 1 or None, got {value!r}")
    length, horizon = _sizes(n_bars, folds, purge, train_bars, test_bars)
    first_test = n_bars - folds * horizon
    out = []
    for k in range(folds):
        start = first_test + k * horizon
        train_end = start - purge
        train_start = 0 if scheme == "anchored" else train_end - length
        out.append(Fold(k, (train_start, train_end), (start, start + horizon)))
    return out


def group_ranges(n_bars: int, groups: int) -> list[tuple[int, int]]:
    """The ``groups`` contiguous ``[start, end)`` bar ranges :func:`cpcv` cuts ``n_bars`` into,
    the first ``n_bars % groups`` one bar longer than the others."""
    size, extra = divmod(n_bars, groups)
    bounds, start = [], 0
    for g in range(groups):
        end = start + size + (1 if g < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def _ranges(flags: list[bool]) -> tuple[tuple[int, int], ...]:
    out, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i))
            start = None
    return tuple(out)


def cpcv(n_bars: int, *, groups: int = 6, test_groups: int = 2, purge: int = 0, embargo: int = 0) -> list[CPCVSplit]:
    """Combinatorial purged cross-validation (AFML ch. 12): the bars cut into ``groups`` contiguous
    groups, one split per set of ``test_groups`` of them (``C(groups, test_groups)`` splits, in
    :func:`itertools.combinations` order), trained on every other bar that the purge and embargo
    rules leave (module docstring). Training may follow a test window: a diagnostic of the
    distribution of out-of-sample scores (:func:`cpcv_paths`), not how live trading sees data."""
    _check_counts(n_bars=n_bars, purge=purge, embargo=embargo)
    if not (isinstance(groups, int) and isinstance(test_groups, int) and 1 <= test_groups < groups):
        raise ValueError(f"cpcv needs whole numbers 1 <= test_groups < groups, got groups={groups!r}, "
                         f"test_groups={test_groups!r}")
    if n_bars < groups:
        raise ValueError(f"too few bars: {n_bars} bars cannot form {groups} groups")
    bounds = group_ranges(n_bars, groups)
    out = []
    for index, tested in enumerate(combinations(range(groups), test_groups)):
        test = [False] * n_bars
        for g in tested:
            a, b = bounds[g]
            test[a:b] = [True] * (b - a)
        train = [not flag for flag in test]
        for a, b in _ranges(test):
            for t in range(max(0, a - purge), a):
                train[t] = False
            for t in range(b, min(n_bars, b + embargo)):
                train[t] = False
        out.append(CPCVSplit(index, _ranges(train), _ranges(test), tested))
    return out


def cpcv_paths(groups: int, test_groups: int) -> list[list[tuple[int, int]]]:
    """The ``C(groups - 1, test_groups - 1)`` backtest paths CPCV recombines (AFML p. 164): path
    ``p`` is, for each group in order, ``(group, split index)`` of the ``p``-th split (in
    :func:`cpcv`'s order) that tests that group."""
    splits = list(combinations(range(groups), test_groups))
    testing = [[i for i, s in enumerate(splits) if g in s] for g in range(groups)]
    return [[(g, testing[g][p]) for g in range(groups)] for p in range(comb(groups - 1, test_groups - 1))]


def split_holdout(n_bars: int, fraction: float = 0.2, *, purge: int = 0) -> tuple[int, tuple[int, int]]:
    """``(search_end, (holdout_start, n_bars))``: the most recent ``round(fraction × n_bars)`` bars
    are the holdout (the lockbox), the search (its folds) uses ``[0, search_end)``, ``purge`` bars
    before the holdout belonging to neither."""
    _check_counts(n_bars=n_bars, purge=purge)
    if not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ValueError(f"holdout fraction must be strictly between 0 and 1, got {fraction!r}")
    held = round(fraction * n_bars)
    start = n_bars - held
    if held < 1 or start - purge < 1:
        raise ValueError(f"too few bars: {n_bars} bars cannot give a holdout of fraction {fraction} "
                         f"(purge {purge}) and leave bars to search")
    return start - purge, (start, n_bars)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, tz=timezone.utc).isoformat()


class Lockbox:
    """The holdout of a study (``study_dir``), evaluated once: :meth:`open` records each opening in
    ``study_dir/lockbox.json`` (written atomically) and returns the holdout's bar range. Opening
    it again (in this process or after a restart) still returns the range, and warns loudly:
    a ``logging`` warning and a ``UserWarning``, both with the first opening's time, since a
    holdout looked at twice is no longer out of sample. ``now``: a clock (int UTC ns)."""

    def __init__(self, study_dir, holdout: tuple[int, int], *, now=time.time_ns):
        a, b = holdout
        if not 0 <= a < b:
            raise ValueError(f"the holdout must be a non-empty [start, end) bar range, got {holdout!r}")
        self.path = Path(study_dir) / LOCKBOX_FILE
        self.holdout = (int(a), int(b))
        self._now = now
        record = self._read()
        if record and tuple(record["holdout"]) != self.holdout:
            raise ValueError(f"{self.path} holds the lockbox of bars {tuple(record['holdout'])}, not {self.holdout}: "
                             "the study's data or holdout fraction changed; start a new study")

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    @property
    def opens(self) -> list[dict]:
        """Every opening so far: ``{"ns": int, "time": ISO UTC}``, oldest first."""
        return self._read().get("opens", [])

    @property
    def opened(self) -> bool:
        return bool(self.opens)

    def open(self) -> range:
        """The holdout's bars; records this opening, and warns loudly if it is not the first."""
        opens = self.opens
        ns = int(self._now())
        if opens:
            message = (f"the lockbox (holdout bars {self.holdout[0]}..{self.holdout[1]}) was already opened at "
                       f"{opens[0]['time']} ({len(opens)} time(s) before): a second look at the holdout is no "
                       "longer an out-of-sample test; report the first result")
            log.warning(message)
            warnings.warn(message, UserWarning, stacklevel=2)
        opens.append({"ns": ns, "time": _iso(ns)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"holdout": list(self.holdout), "opens": opens}, indent=1))
        os.replace(tmp, self.path)
        return range(*self.holdout)
