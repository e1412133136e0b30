"""Exceptions of the engine. Trading outcomes (rejections, expiries) are data on orders, not these."""


class PlaygroundError(ValueError):
    """Bad input or misuse of a playground; the message says what was wrong and what is accepted."""


class PlaceOrderError(PlaygroundError):
    """A placement the spec refuses (sections 7.2, 7.3, 9.3); the message keeps the original wording."""


class NotFoundError(PlaygroundError, LookupError):
    """A symbol, period or order that the playground does not have."""


class BacktestCompleteError(PlaygroundError):
    """A tick after the completion tick (spec 5.3): ``backtest complete: clock expired``."""
