# Regenerate with `make protos` (scripts/gen_protos.py, grpcio-tools 1.85.1); do not edit by hand.
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetDailyTickerSummaryFromPolygonRequest(_message.Message):
    __slots__ = ("symbol", "date")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    date: str
    def __init__(self, symbol: _Optional[str] = ..., date: _Optional[str] = ...) -> None: ...

class GetDailyTickerSummaryFromPolygonResponse(_message.Message):
    __slots__ = ("open", "close", "high", "low", "volume", "after_hours_close", "premarket_open")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    AFTER_HOURS_CLOSE_FIELD_NUMBER: _ClassVar[int]
    PREMARKET_OPEN_FIELD_NUMBER: _ClassVar[int]
    open: float
    close: float
    high: float
    low: float
    volume: int
    after_hours_close: float
    premarket_open: float
    def __init__(self, open: _Optional[float] = ..., close: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., volume: _Optional[int] = ..., after_hours_close: _Optional[float] = ..., premarket_open: _Optional[float] = ...) -> None: ...

class GetEquityReportRequest(_message.Message):
    __slots__ = ("playground_id",)
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    def __init__(self, playground_id: _Optional[str] = ...) -> None: ...

class LiveAccountPlot(_message.Message):
    __slots__ = ("timestamp", "equity")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    timestamp: str
    equity: float
    def __init__(self, timestamp: _Optional[str] = ..., equity: _Optional[float] = ...) -> None: ...

class GetEquityReportResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[LiveAccountPlot]
    def __init__(self, items: _Optional[_Iterable[_Union[LiveAccountPlot, _Mapping]]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    def __init__(self, order_id: _Optional[int] = ...) -> None: ...

class MockFillOrderRequest(_message.Message):
    __slots__ = ("order_id", "price", "status", "broker", "delay_in_seconds")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BROKER_FIELD_NUMBER: _ClassVar[int]
    DELAY_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    price: float
    status: str
    broker: str
    delay_in_seconds: int
    def __init__(self, order_id: _Optional[int] = ..., price: _Optional[float] = ..., status: _Optional[str] = ..., broker: _Optional[str] = ..., delay_in_seconds: _Optional[int] = ...) -> None: ...

class GetReconciliationReportRequest(_message.Message):
    __slots__ = ("reconcile_playground_id",)
    RECONCILE_PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    reconcile_playground_id: str
    def __init__(self, reconcile_playground_id: _Optional[str] = ...) -> None: ...

class GetEquityReconciliationReport(_message.Message):
    __slots__ = ("reconcile_playground_id",)
    RECONCILE_PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    reconcile_playground_id: str
    def __init__(self, reconcile_playground_id: _Optional[str] = ...) -> None: ...

class PositionReport(_message.Message):
    __slots__ = ("symbol", "quantity", "playground_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    quantity: float
    playground_id: str
    def __init__(self, symbol: _Optional[str] = ..., quantity: _Optional[float] = ..., playground_id: _Optional[str] = ...) -> None: ...

class GetReconciliationReportResponse(_message.Message):
    __slots__ = ("broker_positions", "live_playground_positions", "reconciliation_positions", "differences", "unknown_broker_orders", "unknown_intents", "opens_blocked")
    BROKER_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    LIVE_PLAYGROUND_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    RECONCILIATION_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_BROKER_ORDERS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_INTENTS_FIELD_NUMBER: _ClassVar[int]
    OPENS_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    broker_positions: _containers.RepeatedCompositeFieldContainer[PositionReport]
    live_playground_positions: _containers.RepeatedCompositeFieldContainer[PositionReport]
    reconciliation_positions: _containers.RepeatedCompositeFieldContainer[PositionReport]
    differences: _containers.RepeatedScalarFieldContainer[str]
    unknown_broker_orders: _containers.RepeatedScalarFieldContainer[str]
    unknown_intents: _containers.RepeatedScalarFieldContainer[str]
    opens_blocked: bool
    def __init__(self, broker_positions: _Optional[_Iterable[_Union[PositionReport, _Mapping]]] = ..., live_playground_positions: _Optional[_Iterable[_Union[PositionReport, _Mapping]]] = ..., reconciliation_positions: _Optional[_Iterable[_Union[PositionReport, _Mapping]]] = ..., differences: _Optional[_Iterable[str]] = ..., unknown_broker_orders: _Optional[_Iterable[str]] = ..., unknown_intents: _Optional[_Iterable[str]] = ..., opens_blocked: _Optional[bool] = ...) -> None: ...

class GetPlaygroundsRequest(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAppVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class AccountMeta(_message.Message):
    __slots__ = ("playground_id", "reconcile_playground_id", "start_date", "end_date", "symbols", "initial_balance", "environment", "live_account_type", "tags", "client_id")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BALANCE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    LIVE_ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    reconcile_playground_id: str
    start_date: str
    end_date: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    initial_balance: float
    environment: str
    live_account_type: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    client_id: str
    def __init__(self, playground_id: _Optional[str] = ..., reconcile_playground_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., initial_balance: _Optional[float] = ..., environment: _Optional[str] = ..., live_account_type: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., client_id: _Optional[str] = ...) -> None: ...

class GetAccountStatsRequest(_message.Message):
    __slots__ = ("playground_id", "equity_plot")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    EQUITY_PLOT_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    equity_plot: bool
    def __init__(self, playground_id: _Optional[str] = ..., equity_plot: _Optional[bool] = ...) -> None: ...

class EquityPlot(_message.Message):
    __slots__ = ("created_at", "equity")
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    created_at: str
    equity: float
    def __init__(self, created_at: _Optional[str] = ..., equity: _Optional[float] = ...) -> None: ...

class GetAccountStatsResponse(_message.Message):
    __slots__ = ("equity_plot",)
    EQUITY_PLOT_FIELD_NUMBER: _ClassVar[int]
    equity_plot: _containers.RepeatedCompositeFieldContainer[EquityPlot]
    def __init__(self, equity_plot: _Optional[_Iterable[_Union[EquityPlot, _Mapping]]] = ...) -> None: ...

class PlaygroundSession(_message.Message):
    __slots__ = ("playground_id", "meta", "clock", "repositories", "balance", "equity", "free_margin", "positions")
    class PositionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Position
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Position, _Mapping]] = ...) -> None: ...
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    REPOSITORIES_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    FREE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    meta: AccountMeta
    clock: Clock
    repositories: _containers.RepeatedCompositeFieldContainer[Repository]
    balance: float
    equity: float
    free_margin: float
    positions: _containers.MessageMap[str, Position]
    def __init__(self, playground_id: _Optional[str] = ..., meta: _Optional[_Union[AccountMeta, _Mapping]] = ..., clock: _Optional[_Union[Clock, _Mapping]] = ..., repositories: _Optional[_Iterable[_Union[Repository, _Mapping]]] = ..., balance: _Optional[float] = ..., equity: _Optional[float] = ..., free_margin: _Optional[float] = ..., positions: _Optional[_Mapping[str, Position]] = ...) -> None: ...

class GetPlaygroundsResponse(_message.Message):
    __slots__ = ("playgrounds",)
    PLAYGROUNDS_FIELD_NUMBER: _ClassVar[int]
    playgrounds: _containers.RepeatedCompositeFieldContainer[PlaygroundSession]
    def __init__(self, playgrounds: _Optional[_Iterable[_Union[PlaygroundSession, _Mapping]]] = ...) -> None: ...

class GetOpenOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class GetOpenOrdersRequest(_message.Message):
    __slots__ = ("playground_id", "symbol")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    symbol: str
    def __init__(self, playground_id: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class SavePlaygroundRequest(_message.Message):
    __slots__ = ("playground_id",)
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    def __init__(self, playground_id: _Optional[str] = ...) -> None: ...

class EmptyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Clock(_message.Message):
    __slots__ = ("current_time", "start", "stop")
    CURRENT_TIME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    current_time: str
    start: str
    stop: str
    def __init__(self, current_time: _Optional[str] = ..., start: _Optional[str] = ..., stop: _Optional[str] = ...) -> None: ...

class Repository(_message.Message):
    __slots__ = ("symbol", "timespan_multiplier", "timespan_unit", "indicators", "history_in_days")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIMESPAN_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    TIMESPAN_UNIT_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_IN_DAYS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    timespan_multiplier: int
    timespan_unit: str
    indicators: _containers.RepeatedScalarFieldContainer[str]
    history_in_days: int
    def __init__(self, symbol: _Optional[str] = ..., timespan_multiplier: _Optional[int] = ..., timespan_unit: _Optional[str] = ..., indicators: _Optional[_Iterable[str]] = ..., history_in_days: _Optional[int] = ...) -> None: ...

class CreatePolygonPlaygroundRequest(_message.Message):
    __slots__ = ("balance", "start_date", "stop_date", "repositories", "environment", "client_id", "tags", "fill_model", "margin_basis", "enforce_stop_loss", "commission_rate", "commission_per_share", "commission_per_order", "commission_minimum", "slippage_rate", "slippage_per_share")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    STOP_DATE_FIELD_NUMBER: _ClassVar[int]
    REPOSITORIES_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    FILL_MODEL_FIELD_NUMBER: _ClassVar[int]
    MARGIN_BASIS_FIELD_NUMBER: _ClassVar[int]
    ENFORCE_STOP_LOSS_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_PER_SHARE_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_PER_ORDER_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_MINIMUM_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_RATE_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_PER_SHARE_FIELD_NUMBER: _ClassVar[int]
    balance: float
    start_date: str
    stop_date: str
    repositories: _containers.RepeatedCompositeFieldContainer[Repository]
    environment: str
    client_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    fill_model: str
    margin_basis: str
    enforce_stop_loss: bool
    commission_rate: float
    commission_per_share: float
    commission_per_order: float
    commission_minimum: float
    slippage_rate: float
    slippage_per_share: float
    def __init__(self, balance: _Optional[float] = ..., start_date: _Optional[str] = ..., stop_date: _Optional[str] = ..., repositories: _Optional[_Iterable[_Union[Repository, _Mapping]]] = ..., environment: _Optional[str] = ..., client_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., fill_model: _Optional[str] = ..., margin_basis: _Optional[str] = ..., enforce_stop_loss: _Optional[bool] = ..., commission_rate: _Optional[float] = ..., commission_per_share: _Optional[float] = ..., commission_per_order: _Optional[float] = ..., commission_minimum: _Optional[float] = ..., slippage_rate: _Optional[float] = ..., slippage_per_share: _Optional[float] = ...) -> None: ...

class DeletePlaygroundRequest(_message.Message):
    __slots__ = ("playground_id",)
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    def __init__(self, playground_id: _Optional[str] = ...) -> None: ...

class CreateLivePlaygroundRequest(_message.Message):
    __slots__ = ("balance", "broker", "repositories", "environment", "account_type", "client_id", "tags")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    BROKER_FIELD_NUMBER: _ClassVar[int]
    REPOSITORIES_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    balance: float
    broker: str
    repositories: _containers.RepeatedCompositeFieldContainer[Repository]
    environment: str
    account_type: str
    client_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, balance: _Optional[float] = ..., broker: _Optional[str] = ..., repositories: _Optional[_Iterable[_Union[Repository, _Mapping]]] = ..., environment: _Optional[str] = ..., account_type: _Optional[str] = ..., client_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCandlesRequest(_message.Message):
    __slots__ = ("playground_id", "symbol", "period_in_seconds", "fromRTF3339", "toRTF3339")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PERIOD_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROMRTF3339_FIELD_NUMBER: _ClassVar[int]
    TORTF3339_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    symbol: str
    period_in_seconds: int
    fromRTF3339: str
    toRTF3339: str
    def __init__(self, playground_id: _Optional[str] = ..., symbol: _Optional[str] = ..., period_in_seconds: _Optional[int] = ..., fromRTF3339: _Optional[str] = ..., toRTF3339: _Optional[str] = ...) -> None: ...

class GetCandlesResponse(_message.Message):
    __slots__ = ("bars",)
    BARS_FIELD_NUMBER: _ClassVar[int]
    bars: _containers.RepeatedCompositeFieldContainer[Bar]
    def __init__(self, bars: _Optional[_Iterable[_Union[Bar, _Mapping]]] = ...) -> None: ...

class CreatePlaygroundResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("playground_id", "fetch_orders", "fromRTF3339", "toRTF3339", "status", "sides", "symbols", "fetch_external_id")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    FETCH_ORDERS_FIELD_NUMBER: _ClassVar[int]
    FROMRTF3339_FIELD_NUMBER: _ClassVar[int]
    TORTF3339_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIDES_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    FETCH_EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    fetch_orders: bool
    fromRTF3339: str
    toRTF3339: str
    status: _containers.RepeatedScalarFieldContainer[str]
    sides: _containers.RepeatedScalarFieldContainer[str]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    fetch_external_id: bool
    def __init__(self, playground_id: _Optional[str] = ..., fetch_orders: _Optional[bool] = ..., fromRTF3339: _Optional[str] = ..., toRTF3339: _Optional[str] = ..., status: _Optional[_Iterable[str]] = ..., sides: _Optional[_Iterable[str]] = ..., symbols: _Optional[_Iterable[str]] = ..., fetch_external_id: _Optional[bool] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("meta", "balance", "equity", "free_margin", "orders", "positions")
    class PositionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Position
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Position, _Mapping]] = ...) -> None: ...
    META_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    FREE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    meta: AccountMeta
    balance: float
    equity: float
    free_margin: float
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    positions: _containers.MessageMap[str, Position]
    def __init__(self, meta: _Optional[_Union[AccountMeta, _Mapping]] = ..., balance: _Optional[float] = ..., equity: _Optional[float] = ..., free_margin: _Optional[float] = ..., orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., positions: _Optional[_Mapping[str, Position]] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("quantity", "cost_basis", "pl", "maintenance_margin", "current_price")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    PL_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PRICE_FIELD_NUMBER: _ClassVar[int]
    quantity: float
    cost_basis: float
    pl: float
    maintenance_margin: float
    current_price: float
    def __init__(self, quantity: _Optional[float] = ..., cost_basis: _Optional[float] = ..., pl: _Optional[float] = ..., maintenance_margin: _Optional[float] = ..., current_price: _Optional[float] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("playground_id", "symbol", "asset_class", "quantity", "side", "type", "duration", "tag", "requested_price", "price", "close_order_id", "is_adjustment", "client_request_id", "sl", "stop_price", "tp", "equity_fraction")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ASSET_CLASS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ADJUSTMENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SL_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    TP_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FRACTION_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    symbol: str
    asset_class: str
    quantity: float
    side: str
    type: str
    duration: str
    tag: str
    requested_price: float
    price: float
    close_order_id: int
    is_adjustment: bool
    client_request_id: str
    sl: float
    stop_price: float
    tp: float
    equity_fraction: float
    def __init__(self, playground_id: _Optional[str] = ..., symbol: _Optional[str] = ..., asset_class: _Optional[str] = ..., quantity: _Optional[float] = ..., side: _Optional[str] = ..., type: _Optional[str] = ..., duration: _Optional[str] = ..., tag: _Optional[str] = ..., requested_price: _Optional[float] = ..., price: _Optional[float] = ..., close_order_id: _Optional[int] = ..., is_adjustment: _Optional[bool] = ..., client_request_id: _Optional[str] = ..., sl: _Optional[float] = ..., stop_price: _Optional[float] = ..., tp: _Optional[float] = ..., equity_fraction: _Optional[float] = ...) -> None: ...

class NextTickRequest(_message.Message):
    __slots__ = ("playground_id", "seconds", "is_preview", "request_id")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    IS_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    seconds: int
    is_preview: bool
    request_id: str
    def __init__(self, playground_id: _Optional[str] = ..., seconds: _Optional[int] = ..., is_preview: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class TickDelta(_message.Message):
    __slots__ = ("new_trades", "new_candles", "invalid_orders", "events", "current_time", "is_backtest_complete")
    NEW_TRADES_FIELD_NUMBER: _ClassVar[int]
    NEW_CANDLES_FIELD_NUMBER: _ClassVar[int]
    INVALID_ORDERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_BACKTEST_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    new_trades: _containers.RepeatedCompositeFieldContainer[Trade]
    new_candles: _containers.RepeatedCompositeFieldContainer[Candle]
    invalid_orders: _containers.RepeatedCompositeFieldContainer[Order]
    events: _containers.RepeatedCompositeFieldContainer[TickDeltaEvent]
    current_time: str
    is_backtest_complete: bool
    def __init__(self, new_trades: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ..., new_candles: _Optional[_Iterable[_Union[Candle, _Mapping]]] = ..., invalid_orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[TickDeltaEvent, _Mapping]]] = ..., current_time: _Optional[str] = ..., is_backtest_complete: _Optional[bool] = ...) -> None: ...

class LiquidationEvent(_message.Message):
    __slots__ = ("orders_placed",)
    ORDERS_PLACED_FIELD_NUMBER: _ClassVar[int]
    orders_placed: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders_placed: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class TickDeltaEvent(_message.Message):
    __slots__ = ("type", "liquidation_event", "orders")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LIQUIDATION_EVENT_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    liquidation_event: LiquidationEvent
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, type: _Optional[str] = ..., liquidation_event: _Optional[_Union[LiquidationEvent, _Mapping]] = ..., orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class Bar(_message.Message):
    __slots__ = ("volume", "open", "close", "high", "low", "datetime", "superT_50_3", "superD_50_3", "superL_50_3", "superS_50_3", "stochrsi_k_14_14_3_3", "stochrsi_d_14_14_3_3", "atr_14", "sma_50", "sma_100", "sma_200", "stochrsi_cross_above_20", "stochrsi_cross_below_80", "close_lag_1", "close_lag_2", "close_lag_3", "close_lag_4", "close_lag_5", "close_lag_6", "close_lag_7", "close_lag_8", "close_lag_9", "close_lag_10", "close_lag_11", "close_lag_12", "close_lag_13", "close_lag_14", "close_lag_15", "close_lag_16", "close_lag_17", "close_lag_18", "close_lag_19", "close_lag_20", "cdl_hammer", "cdl_doji_10_0_1")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    DATETIME_FIELD_NUMBER: _ClassVar[int]
    SUPERT_50_3_FIELD_NUMBER: _ClassVar[int]
    SUPERD_50_3_FIELD_NUMBER: _ClassVar[int]
    SUPERL_50_3_FIELD_NUMBER: _ClassVar[int]
    SUPERS_50_3_FIELD_NUMBER: _ClassVar[int]
    STOCHRSI_K_14_14_3_3_FIELD_NUMBER: _ClassVar[int]
    STOCHRSI_D_14_14_3_3_FIELD_NUMBER: _ClassVar[int]
    ATR_14_FIELD_NUMBER: _ClassVar[int]
    SMA_50_FIELD_NUMBER: _ClassVar[int]
    SMA_100_FIELD_NUMBER: _ClassVar[int]
    SMA_200_FIELD_NUMBER: _ClassVar[int]
    STOCHRSI_CROSS_ABOVE_20_FIELD_NUMBER: _ClassVar[int]
    STOCHRSI_CROSS_BELOW_80_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_1_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_2_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_3_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_4_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_5_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_6_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_7_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_8_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_9_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_10_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_11_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_12_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_13_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_14_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_15_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_16_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_17_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_18_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_19_FIELD_NUMBER: _ClassVar[int]
    CLOSE_LAG_20_FIELD_NUMBER: _ClassVar[int]
    CDL_HAMMER_FIELD_NUMBER: _ClassVar[int]
    CDL_DOJI_10_0_1_FIELD_NUMBER: _ClassVar[int]
    volume: float
    open: float
    close: float
    high: float
    low: float
    datetime: str
    superT_50_3: float
    superD_50_3: int
    superL_50_3: float
    superS_50_3: float
    stochrsi_k_14_14_3_3: float
    stochrsi_d_14_14_3_3: float
    atr_14: float
    sma_50: float
    sma_100: float
    sma_200: float
    stochrsi_cross_above_20: bool
    stochrsi_cross_below_80: bool
    close_lag_1: float
    close_lag_2: float
    close_lag_3: float
    close_lag_4: float
    close_lag_5: float
    close_lag_6: float
    close_lag_7: float
    close_lag_8: float
    close_lag_9: float
    close_lag_10: float
    close_lag_11: float
    close_lag_12: float
    close_lag_13: float
    close_lag_14: float
    close_lag_15: float
    close_lag_16: float
    close_lag_17: float
    close_lag_18: float
    close_lag_19: float
    close_lag_20: float
    cdl_hammer: float
    cdl_doji_10_0_1: float
    def __init__(self, volume: _Optional[float] = ..., open: _Optional[float] = ..., close: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., datetime: _Optional[str] = ..., superT_50_3: _Optional[float] = ..., superD_50_3: _Optional[int] = ..., superL_50_3: _Optional[float] = ..., superS_50_3: _Optional[float] = ..., stochrsi_k_14_14_3_3: _Optional[float] = ..., stochrsi_d_14_14_3_3: _Optional[float] = ..., atr_14: _Optional[float] = ..., sma_50: _Optional[float] = ..., sma_100: _Optional[float] = ..., sma_200: _Optional[float] = ..., stochrsi_cross_above_20: _Optional[bool] = ..., stochrsi_cross_below_80: _Optional[bool] = ..., close_lag_1: _Optional[float] = ..., close_lag_2: _Optional[float] = ..., close_lag_3: _Optional[float] = ..., close_lag_4: _Optional[float] = ..., close_lag_5: _Optional[float] = ..., close_lag_6: _Optional[float] = ..., close_lag_7: _Optional[float] = ..., close_lag_8: _Optional[float] = ..., close_lag_9: _Optional[float] = ..., close_lag_10: _Optional[float] = ..., close_lag_11: _Optional[float] = ..., close_lag_12: _Optional[float] = ..., close_lag_13: _Optional[float] = ..., close_lag_14: _Optional[float] = ..., close_lag_15: _Optional[float] = ..., close_lag_16: _Optional[float] = ..., close_lag_17: _Optional[float] = ..., close_lag_18: _Optional[float] = ..., close_lag_19: _Optional[float] = ..., close_lag_20: _Optional[float] = ..., cdl_hammer: _Optional[float] = ..., cdl_doji_10_0_1: _Optional[float] = ...) -> None: ...

class Candle(_message.Message):
    __slots__ = ("symbol", "period", "bar")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    BAR_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    period: int
    bar: Bar
    def __init__(self, symbol: _Optional[str] = ..., period: _Optional[int] = ..., bar: _Optional[_Union[Bar, _Mapping]] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("id", "create_date", "quantity", "price", "order_id", "reconcile_order_id", "commission")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_FIELD_NUMBER: _ClassVar[int]
    id: int
    create_date: str
    quantity: float
    price: float
    order_id: int
    reconcile_order_id: int
    commission: float
    def __init__(self, id: _Optional[int] = ..., create_date: _Optional[str] = ..., quantity: _Optional[float] = ..., price: _Optional[float] = ..., order_id: _Optional[int] = ..., reconcile_order_id: _Optional[int] = ..., commission: _Optional[float] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("id", "symbol", "side", "quantity", "type", "duration", "price", "requested_price", "stop_price", "tag", "trades", "status", "reject_reason", "create_date", "closed_by", "closes", "external_id", "reconciles", "client_request_id", "previous_position", "close_order_id", "sl", "tp", "order_stop_price", "protects")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_PRICE_FIELD_NUMBER: _ClassVar[int]
    STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    CLOSES_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    RECONCILES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_POSITION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SL_FIELD_NUMBER: _ClassVar[int]
    TP_FIELD_NUMBER: _ClassVar[int]
    ORDER_STOP_PRICE_FIELD_NUMBER: _ClassVar[int]
    PROTECTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    symbol: str
    side: str
    quantity: float
    type: str
    duration: str
    price: float
    requested_price: float
    stop_price: float
    tag: str
    trades: _containers.RepeatedCompositeFieldContainer[Trade]
    status: str
    reject_reason: str
    create_date: str
    closed_by: _containers.RepeatedCompositeFieldContainer[Trade]
    closes: _containers.RepeatedCompositeFieldContainer[Order]
    external_id: int
    reconciles: _containers.RepeatedCompositeFieldContainer[Order]
    client_request_id: str
    previous_position: Position
    close_order_id: int
    sl: float
    tp: float
    order_stop_price: float
    protects: int
    def __init__(self, id: _Optional[int] = ..., symbol: _Optional[str] = ..., side: _Optional[str] = ..., quantity: _Optional[float] = ..., type: _Optional[str] = ..., duration: _Optional[str] = ..., price: _Optional[float] = ..., requested_price: _Optional[float] = ..., stop_price: _Optional[float] = ..., tag: _Optional[str] = ..., trades: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ..., status: _Optional[str] = ..., reject_reason: _Optional[str] = ..., create_date: _Optional[str] = ..., closed_by: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ..., closes: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., external_id: _Optional[int] = ..., reconciles: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., client_request_id: _Optional[str] = ..., previous_position: _Optional[_Union[Position, _Mapping]] = ..., close_order_id: _Optional[int] = ..., sl: _Optional[float] = ..., tp: _Optional[float] = ..., order_stop_price: _Optional[float] = ..., protects: _Optional[int] = ..., **kwargs) -> None: ...

class StreamTicksRequest(_message.Message):
    __slots__ = ("playground_id", "seconds", "max_ticks", "is_preview", "request_id")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_TICKS_FIELD_NUMBER: _ClassVar[int]
    IS_PREVIEW_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    seconds: int
    max_ticks: int
    is_preview: bool
    request_id: str
    def __init__(self, playground_id: _Optional[str] = ..., seconds: _Optional[int] = ..., max_ticks: _Optional[int] = ..., is_preview: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class ArrowBatch(_message.Message):
    __slots__ = ("ipc",)
    IPC_FIELD_NUMBER: _ClassVar[int]
    ipc: bytes
    def __init__(self, ipc: _Optional[bytes] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("playground_id", "order_id")
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    order_id: int
    def __init__(self, playground_id: _Optional[str] = ..., order_id: _Optional[int] = ...) -> None: ...

class PushBarsRequest(_message.Message):
    __slots__ = ("candles",)
    CANDLES_FIELD_NUMBER: _ClassVar[int]
    candles: _containers.RepeatedCompositeFieldContainer[Candle]
    def __init__(self, candles: _Optional[_Iterable[_Union[Candle, _Mapping]]] = ...) -> None: ...

class PushBarsResponse(_message.Message):
    __slots__ = ("received",)
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    received: int
    def __init__(self, received: _Optional[int] = ...) -> None: ...

class GetBrokerHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BrokerHealth(_message.Message):
    __slots__ = ("account", "connected", "last_poll_time", "unresolved_intents", "position_difference", "opens_blocked", "reason")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    LAST_POLL_TIME_FIELD_NUMBER: _ClassVar[int]
    UNRESOLVED_INTENTS_FIELD_NUMBER: _ClassVar[int]
    POSITION_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    OPENS_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    account: str
    connected: bool
    last_poll_time: str
    unresolved_intents: int
    position_difference: bool
    opens_blocked: bool
    reason: str
    def __init__(self, account: _Optional[str] = ..., connected: _Optional[bool] = ..., last_poll_time: _Optional[str] = ..., unresolved_intents: _Optional[int] = ..., position_difference: _Optional[bool] = ..., opens_blocked: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class GetBrokerHealthResponse(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[BrokerHealth]
    def __init__(self, accounts: _Optional[_Iterable[_Union[BrokerHealth, _Mapping]]] = ...) -> None: ...

class SettleIntentRequest(_message.Message):
    __slots__ = ("reconcile_playground_id", "key", "note")
    RECONCILE_PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    reconcile_playground_id: str
    key: str
    note: str
    def __init__(self, reconcile_playground_id: _Optional[str] = ..., key: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class SessionCommand(_message.Message):
    __slots__ = ("request_id", "open", "advance", "place_order", "cancel_order", "get_account")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ADVANCE_FIELD_NUMBER: _ClassVar[int]
    PLACE_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    GET_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    open: SessionOpen
    advance: SessionAdvance
    place_order: PlaceOrderRequest
    cancel_order: CancelOrderRequest
    get_account: GetAccountRequest
    def __init__(self, request_id: _Optional[str] = ..., open: _Optional[_Union[SessionOpen, _Mapping]] = ..., advance: _Optional[_Union[SessionAdvance, _Mapping]] = ..., place_order: _Optional[_Union[PlaceOrderRequest, _Mapping]] = ..., cancel_order: _Optional[_Union[CancelOrderRequest, _Mapping]] = ..., get_account: _Optional[_Union[GetAccountRequest, _Mapping]] = ...) -> None: ...

class SessionOpen(_message.Message):
    __slots__ = ("playground_id",)
    PLAYGROUND_ID_FIELD_NUMBER: _ClassVar[int]
    playground_id: str
    def __init__(self, playground_id: _Optional[str] = ...) -> None: ...

class SessionAdvance(_message.Message):
    __slots__ = ("seconds", "max_ticks", "stop_periods", "with_accounts", "compact")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_TICKS_FIELD_NUMBER: _ClassVar[int]
    STOP_PERIODS_FIELD_NUMBER: _ClassVar[int]
    WITH_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    max_ticks: int
    stop_periods: _containers.RepeatedScalarFieldContainer[int]
    with_accounts: bool
    compact: bool
    def __init__(self, seconds: _Optional[int] = ..., max_ticks: _Optional[int] = ..., stop_periods: _Optional[_Iterable[int]] = ..., with_accounts: _Optional[bool] = ..., compact: _Optional[bool] = ...) -> None: ...

class SessionTicks(_message.Message):
    __slots__ = ("deltas", "accounts", "error", "quiet")
    DELTAS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    QUIET_FIELD_NUMBER: _ClassVar[int]
    deltas: _containers.RepeatedCompositeFieldContainer[TickDelta]
    accounts: _containers.RepeatedCompositeFieldContainer[GetAccountResponse]
    error: SessionError
    quiet: SessionQuietTicks
    def __init__(self, deltas: _Optional[_Iterable[_Union[TickDelta, _Mapping]]] = ..., accounts: _Optional[_Iterable[_Union[GetAccountResponse, _Mapping]]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ..., quiet: _Optional[_Union[SessionQuietTicks, _Mapping]] = ...) -> None: ...

class SessionQuietTicks(_message.Message):
    __slots__ = ("times", "candle_ticks", "candle_symbols", "candle_periods", "candle_starts", "open", "high", "low", "close", "volume", "account_ticks", "accounts", "candle_indices")
    TIMES_FIELD_NUMBER: _ClassVar[int]
    CANDLE_TICKS_FIELD_NUMBER: _ClassVar[int]
    CANDLE_SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    CANDLE_PERIODS_FIELD_NUMBER: _ClassVar[int]
    CANDLE_STARTS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TICKS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    CANDLE_INDICES_FIELD_NUMBER: _ClassVar[int]
    times: _containers.RepeatedScalarFieldContainer[int]
    candle_ticks: _containers.RepeatedScalarFieldContainer[int]
    candle_symbols: _containers.RepeatedScalarFieldContainer[str]
    candle_periods: _containers.RepeatedScalarFieldContainer[int]
    candle_starts: _containers.RepeatedScalarFieldContainer[int]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    account_ticks: _containers.RepeatedScalarFieldContainer[int]
    accounts: _containers.RepeatedCompositeFieldContainer[GetAccountResponse]
    candle_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, times: _Optional[_Iterable[int]] = ..., candle_ticks: _Optional[_Iterable[int]] = ..., candle_symbols: _Optional[_Iterable[str]] = ..., candle_periods: _Optional[_Iterable[int]] = ..., candle_starts: _Optional[_Iterable[int]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[float]] = ..., account_ticks: _Optional[_Iterable[int]] = ..., accounts: _Optional[_Iterable[_Union[GetAccountResponse, _Mapping]]] = ..., candle_indices: _Optional[_Iterable[int]] = ...) -> None: ...

class SessionError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SessionEvent(_message.Message):
    __slots__ = ("request_id", "opened", "ticks", "order", "account", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    opened: PlaygroundSession
    ticks: SessionTicks
    order: Order
    account: GetAccountResponse
    error: SessionError
    def __init__(self, request_id: _Optional[str] = ..., opened: _Optional[_Union[PlaygroundSession, _Mapping]] = ..., ticks: _Optional[_Union[SessionTicks, _Mapping]] = ..., order: _Optional[_Union[Order, _Mapping]] = ..., account: _Optional[_Union[GetAccountResponse, _Mapping]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ...) -> None: ...
