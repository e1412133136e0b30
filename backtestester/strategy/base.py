"""The one event-driven strategy API, used unchanged by backtests, sweeps, the gateway and live.

A strategy declares its parameters as annotated class attributes with defaults and reacts to
hooks. It sees nothing but the :class:`~backtestester.strategy.context.Context` it is handed.

    class Breakout(Strategy):
        lookback: int = 20
        def on_candle(self, ctx, bar):
            ...
"""
from __future__ import annotations

import importlib
import os
import sys
import typing

_ACCEPTED = (bool, int, float, str)


class Strategy:
    """Base class. Hooks: :meth:`on_start`, :meth:`on_candle`, :meth:`on_fill`,
    :meth:`on_reject`, :meth:`on_event`, :meth:`on_stop`; :meth:`fit` for strategies that learn
    (training only). Parameters are typed fields."""

    def __init__(self, **params):
        types = self.parameter_types()
        unknown = set(params) - set(types)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown parameter(s) {sorted(unknown)}; "
                             f"accepted: {sorted(types) or 'none'}")
        for name, kind in types.items():
            value = params[name] if name in params else getattr(type(self), name)
            setattr(self, name, _coerce(type(self).__name__, name, kind, value))
        self.validate()

    @classmethod
    def parameter_types(cls) -> dict[str, type]:
        """Parameter name -> type (bool, int, float or str), from the class annotations."""
        out = {}
        for klass in reversed(cls.__mro__):
            if klass is object or klass is Strategy:
                continue
            hints = typing.get_type_hints(klass) if "__annotations__" in vars(klass) else {}
            for name, kind in hints.items():
                if name.startswith("_") or typing.get_origin(kind) is typing.ClassVar:
                    continue
                if kind not in _ACCEPTED:
                    raise TypeError(f"{cls.__name__}.{name}: parameter type must be one of bool, int, float, str")
                if not hasattr(cls, name):
                    raise TypeError(f"{cls.__name__}.{name}: parameters need a default value")
                out[name] = kind
        return out

    @classmethod
    def coerce_parameter(cls, name: str, value):
        """``value`` as parameter ``name`` takes it (an int for a float parameter becomes a
        float); ``ValueError`` naming the type if it is not one (a bool is not a number)."""
        types = cls.parameter_types()
        if name not in types:
            raise ValueError(f"{cls.__name__} has no parameter {name!r}; it has {sorted(types) or 'none'}")
        return _coerce(cls.__name__, name, types[name], value)

    @property
    def params(self) -> dict:
        return {name: getattr(self, name) for name in self.parameter_types()}

    def validate(self) -> None:
        """Check constraints between parameters; raise ``ValueError`` saying what is wrong."""

    # --- hooks ---------------------------------------------------------------------------------
    def decision_periods(self) -> tuple[int, ...] | None:
        """The candle periods (seconds) whose candles this strategy may act on; ``None`` (the
        default): any candle. A promise that lets a run through the gateway's Session advance several
        ticks per message, until a candle of these periods (or a fill, a rejection, an event)
        arrives; ``on_candle`` still sees every candle, and an order placed on another candle is
        refused with an error saying so."""
        return None

    def on_start(self, ctx) -> None:
        """Called once before the first tick."""

    def on_candle(self, ctx, bar) -> None:
        """Called for each new candle (``bar.symbol``, ``bar.period``, ``bar.close``, ``bar.candle``...)."""

    def on_fill(self, ctx, trade, order) -> None:
        """Called for each fill of this strategy's orders."""

    def on_reject(self, ctx, order) -> None:
        """Called for each order the engine rejected (``order.reject_reason`` says why): at once for
        a placement the account's state refuses (``ctx.sell`` with no position...: the verb then
        returns that order, ``id == 0``), on the next tick for a rejection at the fill. Counted in
        the run's ``rejections``; ``strict=True`` on the runner raises placement refusals instead.
        See :mod:`backtestester.strategy.rejections` for which refusals are outcomes and which
        (bad arguments) raise."""

    def on_event(self, ctx, event) -> None:
        """Called for engine events: liquidations, expiries, protective cancellations."""

    def on_stop(self, ctx) -> None:
        """Called once after the completion tick."""

    def fit(self, data) -> object:
        """Optional: learn from the in-sample bars before a run (a classifier on indicators, a
        scaler...). Training (:func:`backtestester.training.evaluate.evaluate_trial`) calls it once
        per fold, on a fresh strategy, with ``data`` = ``{(symbol, timeframe): pyarrow.Table}`` of
        that fold's training bars only (never a bar of its test window), then runs the fold's
        backtest with the state it set, frozen: nothing refits during the run. Return the
        artefact to keep (picklable: the model; saved per fold) or None. Plain backtests, sweeps
        and the fast path never call it; a strategy that does not override it is never fitted
        (:func:`defines_fit`). The default does nothing."""
        return None

    # Optional vectorised form (not defined here, so ``hasattr(cls, "signals")`` detects it):
    #     def signals(self, bars) -> tuple[np.ndarray, np.ndarray]
    # ``bars`` is a dict of numpy columns (open, high, low, close, volume, start) of one symbol
    # and timeframe; return boolean (entries, exits), one per bar, with exactly the decisions
    # on_candle takes. The sweep runner then uses backtestester.fastpath (compiled, same fill,
    # position and cash rules), sized by the strategy's ``fraction`` parameter if it has one and
    # trading its ``direction`` attribute ("long", "short" or "both"; default "long").
    # See docs/fastpath.md.

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


def defines_fit(strategy) -> bool:
    """Does the strategy (class or instance) override :meth:`Strategy.fit`, i.e. does it learn?"""
    cls = strategy if isinstance(strategy, type) else type(strategy)
    return getattr(cls, "fit", Strategy.fit) is not Strategy.fit


def _coerce(owner, name, kind, value):
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ValueError(f"{owner}: parameter {name} must be {kind.__name__}, got {value!r}")
    return value


def importable_from_cwd() -> None:
    """Make modules in the current directory importable, as ``python -m`` and the interpreter's
    prompt do (appended, so installed packages keep precedence over a stray file of the same
    name). A console script's ``sys.path`` starts at its own bin directory instead, so without
    this ``--strategy mymodule:MyStrategy`` would need ``PYTHONPATH=.``; sweep workers call it
    too (in the driver's directory, where Ray starts them)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def load_strategy(spec: str) -> type[Strategy]:
    """The strategy class named ``"package.module:Class"``; the module is imported as Python
    would, and also from the current directory (:func:`importable_from_cwd`)."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"strategy must be named 'package.module:Class', got {spec!r}")
    module_name, class_name = spec.split(":")
    importable_from_cwd()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import strategy module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{spec!r} is not a Strategy subclass")
    return cls
