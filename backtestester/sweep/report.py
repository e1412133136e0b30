"""What people look at after a sweep: its outcome, a leaderboard, equity/drawdown plots of the
best runs, a heatmap of two-parameter grids, and one self-contained HTML page with all of it."""
from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from ..data.catalog import Catalog
from .config import SweepSpec
from .execute import execute_run

LEADERBOARD_COLUMNS = ("final_equity", "total_return", "sharpe", "sortino", "max_drawdown", "calmar", "trade_count",
                       "win_rate", "profit_factor", "exposure")
CONSOLE_COLUMNS = ("final_equity", "total_return", "sharpe", "max_drawdown", "trade_count", "win_rate")


def params_text(record: dict) -> str:
    """``fast=10 slow=100`` from a record's JSON parameters."""
    return " ".join(f"{k}={v}" for k, v in json.loads(record["params"]).items())
PERCENT = {"total_return", "buy_and_hold_return", "annualized_return", "volatility", "alpha", "max_drawdown",
           "win_rate", "avg_trade_return", "geometric_trade_return", "best_trade", "worst_trade", "exposure"}
MONEY = {"initial_equity", "final_equity", "peak_equity"}
# Column headers of the console leaderboard: short, so that it fits 80 columns.
SHORT_HEADERS = {"final_equity": "equity", "total_return": "return", "annualized_return": "CAGR",
                 "max_drawdown": "max DD", "trade_count": "trades", "win_rate": "win", "profit_factor": "PF",
                 "expectancy": "expect.", "exposure": "exposure", "volatility": "vol."}


def ranked(records: list[dict], metric: str) -> list[dict]:
    """Successful records, best ``metric`` first (NaN last; ``max_drawdown`` ranks by closeness to 0)."""
    ok = [r for r in records if r.get("status") == "ok"]

    def key(r):
        v = r.get(metric, math.nan)
        return (math.isnan(v), -v if not math.isnan(v) else 0.0)

    return sorted(ok, key=key)


def fmt(name: str, value, digits: int = 1, compact: bool = False) -> str:
    """A statistic for people: fractions as percentages, counts as integers, NaN and None as
    ``-``, durations to the second, instants (UTC) to the minute.
    ``compact``: at most about 7 characters (``1.24M`` equity, ``1.2k`` ratios, ``+1.2k%``)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if abs(value) >= 1e12 / (100 if name in PERCENT else 1):  # astronomically large: 3.16e+48
            return f"{value * (100 if name in PERCENT else 1):.3g}" + ("%" if name in PERCENT else "")
        if name in PERCENT:
            if compact and abs(value) >= 100:
                return f"{_short(value * 100)}%"
            return f"{value:.{digits}%}"
        if name == "trade_count":
            return f"{int(value)}"
        if compact and abs(value) >= 1e6 or (compact and name not in MONEY and abs(value) >= 1e4):
            return _short(value)
        if name in MONEY:
            return f"{value:,.{2 if digits >= 2 else 0}f}"
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.3f}"
    if value is None:
        return "-"
    if isinstance(value, timedelta):  # whole seconds: "52 days, 0:45:00"
        return str(timedelta(seconds=round(value.total_seconds())))
    if isinstance(value, datetime):   # the statistics' instants are UTC
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    return str(value)


def _short(value: float) -> str:
    """``1.24M``, ``12.3k``, ``4.5G``: three significant digits and an SI suffix."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:.{max(0, 2 - int(math.log10(abs(scaled))))}f}{suffix}"
    return f"{value:.0f}"


def leaderboard_table(records: list[dict], metric: str, top: int = 10, title: str = "Leaderboard"):
    """A rich Table of the ``top`` runs by ``metric`` that fits 80 columns: short headers, compact
    numbers, the parameters wrapped (one per line when they do not fit)."""
    columns = CONSOLE_COLUMNS if metric in CONSOLE_COLUMNS else (metric, *CONSOLE_COLUMNS[:-1])
    table = Table(title=f"{title} (by {metric})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("params", overflow="fold", ratio=1)
    for col in columns:
        table.add_column(SHORT_HEADERS.get(col, col.replace("_", " ")), justify="right", no_wrap=True,
                         style="bold" if col == metric else None)
    for i, r in enumerate(ranked(records, metric)[:top], 1):
        table.add_row(str(i), params_text(r).replace(" ", "\n") if len(params_text(r)) > 24 else params_text(r),
                      *(fmt(c, r.get(c, math.nan), compact=True) for c in columns))
    return table


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (the sweep's and the training's reports embed and write them)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # the figures lay themselves out (constrained): one draw
    return buf.getvalue()


# Buckets a curve is cut into for a figure (:func:`envelope`): more than the figure's pixels
# across, so a curve of a million points looks the same drawn from at most twice this many.
FIGURE_POINTS = 2_000


def envelope(values: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of ``values`` to draw: the lowest and the highest point of each of ``buckets``
    consecutive slices (in time order, the first and last points kept), or all of them if there
    are no more than ``2 * buckets``. The drawn line keeps every peak and trough a pixel shows."""
    n = len(values)
    if n <= 2 * buckets:
        return np.arange(n)
    width = -(-n // buckets)
    padded = np.concatenate([values, np.full(width * buckets - n, values[-1])]).reshape(buckets, width)
    offsets = np.arange(buckets) * width
    extremes = np.concatenate([offsets + padded.argmin(axis=1), offsets + padded.argmax(axis=1)])
    return np.unique(np.concatenate([[0, n - 1], np.minimum(extremes, n - 1)]))


def equity_figure(curves: list[tuple[str, np.ndarray, np.ndarray]]):
    """Equity (top) and drawdown (bottom) of each ``(label, times, equity)``."""
    import matplotlib  # noqa: PLC0415  (matplotlib is slow to import: only when a report is drawn)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  (only when a report is drawn)

    fig, (ax_eq, ax_dd) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(3, 1),
                                       layout="constrained")
    for label, times, equity in curves:
        drawdown = equity / np.maximum.accumulate(equity) - 1
        shown = envelope(equity, FIGURE_POINTS)
        ax_eq.plot(times[shown], equity[shown], label=label, linewidth=1)
        shown = envelope(drawdown, FIGURE_POINTS)
        ax_dd.plot(times[shown], drawdown[shown], linewidth=0.8)
    ax_eq.set_ylabel("equity")
    ax_eq.legend(fontsize=8, loc="upper left")
    ax_eq.grid(alpha=0.3)
    ax_dd.set_ylabel("drawdown")
    ax_dd.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax_dd.grid(alpha=0.3)
    return fig


def heatmap_figure(records: list[dict], x: str, y: str, metric: str):
    """``metric`` over a two-parameter grid (cells without a successful run are blank)."""
    import matplotlib  # noqa: PLC0415  (matplotlib is slow to import: only when a report is drawn)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  (only when a report is drawn)

    ok = [r for r in records if r.get("status") == "ok"]
    xs = sorted({r[f"p_{x}"] for r in ok})
    ys = sorted({r[f"p_{y}"] for r in ok})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in ok:
        grid[ys.index(r[f"p_{y}"]), xs.index(r[f"p_{x}"])] = r.get(metric, np.nan)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.6 * len(xs)), max(3.5, 1.5 + 0.45 * len(ys))),
                           layout="constrained")
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=90)
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    annotate_cells(ax, grid, metric)
    ax.set_title(f"{metric} by {x} and {y} (best outlined)")
    fig.colorbar(image, ax=ax)
    return fig


def annotate_cells(ax, grid: np.ndarray, metric: str) -> None:
    """Each cell's value written in it (small grids), and the best cell (the highest, as
    :func:`ranked` ranks) outlined in red."""
    import matplotlib.patches as patches  # noqa: PLC0415  (only when a report is drawn)

    finite = grid[np.isfinite(grid)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if grid.size <= 400:
        size = 8 if grid.shape[1] <= 12 else 6
        for (row, col), value in np.ndenumerate(grid):
            if np.isfinite(value):
                dark = hi > lo and (value - lo) / (hi - lo) < 0.6
                # Inside the axes, so out of the constrained layout: laying out 400 texts cost
                # more than drawing them (the image is the same).
                ax.text(col, row, fmt(metric, float(value)), ha="center", va="center", fontsize=size,
                        color="white" if dark else "black", in_layout=False)
    row, col = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
    ax.add_patch(patches.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))


def write_report(out_dir: Path, records: list[dict], metric: str, curves, grid_params: list[str],
                 title: str, charts: dict[str, Path] | None = None) -> dict[str, Path]:
    """Write ``equity.png``, ``heatmap.png`` (two-parameter grids) and ``report.html``, whose
    leaderboard links each run of ``charts`` (``{config_id: path}``) to its chart."""
    import matplotlib.pyplot as plt  # noqa: PLC0415  (only when a report is drawn)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, images = {}, []
    if curves:
        fig = equity_figure(curves)
        data = png_bytes(fig)
        plt.close(fig)
        paths["equity"] = out_dir / "equity.png"
        paths["equity"].write_bytes(data)
        images.append(("Equity and drawdown of the best runs", data))
    numeric = all(isinstance(r.get(f"p_{p}"), (int, float)) and not isinstance(r.get(f"p_{p}"), bool)
                  for r in records for p in grid_params)
    if len(grid_params) == 2 and numeric and any(r.get("status") == "ok" for r in records):
        fig = heatmap_figure(records, grid_params[0], grid_params[1], metric)
        data = png_bytes(fig)
        plt.close(fig)
        paths["heatmap"] = out_dir / "heatmap.png"
        paths["heatmap"].write_bytes(data)
        images.append((f"{metric} heatmap", data))
    rows = "".join(
        "<tr><td>{}</td><td>{}</td>{}</tr>".format(
            i, chart_link(r, charts or {}, out_dir),
            "".join(f"<td>{fmt(c, r.get(c, math.nan))}</td>" for c in LEADERBOARD_COLUMNS))
        for i, r in enumerate(ranked(records, metric)[:25], 1))
    failed = sum(r.get("status") != "ok" for r in records)
    figures = "".join(f"<h2>{html.escape(caption)}</h2><img src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
                      for caption, data in images)
    linked = f" The first {len(charts)} rows link to their runs' interactive charts." if charts else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}}td:nth-child(2){{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{len(records)} runs, {failed} failed; ranked by <b>{metric}</b>.{linked}</p>
<table><tr><th>#</th><th>params</th>{''.join(f'<th>{c}</th>' for c in LEADERBOARD_COLUMNS)}</tr>{rows}</table>
{figures}</body></html>"""
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(page)
    return paths


def chart_link(record: dict, charts: dict[str, Path], out_dir: Path) -> str:
    """A leaderboard row's parameters, linked to the run's chart (relative to the report) if it has one."""
    text = html.escape(params_text(record))
    chart = charts.get(record.get("config_id"))
    if chart is None:
        return text
    href = html.escape(Path(chart).resolve().relative_to(Path(out_dir).resolve()).as_posix(), quote=True)
    return f"<a href='{href}' title='interactive chart of this run'>{text}</a>"


@dataclass
class SweepOutcome:
    """What a sweep returns: its records (this sweep's configs only), where they are, the counts."""

    records: list[dict]
    out_dir: Path
    ran: int
    skipped: int
    failed: int
    interrupted: bool
    elapsed_s: float
    reports: dict

    def best(self, metric: str) -> dict | None:
        top = ranked(self.records, metric)
        return top[0] if top else None


NODE_ID_SHOWN = 8  # hex digits of a Ray node id in the nodes line (the results' ``node`` column has it whole)


def nodes_line(records: list[dict]) -> str | None:
    """Which Ray nodes ran the ``records`` and how many runs each, most first, in one line:
    ``ran on 2 nodes: 3f2a1b0c... 120, 9c0d4e5f... 80``; None when no record names its node."""
    counts: dict[str, int] = {}
    for record in records:
        if record.get("node"):
            counts[record["node"]] = counts.get(record["node"], 0) + 1
    if not counts:
        return None
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return (f"ran on {len(counts)} node{'s' if len(counts) != 1 else ''}: "
            + ", ".join(f"{node[:NODE_ID_SHOWN]}... {n}" for node, n in order))


def print_leaderboard(outcome: SweepOutcome, metric: str, console=None, top: int = 10) -> None:
    """The leaderboard, the counts, the Ray nodes that ran them (:func:`nodes_line`) and where the
    results and the report are, on ``console``."""
    console = console or Console()
    console.print(leaderboard_table(outcome.records, metric, top))
    console.print(f"{outcome.ran} runs in {outcome.elapsed_s:.1f} s ({outcome.skipped} already done, "
                  f"{outcome.failed} failed); results: {outcome.out_dir / 'results.parquet'}")
    nodes = nodes_line(outcome.records)
    if nodes:
        console.print(nodes, highlight=False, soft_wrap=True)
    if "html" in outcome.reports:
        console.print(f"report: {outcome.reports['html']}")


@dataclass
class ChartedRun:
    """One of a sweep's best runs drawn again for its report (runs are deterministic): its
    leaderboard label, its equity curve and its interactive chart page (``chart``; None for a
    fast-path run of a strategy with no event form, which the event engine cannot draw)."""

    config_id: str
    label: str
    equity_times: np.ndarray
    equity: np.ndarray
    chart: str | None


def best_configs(records: list[dict], configs: list, metric: str, top: int) -> list:
    """The configs of the ``top`` best ``records`` by ``metric`` (:func:`ranked`), best first."""
    by_id = {c.config_id: c for c in configs}
    return [by_id[r["config_id"]] for r in ranked(records, metric)[:top] if r["config_id"] in by_id]


def chart_run(config, tables: dict) -> ChartedRun | None:
    """``config`` run again on ``tables`` (``{(SYMBOL, timeframe): table}``) and drawn: the sweep's
    actors chart its best runs with it, or the driver when no actor is left (None if the run fails
    now). A fast-path run's chart is the event engine's run of the same config."""
    from ..strategy.plotting import chart_page  # noqa: PLC0415  (Bokeh is slow to import: only when a chart is drawn)

    run = execute_run(config, tables, keep_result=True)
    if run["status"] != "ok":
        return None
    result = chartable = run["_result"]
    if not hasattr(chartable, "plot"):
        event = execute_run(replace(config, engine="event"), tables, keep_result=True)
        chartable = event["_result"] if event["status"] == "ok" else None
    page = chart_page(chartable) if chartable is not None else None
    return ChartedRun(config.config_id, params_text(run), result.equity_times, result.equity, page)


def report_tables(spec: SweepSpec, data_dir, tables: dict | None) -> dict:
    """The tables a sweep's report redraws its best runs on: those handed in, the others read
    from the catalog at ``data_dir``; keys ``(SYMBOL, timeframe)``."""
    data = {(s.upper(), tf): t for (s, tf), t in (tables or {}).items()}
    missing = [s for s in spec.symbols if (s.upper(), spec.timeframe) not in data]
    if missing:
        catalog = Catalog(data_dir)
        for s in missing:
            data[(s.upper(), spec.timeframe)] = catalog.load(s, spec.timeframe, calendar=spec.calendar)
    return data


def write_sweep_report(out_dir: Path, records: list[dict], configs: list, spec: SweepSpec, data_dir,
                       tables: dict | None, top: int, charted: list | None = None) -> dict[str, Path]:
    """:func:`write_report` of a finished sweep: the ``top`` runs' curves and charts (each
    leaderboard row of those links to its chart at ``runs/<config_id>.html``), a heatmap if the
    grid has two parameters. ``charted``: those runs' :class:`ChartedRun` s, best first, drawn
    already (by the sweep's actors); else the driver draws them here."""
    from ..strategy.plotting import write_page  # noqa: PLC0415  (the plotting module imports no Bokeh at import)

    if charted is None:
        best = best_configs(records, configs, spec.metric, top)
        data = report_tables(spec, data_dir, tables) if best else {}
        charted = [run for run in (chart_run(config, data) for config in best) if run is not None]
    curves = [(run.label, run.equity_times, run.equity) for run in charted]
    charts = {run.config_id: write_page(Path(out_dir) / "runs" / f"{run.config_id}.html", run.chart)
              for run in charted if run.chart is not None}
    return write_report(out_dir, records, spec.metric, curves, list(spec.grid) if len(spec.grid) == 2 else [],
                        f"{spec.strategy} sweep", charts=charts)
