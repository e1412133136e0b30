"""Candles and per-(symbol, period) repositories with a cursor that respects availability (D2)."""
from __future__ import annotations

import bisect
from datetime import datetime, timedelta

import numpy as np

from ..symbols import normalize_symbol
from .timeutil import from_ns, period_to_ns, to_ns


class Candle:
    """One OHLCV bar. ``start`` is the bar's opening instant; ``available_at`` is when it is complete.

    ``available_at`` defaults to ``start`` + the repository's period (D2); a repository fills it in.
    """

    __slots__ = ("_start_ns", "open", "high", "low", "close", "volume", "_available_ns")

    def __init__(self, start: datetime, open: float, high: float, low: float, close: float,
                 volume: float = 0.0, available_at: datetime | None = None):
        self._start_ns = to_ns(start, "Candle.start")
        self._available_ns = None if available_at is None else to_ns(available_at, "Candle.available_at")
        self.open, self.high, self.low, self.close, self.volume = (
            float(open), float(high), float(low), float(close), float(volume))

    @classmethod
    def from_ns(cls, start_ns, o, h, l, c, v, available_ns):
        """A candle from UTC-nanosecond times and float prices, unchecked (repositories build these)."""
        candle = object.__new__(cls)
        candle._start_ns, candle._available_ns = start_ns, available_ns
        candle.open, candle.high, candle.low, candle.close, candle.volume = o, h, l, c, v
        return candle

    @property
    def start(self) -> datetime:
        return from_ns(self._start_ns)

    @property
    def available_at(self) -> datetime | None:
        return None if self._available_ns is None else from_ns(self._available_ns)

    def _key(self):
        return (self._start_ns, self.open, self.high, self.low, self.close, self.volume, self._available_ns)

    def __eq__(self, other):
        return isinstance(other, Candle) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"Candle(start={self.start.isoformat()}, open={self.open}, high={self.high}, low={self.low}, "
                f"close={self.close}, volume={self.volume}, available_at="
                f"{None if self._available_ns is None else self.available_at.isoformat()})")


class Repository:
    """The candles of one symbol on one timeframe, sorted by start, plus a cursor (spec section 4).

    ``Repository(symbol, period, candles)`` takes a list of :class:`Candle`;
    :meth:`from_arrays` takes numpy arrays (start and availability in UTC nanoseconds) without
    building per-candle objects. Unsorted or duplicate starts, non-finite prices and
    inconsistent high/low are refused with a ``ValueError`` naming the offending candle.

    The tick loop reads ``available_key``/``available_shift`` (candle ``i`` is available at
    ``available_key[i] + available_shift``) and ``close_values`` (the close column as a memoryview)
    element by element, order matching ``open_values`` and ``start_values`` likewise; the position
    cursor is ``position``.
    """

    def __init__(self, symbol: str, period: timedelta, candles):
        candles = list(candles)
        for i, c in enumerate(candles):
            if not isinstance(c, Candle):
                raise TypeError(f"candles[{i}] must be a Candle, got {type(c).__name__}")
        period_ns = period_to_ns(period)
        starts = np.array([c._start_ns for c in candles], dtype=np.int64)
        avail = np.array([c._available_ns if c._available_ns is not None else c._start_ns + period_ns
                          for c in candles], dtype=np.int64)
        cols = [np.array([getattr(c, f) for c in candles], dtype=np.float64)
                for f in ("open", "high", "low", "close", "volume")]
        self._init(symbol, period, starts, *cols, avail)

    @classmethod
    def from_arrays(cls, symbol: str, period: timedelta, start_ns, open, high, low, close, volume=None,
                    available_ns=None) -> "Repository":
        """Build from column arrays without copying them; ``available_ns`` defaults to
        ``start_ns`` + period (D2) and is then derived, not stored."""
        repo = object.__new__(cls)
        start_ns = np.asarray(start_ns, dtype=np.int64)
        volume = np.zeros(len(start_ns)) if volume is None else volume
        repo._init(symbol, period, start_ns, *(np.asarray(a, dtype=np.float64) for a in (open, high, low, close, volume)),
                   None if available_ns is None else np.asarray(available_ns, dtype=np.int64))
        return repo

    @classmethod
    def from_table(cls, symbol: str, period: timedelta, table) -> "Repository":
        """Build from a pyarrow Table with columns start (timestamp, UTC), open, high, low, close,
        volume. Single-chunk columns without nulls are used in place (zero-copy: a table in Ray's
        shared memory stays there)."""
        import pyarrow as pa  # noqa: PLC0415  (pyarrow is loaded only when a table is given)

        missing = {"start", "open", "high", "low", "close"} - set(table.column_names)
        if missing:
            raise ValueError(f"table is missing columns {sorted(missing)}; required: start, open, high, low, close[, volume]")

        def column(name, kind):
            col = table.column(name)
            if col.type != kind:
                col = col.cast(kind)
            if col.null_count:
                raise ValueError(f"repository {symbol}: column {name} has {col.null_count} missing values")
            chunk = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
            return chunk.to_numpy(zero_copy_only=False)

        start = column("start", pa.timestamp("ns", tz="UTC")).view(np.int64)
        cols = [column(c, pa.float64()) for c in ("open", "high", "low", "close")]
        volume = column("volume", pa.float64()) if "volume" in table.column_names else None
        return cls.from_arrays(symbol, period, start, *cols, volume)

    def _init(self, symbol, period, starts, o, h, l, c, v, avail):
        self.symbol = normalize_symbol(symbol)
        self.period = period
        self.period_ns = period_to_ns(period)
        n = len(starts)
        if not all(len(a) == n for a in (o, h, l, c, v)) or (avail is not None and len(avail) != n):
            raise ValueError(f"repository {self.symbol}: column lengths differ")
        if avail is not None and np.array_equal(avail, starts + self.period_ns):
            avail = None  # the default availability: derive it instead of storing it
        self._check(starts, o, h, l, c, v, avail)
        self.start_ns, self.open, self.high, self.low, self.close, self.volume = starts, o, h, l, c, v
        self._explicit_available = avail
        # The tick loop reads single elements: memoryviews give Python numbers as fast as lists
        # do, without copying the (possibly shared) buffers. Availability is key[i] + shift.
        self.available_key = memoryview(np.ascontiguousarray(starts if avail is None else avail))
        self.available_shift = self.period_ns if avail is None else 0
        self.close_values = memoryview(np.ascontiguousarray(c))
        self.open_values = memoryview(np.ascontiguousarray(o))        # matching reads opens and starts
        self.start_values = memoryview(np.ascontiguousarray(starts))  # one at a time, as Python numbers
        self._n = n
        self.reset()

    @property
    def available_ns(self) -> np.ndarray:
        """When each candle becomes available (D2), UTC nanoseconds."""
        if self._explicit_available is not None:
            return self._explicit_available
        return self.start_ns + self.period_ns

    def available(self, i: int) -> int:
        return self.available_key[i] + self.available_shift

    def _check(self, starts, o, h, l, c, v, avail):
        where = f"repository {self.symbol} {self.period}"
        if len(starts) > 1:
            bad = np.flatnonzero(np.diff(starts) <= 0)
            if len(bad):
                i = int(bad[0]) + 1
                kind = "duplicate" if starts[i] == starts[i - 1] else "unsorted"
                raise ValueError(f"{where}: candles must be sorted by start with unique starts; "
                                 f"{kind} start at index {i} ({from_ns(int(starts[i])).isoformat()})")
            if avail is not None:
                bad = np.flatnonzero(np.diff(avail) < 0)
                if len(bad):
                    raise ValueError(f"{where}: available_at must not decrease; index {int(bad[0]) + 1}")
        for name, col in (("open", o), ("high", h), ("low", l), ("close", c), ("volume", v)):
            bad = np.flatnonzero(~np.isfinite(col))
            if len(bad):
                raise ValueError(f"{where}: {name} is not finite at index {int(bad[0])}")
        bad = np.flatnonzero((h < np.maximum(o, c)) | (l > np.minimum(o, c)) | (l < 0) | (v < 0))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{where}: candle {i} ({from_ns(int(starts[i])).isoformat()}) is inconsistent: "
                             f"need high >= max(open, close), low <= min(open, close), low >= 0, volume >= 0; "
                             f"got open={o[i]}, high={h[i]}, low={l[i]}, close={c[i]}, volume={v[i]}")
        if avail is not None:
            bad = np.flatnonzero(avail < starts)
            if len(bad):
                raise ValueError(f"{where}: candle {int(bad[0])} is available before it starts")

    def __len__(self):
        return self._n

    # --- cursor -----------------------------------------------------------------------------
    def reset(self):
        self.position = -1        # index of the current candle; -1 while none is available

    def index_at(self, t_ns: int) -> int:
        """Index of the latest candle available at or before ``t_ns`` (-1 if none)."""
        return bisect.bisect_right(self.available_key, t_ns - self.available_shift) - 1

    def seek(self, t_ns: int):
        """Place the cursor at ``t_ns`` without reporting (playground creation)."""
        self.position = self.index_at(t_ns)

    def advance(self, t_ns: int) -> int:
        """Move the cursor to the latest candle available at ``t_ns``; return the previous position."""
        old = self.position
        key, n = self.available_key, self._n
        limit = t_ns - self.available_shift
        nxt = old + 1
        if nxt < n and key[nxt] <= limit:
            if nxt + 1 < n and key[nxt + 1] <= limit:
                self.position = bisect.bisect_right(key, limit, nxt + 1) - 1
            else:
                self.position = nxt
        return old

    def candle(self, i: int) -> Candle:
        return Candle.from_ns(int(self.start_ns[i]), float(self.open[i]), float(self.high[i]), float(self.low[i]),
                               float(self.close[i]), float(self.volume[i]), self.available(i))

    def current(self) -> Candle | None:
        return None if self.position < 0 else self.candle(self.position)

    def current_close(self) -> float | None:
        return None if self.position < 0 else self.close_values[self.position]

    def between(self, start_ns: int, end_ns: int | None, clock_ns: int) -> range:
        """Indices of candles with ``start_ns <= start < end_ns`` that are available at ``clock_ns``."""
        lo = int(np.searchsorted(self.start_ns, start_ns, "left"))
        hi = self.index_at(clock_ns) + 1
        if end_ns is not None:
            hi = min(hi, int(np.searchsorted(self.start_ns, end_ns, "left")))
        return range(lo, max(lo, hi))

    def describe(self) -> str:
        return f"{self.symbol} {self.period}"

