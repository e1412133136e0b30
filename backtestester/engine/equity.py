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
            self.holdings = tuple((ledger.pricing[s], p.qty, p.cost) for s, p in ledger.positions.items())
            self.cost_maintenance = sum(maintenance_margin(q, c) for _, q, c in self.holdings)
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
        times = self.time_array()
        out = np.empty(len(times))
        ends = [seg[0] for seg in self.segments[1:]] + [len(times)]
        prices = {}  # repository -> its close at every tick (one searchsorted per repository)
        for (first, balance, holdings), end in zip(self.segments, ends):
            equity = np.full(end - first, balance)
            for repo, qty, cost in holdings:
                close = prices.get(repo)
                if close is None:
                    close = prices[repo] = repo.close[np.searchsorted(repo.available_ns, times, "right") - 1]
                equity = equity + (close[first:end] - cost) * qty
            out[first:end] = equity
        return out
