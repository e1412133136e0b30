"""The interactive chart of one backtest (as backtesting.py's): one self-contained HTML page drawn
with Bokeh, with linked x axes: equity, drawdown, each closed trade's return, then per symbol its
candles (entries and exits marked, coloured by profit) and its volume; hover tooltips everywhere.

The x axis counts candles (no gaps for nights and weekends); its labels are the candles' start
times (UTC). Series longer than ``max_candles`` are aggregated, ``k`` consecutive candles into one,
and the chart's title says so. Bokeh is imported only when a chart is drawn.
"""
from __future__ import annotations

import math
import webbrowser
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

MAX_CANDLES = 10_000
PROFIT, LOSS, OPEN = "#2e9e44", "#d62728", "#1f77b4"
UP, DOWN = "#26a69a", "#ef5350"
DAY_NS = 86_400_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Axis:
    """The shared x axis: candle ``i`` of any shown symbol starts at ``starts[i]`` and is seen from
    ``seen[i]`` on; ``k`` candles are aggregated into one x position."""

    starts: np.ndarray
    seen: np.ndarray
    k: int

    def of(self, times_ns) -> np.ndarray:
        """x of each time: the latest candle seen at that time (the first before any is)."""
        x = np.searchsorted(self.seen, np.asarray(times_ns, dtype=np.int64), side="right") - 1
        return np.maximum(x, 0) // self.k

    @property
    def size(self) -> int:
        return (len(self.starts) + self.k - 1) // self.k

    def labels(self, period_ns: int) -> list[str]:
        unit = "D" if period_ns >= DAY_NS else "m"
        stamps = np.datetime_as_string(self.starts[:: self.k].astype("datetime64[ns]"), unit=unit)
        return [str(s).replace("T", " ") for s in stamps]


def shown_repositories(repositories, symbols=None) -> list:
    """Per symbol (those of ``symbols`` if given), the repository of its smallest timeframe."""
    best = {}
    for repo in repositories:
        if symbols is not None and repo.symbol not in symbols:
            continue
        if repo.symbol not in best or repo.period_ns < best[repo.symbol].period_ns:
            best[repo.symbol] = repo
    return list(best.values())


def window(repo, t0: int, t1: int) -> slice:
    """The candles seen during the run ``[t0, t1]``."""
    seen = repo.available_ns
    return slice(int(np.searchsorted(seen, t0, "right")), int(np.searchsorted(seen, t1, "right")))


def shared_axis(repos, times: np.ndarray, max_candles: int) -> Axis:
    """The candles of ``repos`` seen between the first and the last of ``times`` (the equity's), in
    start order; without candles (a gateway run without its bars) the equity's own times."""
    t0, t1 = int(times[0]), int(times[-1])
    starts = np.concatenate([r.start_ns[window(r, t0, t1)] for r in repos] or [np.zeros(0, np.int64)])
    seen = np.concatenate([r.available_ns[window(r, t0, t1)] for r in repos] or [np.zeros(0, np.int64)])
    order = np.argsort(starts, kind="stable")
    starts, seen = starts[order], seen[order]
    keep = np.concatenate([[True], np.diff(starts) > 0]) if len(starts) else np.zeros(0, bool)
    starts, seen = starts[keep], np.maximum.accumulate(seen[keep]) if keep.any() else seen[keep]
    if len(starts) == 0:
        starts = seen = np.unique(times)
    return Axis(starts, seen, max(1, math.ceil(len(starts) / max_candles)))


def candle_columns(repo, axis: Axis, t0: int, t1: int) -> dict:
    """The repository's candles on ``axis``, ``axis.k`` at a time aggregated (open of the first,
    highest high, lowest low, close of the last, summed volume)."""
    w = window(repo, t0, t1)
    x = np.searchsorted(axis.starts, repo.start_ns[w]) // axis.k
    first = np.flatnonzero(np.concatenate([[True], np.diff(x) > 0])) if len(x) else np.zeros(0, int)
    last = np.concatenate([first[1:], [len(x)]]) - 1
    o, h, lo, c, v = (a[w] for a in (repo.open, repo.high, repo.low, repo.close, repo.volume))
    cols = dict(x=x[first], open=o[first], close=c[last], high=np.maximum.reduceat(h, first) if len(x) else h,
                low=np.minimum.reduceat(lo, first) if len(x) else lo, volume=np.add.reduceat(v, first) if len(x) else v)
    cols["color"] = np.where(cols["close"] >= cols["open"], UP, DOWN)
    return cols


def trade_columns(round_trips, open_lots, axis: Axis, symbol: str) -> tuple[dict, dict]:
    """Entries (closed and open lots) and exits (closed lots) of ``symbol`` on ``axis``."""
    closed = [r for r in round_trips if r.symbol == symbol]
    lots = [lot for lot in open_lots if lot["symbol"] == symbol]

    def ns(t):  # exact: datetimes hold microseconds
        return (t - EPOCH) // timedelta(microseconds=1) * 1000

    def ret(side, entry, exit_):
        return (exit_ / entry - 1) * (1 if side == "long" else -1) if entry else math.nan

    entries = dict(
        x=axis.of([ns(r.entry_time) for r in closed] + [lot["time_ns"] for lot in lots]),
        price=[r.entry_price for r in closed] + [lot["price"] for lot in lots],
        side=[r.side for r in closed] + [lot["side"] for lot in lots],
        quantity=[r.quantity for r in closed] + [lot["quantity"] for lot in lots],
        pnl=[r.pnl for r in closed] + [lot["pnl"] for lot in lots],
        state=["closed"] * len(closed) + ["open"] * len(lots),
        marker=["triangle" if s == "long" else "inverted_triangle"
                for s in [r.side for r in closed] + [lot["side"] for lot in lots]],
    )
    entries["color"] = [PROFIT if p > 0 else LOSS for p in entries["pnl"][: len(closed)]] + [OPEN] * len(lots)
    exits = dict(x=axis.of([ns(r.exit_time) for r in closed]), price=[r.exit_price for r in closed],
                 entry_x=entries["x"][: len(closed)], entry_price=entries["price"][: len(closed)],
                 side=[r.side for r in closed], pnl=[r.pnl for r in closed],
                 ret=[ret(r.side, r.entry_price, r.exit_price) * 100 for r in closed],
                 color=[PROFIT if r.pnl > 0 else LOSS for r in closed])
    return entries, exits


def open_lots_of(orders, last_price: dict) -> list[dict]:
    """The lots still open at the end: ``{symbol, side, time_ns, price, quantity, pnl}`` (unrealised)."""
    lots = []
    for lot in orders:
        if lot.side not in ("buy", "sell_short") or not lot.trades:
            continue
        left = lot.filled_quantity - sum(abs(p.quantity) for p in lot.closed_by)
        if left > 1e-9:
            side = "long" if lot.side == "buy" else "short"
            last = last_price.get(lot.symbol, lot.avg_fill_price)
            pnl = (last - lot.avg_fill_price) * left * (1 if side == "long" else -1)
            lots.append(dict(symbol=lot.symbol, side=side, time_ns=lot.trades[0].time_ns, price=lot.avg_fill_price,
                             quantity=left, pnl=pnl))
    return lots


def equity_columns(times: np.ndarray, equity: np.ndarray, axis: Axis) -> dict:
    """Equity (the last of each x) and drawdown (the deepest of each x) on ``axis``."""
    equity = np.asarray(equity, dtype=np.float64)
    x = axis.of(np.asarray(times).astype("datetime64[ns]").astype(np.int64))
    drawdown = equity / np.maximum.accumulate(equity) - 1 if len(equity) else equity
    last = np.flatnonzero(np.concatenate([np.diff(x) > 0, [True]])) if len(x) else np.zeros(0, int)
    first = np.concatenate([[0], last[:-1] + 1]) if len(x) else last
    return dict(x=x[last], equity=equity[last], drawdown=np.minimum.reduceat(drawdown, first) * 100 if len(x) else x)


def build_chart(*, repositories, equity_times, equity, round_trips, orders=(), title: str = "backtest",
                max_candles: int = MAX_CANDLES):
    """The Bokeh layout of one backtest (see the module's docstring). ``repositories``: the bars to
    draw (each symbol's smallest timeframe is shown); ``orders`` give the lots still open."""
    from bokeh.layouts import gridplot  # noqa: PLC0415  (Bokeh is slow to import: only when a chart is drawn)

    times = np.asarray(equity_times).astype("datetime64[ns]").astype(np.int64)
    t0, t1 = int(times[0]), int(times[-1])
    repos = shown_repositories(repositories)
    axis = shared_axis(repos, times, max_candles)
    labels = axis.labels(min((r.period_ns for r in repos), default=DAY_NS))
    last_price = {r.symbol: float(r.close[window(r, t0, t1)][-1]) for r in repos if len(r.close[window(r, t0, t1)])}
    lots = open_lots_of(orders, last_price)
    n_bars = len(axis.starts)
    note = (f"; candles: {axis.k} bars aggregated into one ({n_bars:,} bars shown as {axis.size:,})"
            if axis.k > 1 else "" if repos else "; no bars to draw (give plot() the repositories)")
    panes = equity_panes(equity_columns(times, equity, axis), labels, f"{title}{note}")
    panes.append(pnl_pane(round_trips, axis, labels, panes[0].x_range))
    for repo in repos:
        entries, exits = trade_columns(round_trips, lots, axis, repo.symbol)
        panes += candle_panes(repo, candle_columns(repo, axis, t0, t1), entries, exits, labels, panes[0].x_range)
    for pane in panes[:-1]:
        pane.xaxis.visible = False
    return gridplot([[p] for p in panes], sizing_mode="stretch_width", toolbar_location="right",
                    merge_tools=True)


def new_figure(labels, height: int, title: str | None = None, x_range=None, y_label: str = "", y_format: str = "0,0.[00]"):
    """A pane on the shared candle axis, labelled with the candles' dates; ``y_format`` a Numeral.js format."""
    from bokeh.models import CustomJSTickFormatter, NumeralTickFormatter  # noqa: PLC0415  (only when a chart is drawn)
    from bokeh.plotting import figure  # noqa: PLC0415  (only when a chart is drawn)

    options = dict(x_range=x_range) if x_range is not None else {}
    fig = figure(height=height, title=title, tools="xpan,xwheel_zoom,box_zoom,undo,redo,reset,save",
                 active_scroll="xwheel_zoom", sizing_mode="stretch_width", y_axis_label=y_label, **options)
    fig.xaxis.formatter = CustomJSTickFormatter(args=dict(labels=labels),
                                                code="return labels[Math.round(tick)] || '';")
    fig.yaxis.formatter = NumeralTickFormatter(format=y_format)
    if height < 150:
        fig.yaxis.ticker.desired_num_ticks = 3
    fig.min_border_left = 70
    return fig


def equity_panes(cols: dict, labels, title: str) -> list:
    """Equity (peak, final and the deepest drawdown marked) and drawdown panes."""
    from bokeh.models import ColumnDataSource, HoverTool  # noqa: PLC0415  (only when a chart is drawn)

    cols = dict(cols, date=[labels[i] for i in cols["x"]])
    source = ColumnDataSource(cols, name="equity")
    eq = new_figure(labels, 180, title, y_label="equity", y_format="0,0")
    line = eq.line("x", "equity", source=source, line_width=1.5, color="#1f77b4", legend_label="equity")
    eq.add_tools(HoverTool(renderers=[line], mode="vline", tooltips=[("date", "@date"), ("equity", "@equity{0,0.00}")]))
    if len(cols["x"]):
        peak, low = int(np.argmax(cols["equity"])), int(np.argmin(cols["drawdown"]))
        for i, color, label in ((peak, "#17becf", f"peak {cols['equity'][peak]:,.0f}"),
                                (len(cols["x"]) - 1, "#1f77b4", f"final {cols['equity'][-1]:,.0f}"),
                                (low, LOSS, f"max drawdown {cols['drawdown'][low]:.1f}%")):
            eq.scatter([cols["x"][i]], [cols["equity"][i]], color=color, size=8, legend_label=label)
    style_legend(eq)
    dd = new_figure(labels, 90, x_range=eq.x_range, y_label="drawdown %")
    area = dd.varea("x", y1=0, y2="drawdown", source=source, fill_color=LOSS, fill_alpha=0.4)
    dd.add_tools(HoverTool(renderers=[area], mode="vline", tooltips=[("date", "@date"), ("drawdown", "@drawdown{0.00}%")]))
    return [eq, dd]


def pnl_pane(round_trips, axis: Axis, labels, x_range):
    """Each closed trade's return at its exit, triangles up for long, down for short."""
    from bokeh.models import ColumnDataSource, HoverTool  # noqa: PLC0415  (only when a chart is drawn)

    cols = {"x": [], "ret": [], "pnl": [], "side": [], "color": [], "marker": [], "symbol": []}
    for symbol in sorted({r.symbol for r in round_trips}):
        _, ex = trade_columns(round_trips, [], axis, symbol)
        cols["x"] += list(ex["x"])
        cols["ret"] += ex["ret"]
        cols["pnl"] += ex["pnl"]
        cols["side"] += ex["side"]
        cols["color"] += ex["color"]
        cols["marker"] += ["triangle" if s == "long" else "inverted_triangle" for s in ex["side"]]
        cols["symbol"] += [symbol] * len(ex["side"])
    cols["date"] = [labels[i] for i in cols["x"]]
    fig = new_figure(labels, 110, x_range=x_range, y_label="trade return %")
    fig.line([0, max(axis.size - 1, 1)], [0, 0], color="#999999", line_dash="dotted")
    dots = fig.scatter("x", "ret", source=ColumnDataSource(cols, name="pnl"), marker="marker", color="color", size=9,
                       line_color="black", line_width=0.5)
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("exit", "@date"), ("symbol", "@symbol"), ("side", "@side"),
                                                        ("return", "@ret{0.00}%"), ("P/L", "@pnl{0,0.00}")]))
    return fig


def candle_panes(repo, cols: dict, entries: dict, exits: dict, labels, x_range) -> list:
    """The symbol's candles with its entries (triangles), exits (circles) and the line joining
    each closed trade's entry and exit, then its volume."""
    from bokeh.models import ColumnDataSource, HoverTool  # noqa: PLC0415  (only when a chart is drawn)

    sym = repo.symbol
    cols = dict(cols, date=[labels[i] for i in cols["x"]])
    source = ColumnDataSource(cols, name=f"candles:{sym}")
    fig = new_figure(labels, 340, f"{sym} ({len(cols['x']):,} candles)", x_range=x_range, y_label="price")
    fig.segment("x", "high", "x", "low", source=source, color="color")
    bars = fig.vbar("x", 0.8, "open", "close", source=source, fill_color="color", line_color="color")
    fig.add_tools(HoverTool(renderers=[bars], mode="vline", tooltips=[
        ("date", "@date"), ("open", "@open{0,0.00}"), ("high", "@high{0,0.00}"), ("low", "@low{0,0.00}"),
        ("close", "@close{0,0.00}"), ("volume", "@volume{0,0}")]))
    exits = dict(exits, date=[labels[i] for i in exits["x"]])
    entries = dict(entries, date=[labels[i] for i in entries["x"]])
    fig.segment("entry_x", "entry_price", "x", "price", source=ColumnDataSource(exits), color="color", line_width=2,
                line_dash="dashed")
    ins = fig.scatter("x", "price", source=ColumnDataSource(entries, name=f"entries:{sym}"), marker="marker",
                      fill_color="color", line_color="black", size=12, legend_label="entry")
    outs = fig.scatter("x", "price", source=ColumnDataSource(exits, name=f"exits:{sym}"), marker="circle",
                       fill_color="color", line_color="black", size=9, legend_label="exit")
    fig.add_tools(HoverTool(renderers=[ins], tooltips=[("entry", "@date"), ("side", "@side"), ("price", "@price{0,0.00}"),
                                                       ("quantity", "@quantity{0,0.[00]}"), ("trade", "@state"),
                                                       ("P/L", "@pnl{0,0.00}")]))
    fig.add_tools(HoverTool(renderers=[outs], tooltips=[("exit", "@date"), ("side", "@side"), ("price", "@price{0,0.00}"),
                                                        ("return", "@ret{0.00}%"), ("P/L", "@pnl{0,0.00}")]))
    style_legend(fig)
    vol = new_figure(labels, 90, x_range=x_range, y_label="volume", y_format="0.[0]a")
    v = vol.vbar("x", 0.8, "volume", source=source, fill_color="color", line_color="color", alpha=0.6)
    vol.add_tools(HoverTool(renderers=[v], mode="vline", tooltips=[("date", "@date"), ("volume", "@volume{0,0}")]))
    return [fig, vol]


def style_legend(fig) -> None:
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "8pt"
    fig.legend.background_fill_alpha = 0.6
    fig.legend.padding = 4
    fig.legend.spacing = 0
    fig.legend.click_policy = "hide"


def chart_page(result, *, repositories=None, max_candles: int = MAX_CANDLES) -> str:
    """The chart of a :class:`~backtestester.strategy.runner.BacktestResult` as one self-contained
    HTML page (Bokeh's JavaScript inline: works offline), as text: what :func:`plot_result` writes.
    A sweep's actors draw their best runs' charts with it and hand the pages to the driver."""
    from bokeh.embed import file_html  # noqa: PLC0415  (only when a chart is drawn)
    from bokeh.resources import INLINE  # noqa: PLC0415  (only when a chart is drawn)

    repositories = result.repositories if repositories is None else list(repositories)
    params = " ".join(f"{k}={v}" for k, v in result.params.items())
    title = f"{result.strategy} {params}".strip() + f": {len(result.round_trips)} closed trades"
    layout = build_chart(repositories=repositories, equity_times=result.equity_times, equity=result.equity,
                         round_trips=result.round_trips, orders=result.orders, title=title, max_candles=max_candles)
    return file_html(layout, INLINE, title)


def plot_result(result, path=None, *, repositories=None, open_browser: bool = False,
                max_candles: int = MAX_CANDLES) -> Path:
    """Write the chart of a :class:`~backtestester.strategy.runner.BacktestResult` to ``path``
    (default ``<strategy>.html`` in the current directory) and return the path."""
    page = chart_page(result, repositories=repositories, max_candles=max_candles)
    return write_page(path if path is not None else f"{result.strategy}.html", page, open_browser)


def write_page(path, page: str, open_browser: bool = False) -> Path:
    """Write an HTML ``page`` to ``path`` (its directory made if missing); open it if asked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    if open_browser:
        webbrowser.open(path.resolve().as_uri())
    return path
