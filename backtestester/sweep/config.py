"""A run's configuration: frozen, plain data (crosses Ray and gRPC) with a stable id."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

ENGINES = ("event", "fast")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one backtest. ``config_id`` is a hash of all of it, so a sweep
    that is run again recognises the runs it already has."""

    strategy: str                       # "package.module:Class"
    params: tuple = ()                  # sorted ((name, value), ...)
    symbols: tuple = ("SYNTH",)
    timeframe: str = "1m"
    start: str | None = None            # ISO date/datetime or None: the data's first bar
    end: str | None = None
    balance: float = 100_000.0
    fill_model: str = "next_open"
    calendar: str | None = "XNYS"
    commission_rate: float = 0.0
    slippage_rate: float = 0.0
    engine: str = "event"
    extra: tuple = field(default=())    # reserved for options added later, keeps ids stable

    def __post_init__(self):
        if not isinstance(self.strategy, str) or self.strategy.count(":") != 1:
            raise ValueError(f"strategy must be named 'package.module:Class', got {self.strategy!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        object.__setattr__(self, "params", tuple(sorted(dict(self.params).items())))
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))

    @classmethod
    def with_params(cls, params: dict, **fields) -> "RunConfig":
        return cls(params=tuple(sorted(params.items())), **fields)

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def config_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of every field."""
        blob = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
