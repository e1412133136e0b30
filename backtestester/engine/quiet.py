"""The quiet-tick loop: ticks that cannot trade, run without building tick results.

A quiet tick has no pending order, no fill since the last equity point, no liquidation due, is
not the first and does not complete the backtest: then a tick only moves the clock, the cursors
and the equity times (backtests spend most ticks here). :func:`quiet_ticks` stops before any
other tick, which the caller runs with :meth:`Playground.step`, so the semantics live in one
place. Holdings change only at a fill, after which the equity is recorded at once, so the
liquidation test of every quiet tick is "equity at current prices < the recorded maintenance
margin".

One exception keeps an order-heavy backtest in the loop: with one repository, ``next_open``
fills and the ``cost`` margin basis, a tick with pending orders is run here too when the caller
gives ``deliver`` (what it does with a tick's fills, rejections and events: the runner's hooks).
Such a tick calls the playground's own matching (``_match_new_candles``, which fills through
``_fill``), expiry and equity recording in :meth:`Playground.step`'s order, then ``deliver``,
then ``on_candle``: what ``step`` and the runner would do, without leaving the loop.
"""
from __future__ import annotations

import numpy as np

from .delta import NewCandle


def quiet_ticks(pg, step: int, on_candle, ctx, max_ticks: int, deliver=None) -> int:
    """Run up to ``max_ticks`` quiet ticks of playground ``pg`` (see the module docstring),
    calling ``on_candle(ctx, bar)`` for each new candle; return how many ran. With ``deliver``
    (``deliver(trades, invalid_orders, events)``), ticks with pending orders of a one-repository
    ``next_open`` run (cost margin basis) are run here as well."""
    led, rec = pg._ledger, pg._equity
    if led.positions and (pg.margin_basis != "cost" or rec.version != led.version):
        return 0
    if len(pg._repos) == 1 and len(rec.holdings) <= 1:
        if pg.fill_model != "next_open" or pg.margin_basis != "cost":
            deliver = None
        return _one_repository(pg, step, on_candle, ctx, max_ticks, deliver)
    return _many_repositories(pg, step, on_candle, ctx, max_ticks)


def _holding(rec) -> tuple:
    """``(balance, maintenance, repository held or None, quantity, cost, its closes)`` of the
    equity recorder's last segment (one repository: at most one holding)."""
    if not rec.holdings:
        return rec.balance, rec.cost_maintenance, None, 0.0, 0.0, None
    repo, qty, cost = rec.holdings[0]
    return rec.balance, rec.cost_maintenance, repo, qty, cost, repo.close_values


def _one_repository(pg, step, on_candle, ctx, max_ticks, deliver) -> int:
    """The loop for one repository holding at most one position (the common backtest); with
    ``deliver``, ticks with pending orders included (:func:`_order_tick`). Ticks run in chunks
    of one session (:func:`_chunk`: their times and the cursor after each, computed with numpy),
    so a tick does no arithmetic on nanosecond integers; a chunk's times are appended to the
    equity times at once, before an order tick records its own and when the chunk ends."""
    clock, repo = pg._clock, pg._repos[0]
    calendar, end = clock.calendar, clock.end_ns
    keys = np.asarray(repo.available_key)
    now = clock.now_ns
    n = 0
    while n < max_ticks:
        first = now + step
        if not (calendar is None or clock.session_open <= first <= clock.session_close):
            first = clock.normalize(first)
        if first >= end:
            break
        if calendar is None:
            last = end - 1
        elif clock.session_open <= first <= clock.session_close:
            last = min(clock.session_close, end - 1)
        else:  # past the calendar's range: one tick at a time, as normalize leaves it
            last = first
        count = min((last - first) // step + 1, max_ticks - n)
        tick_times = np.arange(count, dtype=np.int64) * step + first
        limits = tick_times - repo.available_shift
        # the chunk's candles: from the cursor to the last available at its last tick (a search
        # over a session's candles, not the repository's)
        low = max(repo.position, 0)
        high = int(np.searchsorted(keys, limits[-1], "right"))
        cursors = np.searchsorted(keys[low:high], limits, "right") + (low - 1)
        done = _chunk(pg, repo, tick_times.tolist(), cursors.tolist(), on_candle, ctx, deliver)
        n += done
        if done < count:
            break
        now = clock.now_ns
    return n


def _chunk(pg, repo, tick_times, cursors, on_candle, ctx, deliver) -> int:
    """Run the ticks at ``tick_times`` (one session), the cursor at each being ``cursors``, until
    one must be left to :meth:`Playground.step` (pending orders without ``deliver``, or a
    liquidation due); return how many ran."""
    clock, rec, pending, times = pg._clock, pg._equity, pg._pending, pg._equity.times
    balance, maintenance, held, qty, cost, held_close = _holding(rec)
    pos = repo.position
    k = flushed = 0
    try:
        for now, p in zip(tick_times, cursors):
            if pending and deliver is None:
                break
            if held is not None and balance + (held_close[pos] - cost) * qty < maintenance:  # held is repo
                break
            clock.now_ns = now
            k += 1
            if pending:
                times.extend(tick_times[flushed:k - 1])
                flushed = k
                revealed = _order_tick(pg, repo, now, deliver)
                balance, maintenance, held, qty, cost, held_close = _holding(rec)
                pos = repo.position
                if revealed:
                    on_candle(ctx, NewCandle(repo, pos))
                continue
            if p != pos:
                pos = repo.position = p
                on_candle(ctx, NewCandle(repo, p))
    finally:
        times.extend(tick_times[flushed:k])
    return k


def _order_tick(pg, repo, now: int, deliver) -> bool:
    """The rest of :meth:`Playground.step`'s tick at ``now`` (the clock already moved) for one
    repository with pending orders: the cursor, matching against a new candle, expiry, the
    equity point, then ``deliver`` of what happened; returns whether a candle was revealed."""
    old = repo.advance(now)
    trades, invalid, events = [], [], []
    revealed = repo.position != old
    if revealed:
        pg._match_new_candles(((repo, old),), trades, invalid, events)
    pg._expire(now, events)
    pg._equity.record(now, pg._ledger)
    if trades or invalid or events:
        deliver(trades, invalid, events)
    return revealed


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
