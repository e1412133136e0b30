"""Equity points, recorded as runs of ticks with constant holdings and valued with numpy on demand.

Between two fills the equity at a tick is ``balance + Σ (close − cost) × quantity`` over fixed
holdings, so a tick only appends its time; :meth:`EquityRecorder.values` computes every point
with the same floating-point operations the scalar formula would use.
"""
from __future__ import annotations

from array import array

import numpy as np

from .margin import maintenance_margin


class EquityRecorder:
    def __init__(self):
        self.times = array("q")          # tick times, ns (an array: one memcpy away from numpy)
        self.segments: list[tuple] = []  # (first tick index, balance, ((repo, qty, cost), ...))
        self.version = -1                # ledger version of the last segment
        self.holdings: tuple = ()
        self.balance = 0.0
        self.cost_maintenance = 0.0      # Σ maintenance on cost basis of the holdings

    def record(self, now_ns: int, ledger) -> None:
        if ledger.version != self.version:
            self.version = ledger.version
            self.balance = ledger.balance
            positions, pricing = ledger.positions, ledger.pricing
            if not positions:  # a fill records one segment, most often flat or of one holding
                self.holdings, self.cost_maintenance = (), 0
            elif len(positions) == 1:
                (s, p), = positions.items()
                self.holdings = ((pricing[s], p.qty, p.cost),)
                self.cost_maintenance = 0 + maintenance_margin(p.qty, p.cost)  # sum()'s start and addition
            else:
                self.holdings = tuple([(pricing[s], p.qty, p.cost) for s, p in positions.items()])
                self.cost_maintenance = sum([maintenance_margin(q, c) for _, q, c in self.holdings])
            self.segments.append((len(self.times), self.balance, self.holdings))
        self.times.append(now_ns)

    def current_equity(self) -> float:
        """Equity of the last recorded holdings at the repositories' current prices."""
        equity = self.balance
        for repo, qty, cost in self.holdings:
            equity += (repo.close_values[repo.position] - cost) * qty
        return equity

    def time_array(self) -> np.ndarray:
        # A copy: a live view would stop the array from growing on the next tick (BufferError).
        return np.frombuffer(self.times, dtype=np.int64).copy() if len(self.times) else np.zeros(0, dtype=np.int64)

    def values(self) -> np.ndarray:
        """Every point: per tick its segment's balance plus, holding by holding in the segment's
        order, ``(close − cost) × qty``: the scalar formula's operations, done a column at a time."""
        times = self.time_array()
        out = np.empty(len(times))
        segments = self.segments
        if not segments:
            return out
        firsts = np.array([seg[0] for seg in segments], dtype=np.int64)
        start = int(firsts[0])
        seg_of = np.repeat(np.arange(len(segments)), np.diff(np.append(firsts, len(times))))
        equity = np.array([seg[1] for seg in segments], dtype=np.float64)[seg_of]
        held_times = times[start:]
        for k in range(max([len(seg[2]) for seg in segments])):
            for repo, (rows, qty, cost) in _slot(segments, k).items():
                held = np.zeros(len(segments), dtype=bool)
                held[rows] = True
                ticks = np.flatnonzero(held[seg_of])
                seg = seg_of[ticks]
                # the close at each of these ticks: one search, over the ticks this holding covers only
                close = repo.close[np.searchsorted(repo.available_ns, held_times[ticks], "right") - 1]
                equity[ticks] = equity[ticks] + (close - cost[seg]) * qty[seg]
        out[start:] = equity
        return out


def _slot(segments, k) -> dict:
    """The ``k``-th holding of every segment that has one, by repository: ``repo -> (segment
    indices, qty per segment, cost per segment)`` (qty and cost arrays indexed by segment).
    A run of one symbol (a repository in every segment) takes no per-segment grouping."""
    rows = [j for j, seg in enumerate(segments) if len(seg[2]) > k]
    if not rows:
        return {}
    repos, qtys, costs = zip(*[segments[j][2][k] for j in rows])
    if repos.count(repos[0]) == len(repos):  # identity: repositories compare as themselves
        groups = {repos[0]: (rows, qtys, costs)}
    else:
        groups = {}
        for j, repo, q, c in zip(rows, repos, qtys, costs):
            group = groups.setdefault(repo, ([], [], []))
            group[0].append(j)
            group[1].append(q)
            group[2].append(c)
    out = {}
    for repo, (js, q, c) in groups.items():
        qty, cost = np.zeros(len(segments)), np.zeros(len(segments))
        js = np.array(js, dtype=np.int64)
        qty[js], cost[js] = q, c
        out[repo] = (js, qty, cost)
    return out
