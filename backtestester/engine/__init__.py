"""The playground engine: pure, deterministic Python and numpy (never ray or grpc).

Public names are pinned: other parts of the project and its users build on them.
"""
from .account import Account
from .candles import Candle, Repository
from .clock import Clock
from .costs import Commission, Slippage
from .delta import Event, NewCandle, TickDelta
from .errors import BacktestCompleteError, NotFoundError, OrderRejected, PlaceOrderError, PlaygroundError
from .orders import Order, Position, Trade
from .playground import Playground

__all__ = ["Account", "BacktestCompleteError", "Candle", "Clock", "Commission", "Event", "NewCandle",
           "NotFoundError", "Order", "OrderRejected", "PlaceOrderError", "Playground", "PlaygroundError", "Position",
           "Repository", "Slippage", "TickDelta", "Trade"]
