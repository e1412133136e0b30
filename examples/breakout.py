"""An example strategy for the command line: ``--strategy examples.breakout:Breakout`` from the
repository's root (any module in the current directory is importable the same way)."""
from backtestester import Strategy
from backtestester.data.indicators import rolling_max, rolling_min


class Breakout(Strategy):
    """Long on a close at the highest high of the previous ``lookback`` bars, flat on a close at
    their lowest low; ``fraction`` of the uninvested cash per entry."""

    lookback: int = 20
    fraction: float = 1.0

    def validate(self):
        if self.lookback < 2:
            raise ValueError(f"Breakout.lookback must be >= 2, got {self.lookback}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"Breakout.fraction must be in (0, 1], got {self.fraction}")

    def on_candle(self, ctx, bar):
        high = ctx.indicator(bar.symbol, bar.period, rolling_max, self.lookback, source="high")
        low = ctx.indicator(bar.symbol, bar.period, rolling_min, self.lookback, source="low")
        held = ctx.position(bar.symbol).quantity
        if held == 0 and bar.close >= high[-2]:
            ctx.buy(bar.symbol, fraction=self.fraction)
        elif held > 0 and bar.close <= low[-2]:
            ctx.close(bar.symbol)
