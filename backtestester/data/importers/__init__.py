"""Importers: generic OHLCV CSV/Parquet, Yahoo-style daily CSV, Polygon aggregate flat files.

Every importer reads a whole file, converts it to bars (``start`` as UTC nanoseconds,
``open high low close volume`` as float64), validates them and only then lets the catalog
write (atomically).  A bad file raises :class:`BadRowError` naming the file, the first bad
row and the reason; nothing is written.

Row numbers are 1-based as in the file: for CSV the header is row 1 and the first data row
row 2 (yfinance's three header lines make the first data row 4); for Parquet the first
record is row 1.  They count one line per row (files with quoted newlines or blank lines
shift them).

An empty input (an empty file, a header without rows, nothing left after ``regular_hours``) is a
:class:`FileFormatError`, never an empty series.  :func:`import_files` replaces a stored series only
if no stored bar's timestamp is missing from the new bars, else it raises
:class:`~backtestester.data.catalog.StoredBarsLostError` (re-exported here) unless
``drop_stored=True``; ``mode="merge"`` adds the new bars (they win on equal timestamps) and never
drops a stored one.

Validation (see :func:`backtestester.data.validation.find_problem`): parseable timestamps, no
empty or NaN prices, ``high >= max(open, close)``, ``low <= min(open, close)``,
``volume >= 0``, timestamps sorted ascending and unique (``sort=True`` sorts and keeps the
last of duplicate timestamps instead) and at least a timeframe apart.

Formats (each described in its module's docstring)
--------------------------------------------------
* **generic** (:func:`read_generic`, :mod:`backtestester.data.importers.generic`): CSV
  (optionally compressed) or Parquet, columns by name or ``columns=``, times as ISO 8601,
  epoch numbers, ``time_format``, Parquet timestamps or dates.
* **yahoo** (:func:`read_yahoo`, :mod:`backtestester.data.importers.yahoo`):
  ``Date,Open,High,Low,Close,Adj Close,Volume`` as Yahoo Finance / yfinance write it.
* **polygon** (:func:`read_polygon`, :mod:`backtestester.data.importers.polygon`): Polygon.io
  minute and day aggregate flat files, many tickers per file.

Dates without a time of day (Yahoo rows, generic ``1d``/``1w`` files with dates, Polygon day
aggregates) are stamped as the synthetic generator stamps daily and weekly bars: a ``1d``
bar at the open of that date's session of ``calendar`` (default XNYS; a date that is not a
session is an error), a ``1w`` bar at the open of the first session of the date's ISO week;
with ``calendar=None`` at 00:00 UTC of the date (of the week's Monday for ``1w``).

``regular_hours=True`` (generic, polygon; intraday bars) drops bars starting outside the
regular sessions of ``calendar`` (pre-market, after hours).

Layout
------
This package's public names are importable from ``backtestester.data.importers``; the work
is done by its modules:

* ``into_catalog``: format detection and :func:`import_files` (several files into the catalog);
* ``samples``: the shipped sample series (:func:`import_sample`, :func:`sample_path`);
* ``errors``: :class:`DataImportError`, :class:`FileFormatError`, :class:`BadRowError`
  and the collector of bad rows;
* ``reading``: CSV layout and Parquet reading, column names and aliases;
* ``conversion``: columns to numbers and UTC nanosecond times, timeframe inference;
* ``frames``: filtering, sorting and validating bars, reporting the first bad row;
* ``generic``, ``yahoo``, ``polygon``: one reader per format.

Part of the pure core: numpy, pyarrow (its CSV reader and compute functions) and
exchange_calendars; no pandas.
"""
from ..catalog import StoredBarsLostError
from .errors import BadRowError, DataImportError, FileFormatError
from .generic import read_generic
from .into_catalog import FORMATS, detect_format, import_files
from .polygon import read_polygon
from .samples import SAMPLES, import_sample, sample_path
from .yahoo import read_yahoo

__all__ = [
    "FORMATS",
    "SAMPLES",
    "DataImportError",
    "FileFormatError",
    "BadRowError",
    "StoredBarsLostError",
    "detect_format",
    "read_generic",
    "read_yahoo",
    "read_polygon",
    "import_files",
    "import_sample",
    "sample_path",
]
