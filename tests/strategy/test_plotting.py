"""The interactive chart of a backtest (``result.plot()``, ``backtest --plot``): the HTML page holds
one Bokeh document with the expected panes, and the marks match the run's trades."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from bokeh.models import Title

from actors.cli import main
from backtestester.data.synthetic import generate_bars
from backtestester.engine import Repository
from backtestester.strategy import SmaCross, Strategy, run_backtest
from backtestester.strategy.plotting import build_chart

from ..conftest import MINUTE, minute_repository


class Scripted(Strategy):
    """Long at candle 5, closed at 15 (a profit on a rising series), short at 25, covered at 35 (a
    loss: prices still rise), long again at 45 and left open: two closed trades, three entries."""

    def on_start(self, ctx):
        self.seen = 0

    def on_candle(self, ctx, bar):
        self.seen += 1
        actions = {5: lambda: ctx.buy(bar.symbol, 10), 15: lambda: ctx.sell(bar.symbol, 10),
                   25: lambda: ctx.sell_short(bar.symbol, 10), 35: lambda: ctx.buy_to_cover(bar.symbol, 10),
                   45: lambda: ctx.buy(bar.symbol, 5)}
        if self.seen in actions:
            actions[self.seen]()


@pytest.fixture(scope="module")
def scripted():
    repo = minute_repository([100.0 + i for i in range(60)], symbol="AAPL")
    return run_backtest(Scripted(), [repo], calendar=None)


def embedded_document(html: str) -> dict:
    """The Bokeh document embedded in a page written by ``file_html``."""
    scripts = re.findall(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', html, re.S)
    assert len(scripts) == 1, "one embedded Bokeh document"
    (doc,) = json.loads(scripts[0]).values()
    return doc


def objects(node, kind: str):
    """Every serialised Bokeh model of type ``kind`` in ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == kind:
            yield node
        for value in node.values():
            yield from objects(value, kind)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value, kind)


def column_length(column) -> int:
    if isinstance(column, dict) and column.get("type") == "ndarray":
        return int(np.prod(column["shape"]))
    return len(column)


def source_sizes(doc: dict) -> dict[str, int]:
    """``{name: rows}`` of the document's named data sources."""
    sizes = {}
    for source in objects(doc, "ColumnDataSource"):
        attributes = source.get("attributes", {})
        if attributes.get("name"):
            entries = attributes["data"]["entries"]
            sizes[attributes["name"]] = column_length(entries[0][1]) if entries else 0
    return sizes


def test_the_chart_marks_exactly_the_runs_entries_and_exits(scripted):
    assert len(scripted.round_trips) == 2
    assert [r.side for r in scripted.round_trips] == ["long", "short"]
    layout = build_chart(repositories=scripted.repositories, equity_times=scripted.equity_times,
                         equity=scripted.equity, round_trips=scripted.round_trips, orders=scripted.orders)
    entries = layout.select_one({"name": "entries:AAPL"}).data
    exits = layout.select_one({"name": "exits:AAPL"}).data
    assert len(entries["x"]) == 3 and len(exits["x"]) == 2
    assert entries["state"] == ["closed", "closed", "open"]
    assert entries["marker"] == ["triangle", "inverted_triangle", "triangle"]
    # Coloured by profit: the long made money on the rising series, the short lost.
    assert exits["color"][0] != exits["color"][1] and exits["pnl"][0] > 0 > exits["pnl"][1]
    # Each mark sits on the candle the fill priced: the fill's price is that candle's close or the next open.
    candles = layout.select_one({"name": "candles:AAPL"}).data
    close_at = dict(zip(candles["x"], candles["close"]))
    for x, price in zip(exits["x"], exits["price"]):
        assert price in (close_at[x], close_at.get(x + 1))
    assert len(candles["x"]) == 60


def test_plot_writes_one_bokeh_document_with_the_panes(scripted, tmp_path):
    path = scripted.plot(tmp_path / "chart.html")
    assert path == tmp_path / "chart.html" and path.exists()
    html = path.read_text()
    assert "Bokeh" in html and "Scripted" in html
    doc = embedded_document(html)
    figures = list(objects(doc, "Figure"))
    # equity, drawdown, trade returns, AAPL candles, AAPL volume: one x range for all.
    assert len(figures) == 5
    x_ranges = {json.dumps(f["attributes"]["x_range"], sort_keys=True) for f in figures}
    assert len(x_ranges) == 1 or all("id" in f["attributes"]["x_range"] for f in figures[1:])
    titles = [t["attributes"].get("text", "") for t in objects(doc, "Title")]
    assert any(t.startswith("Scripted") and "2 closed trades" in t for t in titles)
    assert any(t.startswith("AAPL") for t in titles)
    sizes = source_sizes(doc)
    assert sizes["entries:AAPL"] == 3 and sizes["exits:AAPL"] == 2 and sizes["pnl"] == 2
    assert sizes["candles:AAPL"] == 60
    assert len(list(objects(doc, "HoverTool"))) >= 6
    glyphs = {g["name"] for r in objects(doc, "GlyphRenderer") for g in [r["attributes"]["glyph"]]}
    assert {"VBar", "Segment", "Scatter", "Line", "VArea"} <= glyphs


def test_each_symbol_has_its_candle_and_volume_panes_and_its_own_marks():
    aapl = minute_repository([100.0 + i for i in range(60)], symbol="AAPL")
    msft = minute_repository([300.0 - i for i in range(60)], symbol="MSFT")
    result = run_backtest(Scripted(), [aapl, msft], calendar=None)  # trades the symbol of each hook's bar
    layout = build_chart(repositories=result.repositories, equity_times=result.equity_times, equity=result.equity,
                         round_trips=result.round_trips, orders=result.orders)
    for symbol in ("AAPL", "MSFT"):
        closed = [r for r in result.round_trips if r.symbol == symbol]
        assert len(layout.select_one({"name": f"exits:{symbol}"}).data["x"]) == len(closed)
        assert len(layout.select_one({"name": f"candles:{symbol}"}).data["x"]) == 60
    assert len(layout.select_one({"name": "pnl"}).data["x"]) == len(result.round_trips) > 0


def test_without_bars_the_chart_keeps_every_equity_point_and_says_how_to_add_them(scripted):
    layout = build_chart(repositories=[], equity_times=scripted.equity_times, equity=scripted.equity,
                         round_trips=scripted.round_trips, orders=scripted.orders, title="gateway run")
    assert len(layout.select_one({"name": "equity"}).data["x"]) == len(np.unique(scripted.equity_times))
    assert layout.select_one({"name": "candles:AAPL"}) is None
    assert any("no bars to draw" in t.text for t in layout.select({"type": Title}))


def test_long_series_are_aggregated_and_the_title_says_so(tmp_path):
    table = generate_bars("SYNTH", timeframe="1m", n_bars=25_000, seed=3, calendar=None)
    repo = Repository.from_table("SYNTH", MINUTE, table)
    result = run_backtest(SmaCross(fast=20, slow=80), [repo], calendar=None)
    layout = build_chart(repositories=result.repositories, equity_times=result.equity_times, equity=result.equity,
                         round_trips=result.round_trips, orders=result.orders, title="t", max_candles=10_000)
    candles = layout.select_one({"name": "candles:SYNTH"}).data
    assert len(candles["x"]) == 8_334  # 3 bars a candle
    assert candles["high"][0] == repo.high[:3].max() and candles["low"][0] == repo.low[:3].min()
    assert candles["open"][0] == repo.open[0] and candles["close"][0] == repo.close[2]
    assert float(np.sum(candles["volume"])) == pytest.approx(float(repo.volume.sum()))
    assert len(layout.select_one({"name": "exits:SYNTH"}).data["x"]) == len(result.round_trips) > 0
    assert len(layout.select_one({"name": "equity"}).data["x"]) <= 8_334
    titles = [t.text for t in layout.select({"type": Title})]
    assert any("3 bars aggregated into one (25,000 bars shown as 8,334)" in t for t in titles)


def test_backtest_plot_flag_writes_the_chart_and_says_where(tmp_path, capsys):
    path = tmp_path / "run.html"
    assert main(["backtest", "--bars", "2000", "--calendar", "none", "--plot", str(path)]) == 0
    assert f"chart: {path}" in capsys.readouterr().out.replace("\n", "")
    doc = embedded_document(path.read_text())
    assert source_sizes(doc)["candles:SYNTH"] == 2000

