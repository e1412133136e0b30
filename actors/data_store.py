"""The data-store actor: loads each (symbol, timeframe) once and owns it in Ray's object store."""
from __future__ import annotations

from backtestester.data.catalog import Catalog


class DataStore:
    """Plain class (``ray.remote(DataStore)`` where it is spawned). Because this actor ``ray.put``s
    the tables, it owns them: they live as long as it does, and every playground actor on the
    node reads the same shared-memory buffers."""

    def __init__(self, data_dir=None, calendar: str | None = "XNYS"):
        self.data_dir = data_dir
        self.calendar = calendar
        self.refs: dict = {}
        self._catalog = None

    @property
    def catalog(self):
        if self._catalog is None:
            self._catalog = Catalog(self.data_dir)
        return self._catalog

    def load(self, keys: list[tuple[str, str]]) -> dict:
        """``{(symbol, timeframe): [ObjectRef]}`` (the ref is wrapped so Ray hands it over unresolved)."""
        import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

        out = {}
        for symbol, timeframe in keys:
            key = (symbol.upper(), timeframe)
            if key not in self.refs:
                table = self.catalog.load(key[0], timeframe, calendar=self.calendar)
                self.refs[key] = ray.put(table)
            out[key] = [self.refs[key]]
        return out

    def put(self, symbol: str, timeframe: str, table) -> list:
        """Own an in-memory table (e.g. generated data) under (symbol, timeframe)."""
        import ray  # noqa: PLC0415  (ray is imported where it is used: importing this module stays cheap)

        key = (symbol.upper(), timeframe)
        self.refs[key] = ray.put(table)
        return [self.refs[key]]

    def keys(self) -> list:
        return sorted(self.refs)
