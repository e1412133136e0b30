"""The quiet-tick loop: ticks that cannot trade, run without building tick results.

A quiet tick has no pending order, no fill since the last equity point, no liquidation due, is
not the first and does not complete the backtest: then a tick only moves the clock, the cursors
and the equity times (backtests spend most ticks here). :func:`quiet_ticks` stops before any
other tick, which the caller runs with :meth:`Playground.step`, so the semantics live in one
place. Holdings cannot change here (fills happen only in ``step``), so the liquidation test of
every quiet tick is "equity at current prices < the recorded maintenance margin".
"""
from __future__ import annotations

from .delta import NewCandle


def quiet_ticks(pg, step: int, on_candle, ctx, max_ticks: int) -> int:
    """Run up to ``max_ticks`` quiet ticks of playground ``pg`` (see the module docstring),
    calling ``on_candle(ctx, bar)`` for each new candle; return how many ran."""
    led, rec = pg._ledger, pg._equity
    if led.positions and (pg.margin_basis != "cost" or rec.version != led.version):
        return 0
    if len(pg._repos) == 1 and len(rec.holdings) <= 1:
        return _one_repository(pg, step, on_candle, ctx, max_ticks)
    return _many_repositories(pg, step, on_candle, ctx, max_ticks)


def _one_repository(pg, step, on_candle, ctx, max_ticks) -> int:
    """The loop for one repository holding at most one position (the common backtest)."""
    clock, repo, rec, pending = pg._clock, pg._repos[0], pg._equity, pg._pending
    times, calendar, end = rec.times, clock.calendar, clock.end_ns
    balance, maintenance = rec.balance, rec.cost_maintenance
    held = rec.holdings[0][0] if rec.holdings else None
    if held is not None:
        _, qty, cost = rec.holdings[0]
        held_close = held.close_values
    key, count, shift = repo.available_key, len(repo), repo.available_shift
    now, session_open, session_close = clock.now_ns, clock.session_open, clock.session_close
    n = 0
    while n < max_ticks and not pending:
        if held is not None and balance + (held_close[held.position] - cost) * qty < maintenance:
            break
        now += step
        if not (calendar is None or session_open <= now <= session_close):
            now = clock.normalize(now)
            session_open, session_close = clock.session_open, clock.session_close
        if now >= end:
            break
        clock.now_ns = now
        times.append(now)
        n += 1
        nxt = repo.position + 1
        if nxt < count and key[nxt] <= now - shift:
            if nxt + 1 < count and key[nxt + 1] <= now - shift:
                repo.advance(now)
            else:
                repo.position = nxt
            on_candle(ctx, NewCandle(repo, repo.position))
    return n


def _many_repositories(pg, step, on_candle, ctx, max_ticks) -> int:
    """The loop for several repositories (or several positions)."""
    clock, repos, rec, pending = pg._clock, pg._repos, pg._equity, pg._pending
    times, calendar, end = rec.times, clock.calendar, clock.end_ns
    holdings, balance, maintenance = rec.holdings, rec.balance, rec.cost_maintenance
    single = holdings[0] if len(holdings) == 1 else None
    now, session_open, session_close = clock.now_ns, clock.session_open, clock.session_close
    n = 0
    while n < max_ticks and not pending:
        if single is not None:
            repo, qty, cost = single
            if balance + (repo.close_values[repo.position] - cost) * qty < maintenance:
                break
        elif holdings and rec.current_equity() < maintenance:
            break
        now += step
        if not (calendar is None or session_open <= now <= session_close):
            now = clock.normalize(now)
            session_open, session_close = clock.session_open, clock.session_close
        if now >= end:
            break
        clock.now_ns = now
        times.append(now)
        n += 1
        bars = None
        for repo in repos:
            old = repo.advance(now)
            if repo.position != old:
                (bars := bars or []).append(NewCandle(repo, repo.position))
        if bars:
            for bar in bars:
                on_candle(ctx, bar)
    return n
