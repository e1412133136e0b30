"""Market sessions for live orders: when an order of a given duration may be sent, and clock skew.

The session days come from the broker's calendar (Tradier ``/markets/calendar``), fetched once per
month and cached; the exchange calendar (``exchange_calendars`` through
:func:`backtestester.calendars.load_sessions`) stands in when there is no broker, the broker
fails (:class:`~.port.BrokerError`) or it has no days. Windows (UTC ns, half-open):

* ``day``/``gtc``: the regular session (an early close shortens it);
* ``pre``: premarket, 04:00 local time to the open;
* ``post``: postmarket, from the close for four hours (16:00-20:00 New York; 13:00-17:00 on an
  early-close day).

Pure: standard library and the calendar loader.
"""
from __future__ import annotations

import calendar as _calendar
import time
from datetime import date, datetime, timedelta, timezone

from ..calendars import load_sessions
from .port import DURATIONS, Broker, BrokerClock, BrokerError, SessionDay

#: Past this many seconds between the local clock and the broker's, the desk raises an alarm.
SKEW_LIMIT_S = 2.0
PREMARKET_START_HOUR = 4
POSTMARKET_HOURS = 4
_NS = 1_000_000_000
#: Which window of a day each order duration may trade in.
DURATION_WINDOWS = {"day": "regular", "gtc": "regular", "pre": "premarket", "post": "postmarket"}
_CLOSED_TEXT = {"regular": "market is closed", "premarket": "premarket session is closed",
                "postmarket": "postmarket session is closed"}
#: How far ahead a refusal looks for the next window.
LOOKAHEAD_DAYS = 14


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * _NS + moment.microsecond * 1000


def calendar_tz(code: str = "XNYS"):
    """The time zone of exchange calendar ``code`` (a ``ZoneInfo``)."""
    return load_sessions(code, 2000, 2000).tz


def exchange_days(year: int, month: int, code: str = "XNYS") -> list[SessionDay]:
    """Every day of ``month`` from the exchange calendar: open days with their regular,
    premarket and postmarket windows (UTC ns), closed days (weekends, holidays) with none."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month!r}")
    sessions = load_sessions(code, year, year)
    by_day = {int(label): (int(o), int(c)) for label, o, c in zip(sessions.labels, sessions.opens, sessions.closes)}
    tz = sessions.tz
    days = []
    for dom in range(1, _calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, dom)
        session = by_day.get((day - date(1970, 1, 1)).days)
        if session is None:
            days.append(SessionDay(day.isoformat(), False))
            continue
        open_ns, close_ns = session
        pre_start = _ns(datetime(year, month, dom, PREMARKET_START_HOUR, tzinfo=tz))
        days.append(SessionDay(day.isoformat(), True, regular=(open_ns, close_ns),
                               premarket=(pre_start, open_ns),
                               postmarket=(close_ns, close_ns + POSTMARKET_HOURS * 3600 * _NS)))
    return days


def local_date(now_ns: int, tz) -> date:
    """The date at ``now_ns`` in time zone ``tz``."""
    return datetime.fromtimestamp(now_ns / _NS, tz=timezone.utc).astimezone(tz).date()


def day_state(day: SessionDay | None, now_ns: int) -> str:
    """``premarket``/``open``/``postmarket``/``closed`` at ``now_ns`` on ``day`` (Tradier's clock states)."""
    if day is None or not day.is_open:
        return "closed"
    for window, state in ((day.regular, "open"), (day.premarket, "premarket"), (day.postmarket, "postmarket")):
        if window is not None and window[0] <= now_ns < window[1]:
            return state
    return "closed"


def exchange_state(now_ns: int, code: str = "XNYS") -> str:
    """The session state at ``now_ns`` from the exchange calendar alone."""
    today = local_date(now_ns, calendar_tz(code))
    day = next(d for d in exchange_days(today.year, today.month, code) if d.date == today.isoformat())
    return day_state(day, now_ns)


class MarketSessions:
    """Whether an order may be sent now, from ``broker``'s calendar (cached per month) with the
    exchange calendar ``calendar`` as the fallback. ``broker_calls`` counts calendar requests."""

    def __init__(self, broker: Broker | None, *, calendar: str = "XNYS", now=time.time_ns):
        self.broker = broker
        self.calendar_code = calendar
        self.tz = calendar_tz(calendar)
        self._now = now
        self._months: dict[tuple[int, int], tuple[dict[str, SessionDay], str, date]] = {}
        self.broker_calls = 0

    def _month(self, year: int, month: int, today: date) -> dict[str, SessionDay]:
        """The days of a month by ``YYYY-MM-DD``: the broker's, else the exchange calendar's
        (a fallback is retried with the broker once the local date changes)."""
        cached = self._months.get((year, month))
        if cached is not None and (cached[1] == "broker" or self.broker is None or cached[2] == today):
            return cached[0]
        days, source = [], "exchange"
        if self.broker is not None:
            self.broker_calls += 1
            try:
                days = list(self.broker.calendar(year, month))
                source = "broker"
            except BrokerError:
                days = []
        if not days:
            days, source = exchange_days(year, month, self.calendar_code), "exchange"
        table = {d.date: d for d in days}
        self._months[(year, month)] = (table, source, today)
        return table

    def day(self, when: date, today: date | None = None) -> SessionDay:
        """The session day of local date ``when`` (closed when no calendar knows it)."""
        today = today or when
        table = self._month(when.year, when.month, today)
        found = table.get(when.isoformat())
        if found is None:  # the broker's month lacks the day: the exchange calendar's
            found = next((d for d in exchange_days(when.year, when.month, self.calendar_code)
                          if d.date == when.isoformat()), SessionDay(when.isoformat(), False))
        return found

    def state(self, now_ns: int | None = None) -> str:
        """``premarket``/``open``/``postmarket``/``closed`` at ``now_ns`` (default: now)."""
        now_ns = self._now() if now_ns is None else now_ns
        return day_state(self.day(local_date(now_ns, self.tz)), now_ns)

    def refusal(self, now_ns: int | None, duration: str) -> str | None:
        """None when an order of ``duration`` may be sent at ``now_ns`` (default: now); else why
        not and when its window opens next, e.g. ``market is closed: orders are accepted from
        2026-12-07 09:30 America/New_York (use duration pre or post for extended hours)``."""
        if duration not in DURATIONS:
            raise ValueError(f"duration must be one of {', '.join(DURATIONS)}, got {duration!r}")
        now_ns = self._now() if now_ns is None else now_ns
        window = DURATION_WINDOWS[duration]
        today = local_date(now_ns, self.tz)
        span = getattr(self.day(today), window)
        if span is not None and span[0] <= now_ns < span[1]:
            return None
        text = _CLOSED_TEXT[window]
        nxt = self._next_start(now_ns, window, today)
        orders = "orders" if window == "regular" else f"{duration} orders"
        if nxt is None:
            text += f": no {window} session in the next {LOOKAHEAD_DAYS} days"
        else:
            shown = datetime.fromtimestamp(nxt / _NS, tz=timezone.utc).astimezone(self.tz)
            text += f": {orders} are accepted from {shown:%Y-%m-%d %H:%M} {self.tz}"
        if window == "regular":
            text += " (use duration pre or post for extended hours)"
        return text

    def _next_start(self, now_ns: int, window: str, today: date) -> int | None:
        for offset in range(LOOKAHEAD_DAYS + 1):
            span = getattr(self.day(today + timedelta(days=offset), today), window)
            if span is not None and span[0] > now_ns:
                return span[0]
        return None

    def skew_s(self, clock: BrokerClock) -> float:
        """Seconds the local clock is ahead of the broker's (negative: behind)."""
        return (self._now() - clock.server_ns) / _NS
