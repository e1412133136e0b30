"""The sample series shipped in ``backtestester/sample_data`` and their import into a catalog."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..catalog import Catalog, CatalogEntry
from .errors import FileFormatError
from .into_catalog import import_files

__all__ = ["SAMPLES", "Sample", "import_sample", "sample_path"]


@dataclass(frozen=True)
class Sample:
    """A shipped sample file and how to import it."""

    file: str
    timeframe: str
    format: str
    description: str


SAMPLES: dict[str, Sample] = {
    "GOOG": Sample("GOOG-1d.csv", "1d", "yahoo",
                   "Alphabet (GOOG) daily OHLCV 2004-08-19 to 2013-03-01, 2,148 sessions "
                   "(Yahoo Finance, via backtesting.py; see sample_data/README.md)"),
}
"""Sample series shipped in ``backtestester/sample_data``."""


def sample_path(name: str = "GOOG") -> Path:
    """Path of a shipped sample file (see :data:`SAMPLES`)."""
    key = str(name).upper()
    if key not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    ref = resources.files("backtestester").joinpath("sample_data", SAMPLES[key].file)
    path = Path(str(ref))
    if not path.is_file():  # pragma: no cover - zipped installs
        raise FileFormatError(f"sample file {SAMPLES[key].file} is not installed", path=path)
    return path


def import_sample(catalog: Catalog, name: str = "GOOG", *, mode: str = "replace",
                  drop_stored: bool = False) -> CatalogEntry:
    """Import a shipped sample series (e.g. ``GOOG`` daily bars) into ``catalog``; ``mode`` and
    ``drop_stored`` as for :func:`import_files`."""
    key = str(name).upper()
    path = sample_path(key)
    sample = SAMPLES[key]
    return import_files(catalog, [path], format=sample.format, symbol=key, timeframe=sample.timeframe,
                        mode=mode, drop_stored=drop_stored)[0]
