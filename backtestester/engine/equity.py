"""Equity points, recorded as runs of ticks with constant holdings and valued with numpy on demand.

Between two fills the equity at a tick is ``balance + Σ (close − cost) × quantity`` over fixed
holdings, so a tick only appends its time; :meth:`EquityRecorder.values` computes every point
with the same floating-point operations the scalar formula would use.
"""
from __future__ import annotations

import numpy as np

from .margin import maintenance_margin


class EquityRecorder:
    def __init__(self):
        self.times: list[int] = []
        self.segments: list[tuple] = []  # (first tick index, balance, ((repo, qty, cost), ...))
        self.version = -1                # ledger version of the last segment
        self.holdings: tuple = ()
        self.balance = 0.0
        self.cost_maintenance = 0.0      # Σ maintenance on cost basis of the holdings

    def record(self, now_ns: int, ledger) -> None:
        if ledger.version != self.version:
            self.version = ledger.version
            self.balance = ledger.balance
            self.holdings = tuple((ledger.pricing[s], p.qty, p.cost) for s, p in ledger.positions.items())
            self.cost_maintenance = sum(maintenance_margin(q, c) for _, q, c in self.holdings)
            self.segments.append((len(self.times), self.balance, self.holdings))
        self.times.append(now_ns)

    def current_equity(self) -> float:
        """Equity of the last recorded holdings at the repositories' current prices."""
        equity = self.balance
        for repo, qty, cost in self.holdings:
            equity += (repo._close_list[repo.position] - cost) * qty
        return equity

    def values(self) -> np.ndarray:
        times = np.array(self.times, dtype=np.int64)
        out = np.empty(len(times))
        ends = [seg[0] for seg in self.segments[1:]] + [len(times)]
        for (first, balance, holdings), end in zip(self.segments, ends):
            t = times[first:end]
            equity = np.full(len(t), balance)
            for repo, qty, cost in holdings:
                idx = np.searchsorted(repo.available_ns, t, "right") - 1
                equity = equity + (repo.close[idx] - cost) * qty
            out[first:end] = equity
        return out
