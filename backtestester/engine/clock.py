"""The simulated clock and market calendar (spec section 3, decision D17).

Sessions come from ``exchange_calendars`` (early closes, holidays and lunch breaks included).
A time is *in session* when ``open <= t <= close``: the close instant itself is in session so
that the session's last bar, which becomes available at the close (D2), is seen on its own day.
Any other time moves forward to the next session's open, which gives D17: a start on a
non-trading day or after the close moves to the next open, and a step that lands before the
open of a trading day lands on that day's open.
"""
from __future__ import annotations

import bisect
from datetime import timedelta
from functools import lru_cache

from ..calendars import CalendarRangeError, UnknownCalendarError, load_sessions
from .errors import PlaygroundError
from .timeutil import NS_PER_SECOND, UTC, from_ns

DAY_NS = 86_400 * NS_PER_SECOND


@lru_cache(maxsize=32)
def _sessions(code: str, first_year: int, last_year: int):
    """(opens, closes, tz) of the sessions of ``first_year``..``last_year``, a lunch break splitting a
    session in two; the loader's errors become PlaygroundErrors."""
    try:
        s = load_sessions(code, first_year, last_year, clamp_to_bounds=False)
    except UnknownCalendarError:
        raise PlaygroundError(f"unknown calendar {code!r}; use an exchange code such as 'XNYS', 'XLON', 'CMES' "
                         f"(see exchange_calendars.get_calendar_names()) or None for a 24/7 clock") from None
    except CalendarRangeError as exc:  # date bounds outside what the calendar covers
        raise PlaygroundError(f"calendar {code!r} cannot cover {first_year}-{last_year}: {exc.reason}") from None
    opens, closes = [], []
    for o, c, bs, be, split in zip(s.opens.tolist(), s.closes.tolist(), s.break_starts.tolist(),
                                   s.break_ends.tolist(), s.has_break.tolist()):
        if split:  # a lunch break splits the session in two
            opens += [o, be]
            closes += [bs, c]
        else:
            opens.append(o)
            closes.append(c)
    return tuple(opens), tuple(closes), s.tz


class Clock:
    """Current time, end time and the stepping rule of one playground (times in UTC nanoseconds).

    ``now_ns``, ``end_ns``, ``tz``, ``calendar`` (``None``: a 24/7 clock), and
    ``session_open``/``session_close``, the bounds of the session ``now_ns`` was last normalized in.
    """

    def __init__(self, start_ns: int, end_ns: int, calendar: str | None = None):
        self.calendar = calendar
        self.end_ns = end_ns
        if calendar is None:
            self._opens = self._closes = None
            self.tz = UTC
        else:
            if not isinstance(calendar, str):
                raise PlaygroundError(f"calendar must be an exchange code string such as 'XNYS' or None, got {calendar!r}")
            first = from_ns(start_ns).year - 1
            last = from_ns(end_ns).year + 1
            opens, closes, tz = _sessions(calendar, first, last)
            self._opens, self._closes, self.tz = list(opens), list(closes), tz
        # The last session found (most steps stay inside it); the playground's tick loop reads it.
        self.session_open = self.session_close = 0
        self.now_ns = self.normalize(start_ns)

    def normalize(self, t_ns: int) -> int:
        """``t_ns`` if it is in session (or there is no calendar), else the next session's open."""
        if self._closes is None or self.session_open <= t_ns <= self.session_close:
            return t_ns
        i = bisect.bisect_left(self._closes, t_ns)  # first session closing at or after t
        if i == len(self._closes):
            return t_ns  # past the calendar's range (which extends beyond the end): stays, and expires
        self.session_open, self.session_close = self._opens[i], self._closes[i]
        return t_ns if self.session_open <= t_ns else self.session_open

    def next_time(self, t_ns: int, step_ns: int) -> int:
        """The time ``step_ns`` after ``t_ns`` under the calendar (pure; spec 3.4 ``GetNext``)."""
        return self.normalize(t_ns + step_ns)

    def advance(self, step_ns: int) -> int:
        t = self.now_ns + step_ns
        if not (self._closes is None or self.session_open <= t <= self.session_close):  # inlined fast path of normalize
            t = self.normalize(t)
        self.now_ns = t
        return t

    def is_expired(self, t_ns: int | None = None) -> bool:
        return (self.now_ns if t_ns is None else t_ns) >= self.end_ns

    def day_end(self, t_ns: int) -> int:
        """When a ``day`` order placed at ``t_ns`` expires: the close of the first session closing
        after ``t_ns`` (an order placed at or after a close is for the next session); without a
        calendar, the next UTC midnight."""
        if self._closes is None:
            return (t_ns // DAY_NS + 1) * DAY_NS
        if self.session_open <= t_ns < self.session_close:  # inside the last session found: its close
            return self.session_close
        i = bisect.bisect_right(self._closes, t_ns)
        return self._closes[i] if i < len(self._closes) else t_ns + DAY_NS

    def in_session(self, t_ns: int) -> bool:
        return self.normalize(t_ns) == t_ns


def step_ns(seconds) -> int:
    """Nanoseconds of a tick step given in seconds (int, float or timedelta; not negative)."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds or seconds < 0:
        raise ValueError(f"tick seconds must be a number >= 0, got {seconds!r}")
    return int(round(seconds * NS_PER_SECOND))
