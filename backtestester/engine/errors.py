"""Exceptions of the engine. Trading outcomes (rejections, expiries) are data on orders, not these."""


class PlaygroundError(ValueError):
    """Bad input or misuse of a playground; the message says what was wrong and what is accepted."""


class PlaceOrderError(PlaygroundError):
    """A placement the spec refuses (sections 7.2, 7.3, 9.3); the message keeps the original wording."""


class OrderRejected(PlaceOrderError):
    """A placement refused by the account's state, not by its arguments: a trading outcome (the
    side rule, more volume to close than is open, the order to close not open, free margin, an
    order placed on the last bar, when the clock has expired). The
    strategy layer delivers it as a rejected order; the gateway reports it as any PlaceOrderError."""


# The original's wordings of refusals that are trading outcomes (D10: clients match these
# substrings), for messages that arrive as text (the gateway's errors).
REJECTION_WORDINGS = ("side not allowed", "volume to close exceeds open volume", "insufficient free margin",
                      "error getting close by requests", "failed to find order to close",
                      "pending close quantity", "backtest complete: clock expired: no more orders")


def place_order_error(message: str) -> PlaceOrderError:
    """The error for a refusal known only by its ``message``: :class:`OrderRejected` when it is
    worded as a trading outcome (:data:`REJECTION_WORDINGS`), else :class:`PlaceOrderError`."""
    kind = OrderRejected if any(w in message for w in REJECTION_WORDINGS) else PlaceOrderError
    return kind(message)


class NotFoundError(PlaygroundError, LookupError):
    """A symbol, period or order that the playground does not have."""


class BacktestCompleteError(PlaygroundError):
    """A tick after the completion tick (spec 5.3): ``backtest complete: clock expired``."""
