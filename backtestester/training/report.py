"""What people look at after a training study: a leaderboard of its trials with in-sample and
out-of-sample scores side by side, the best trial's out-of-sample equity stitched across folds,
the optimisation history, the parameters' importances, the overfitting diagnostics and their
verdict, the holdout's scores, one self-contained HTML page beside the sweep's, and the best
configuration as a TOML file that ``backtest``, ``sweep`` and ``live`` read unchanged.

It reads a study result of the training contract (``spec``, ``outcomes``, ``best``, ``holdout``,
``diagnostics``, ``study_path``) by its attributes only, so the driver hands over what it has.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich import box
from rich.table import Table

from ..sweep.report import equity_figure, fmt, png_bytes
from .cpcv_check import cpcv_line
from .evaluate import objective_direction

# Where a trial stands: every fold done, stopped by the pruner, or its strategy raised.
STATES = ("complete", "pruned", "failed")
# The diagnostics shown (those the result has), in this order, with their labels: the verdict
# has its own line; the inputs are shown too (docs/training.md: what each means).
DIAGNOSTICS = (("psr", "PSR (probabilistic Sharpe ratio of the best)"), ("dsr", "DSR (deflated Sharpe ratio)"),
               ("sr0", "SR0 (expected maximum Sharpe of noise, per period)"),
               ("min_trl", "MinTRL (periods of track record needed)"),
               ("pbo", "PBO (probability of backtest overfitting)"), ("pbo_slope", "OOS vs IS degradation slope"),
               ("prob_oos_loss", "P(OOS loss) of the IS-best"), ("n_trials", "trials counted (N)"),
               ("trials_variance", "variance of the trials' Sharpes"), ("sharpe", "best's Sharpe (per period)"),
               ("periods", "best's OOS periods (T)"), ("skew", "skewness"), ("kurtosis", "kurtosis"))


def objectives(result) -> tuple[str, ...]:
    """The study's objectives (statistic names), the first being the one trials rank by."""
    return tuple(getattr(result.spec, "objectives", None) or ("sharpe",))


def trial_state(outcome, n_folds: int) -> str:
    """``complete``, ``pruned`` or ``failed``: the outcome's own ``state`` if it has one, else
    failed when it carries an error and pruned when it scored fewer folds than the study has."""
    state = getattr(outcome, "state", None)
    if state:
        return str(state).lower()
    if outcome.error:
        return "failed"
    return "pruned" if len(outcome.oos_scores) < n_folds else "complete"


def _mean(scores: list[dict], name: str) -> float:
    values = [s[name] for s in scores if name in s and s[name] is not None and not math.isnan(s[name])]
    return float(np.mean(values)) if values else math.nan


def _rank_key(record: dict, name: str):
    """Complete trials, then pruned ones (scored on their first folds only), then failed ones;
    within each the best mean out-of-sample ``name`` first, by the objective's direction
    (:func:`~backtestester.training.evaluate.objective_direction`: a higher Sharpe, a lower
    volatility; drawdowns are negative fractions, so the highest is the smallest)."""
    value = record.get(f"oos_{name}", math.nan)
    order = STATES.index(record["state"]) if record["state"] in STATES else len(STATES)
    sign = -1.0 if objective_direction(name) == "maximize" else 1.0
    return (order, math.isnan(value), sign * value if not math.isnan(value) else 0.0, record["number"])


def leaderboard_records(result) -> list[dict]:
    """One record per trial (every trial: complete, pruned and failed), best first: its number,
    state, parameters (JSON and one ``p_<name>`` each), folds scored, and per objective the mean
    in-sample (``is_<name>``) and out-of-sample (``oos_<name>``) score over its folds."""
    names = objectives(result)
    n_folds = max((len(o.oos_scores) for o in result.outcomes), default=0)
    records = []
    for o in result.outcomes:
        record = {"number": o.number, "state": trial_state(o, n_folds), "folds": len(o.oos_scores),
                  "params": json.dumps(o.params, sort_keys=True, default=str), "error": o.error}
        for name in names:
            record[f"is_{name}"] = _mean(o.is_scores, name)
            record[f"oos_{name}"] = _mean(o.oos_scores, name)
        record.update({f"p_{k}": v for k, v in o.params.items()})
        records.append(record)
    return sorted(records, key=lambda r: _rank_key(r, names[0]))


def _params_text(record: dict) -> str:
    params = json.loads(record["params"])
    text = " ".join(f"{k}={v}" for k, v in params.items())
    return text.replace(" ", "\n") if len(text) > 24 else text


def leaderboard_table(records: list[dict], names: tuple[str, ...], top: int = 10, title: str = "Trials"):
    """A rich Table of the ``top`` trials that fits 80 columns: trial number, parameters, state,
    then per objective (the first two) its in-sample and out-of-sample means side by side."""
    shown = names[:2]
    table = Table(title=f"{title} (by out-of-sample {names[0]})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("trial", justify="right")
    table.add_column("params", overflow="fold", ratio=1)
    table.add_column("state")
    for name in shown:
        for side in ("IS", "OOS"):
            table.add_column(f"{side} {name.replace('_', ' ')}" if len(shown) == 1 else side, justify="right",
                             no_wrap=True, style="bold" if side == "OOS" and name == names[0] else None)
    for i, r in enumerate(records[:top], 1):
        table.add_row(str(i), str(r["number"]), _params_text(r), r["state"],
                      *(fmt(name, r.get(f"{side}_{name}", math.nan), compact=True)
                        for name in shown for side in ("is", "oos")))
    return table


def stitched_oos(outcome) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-sample equity of one trial, growth of 1 compounded over every fold's returns in
    time order (folds sorted by their periods; a period seen by two folds, as in CPCV, counted
    once): ``(datetime64[ns] times, equity)``."""
    if not outcome.oos_returns:
        return np.array([], dtype="datetime64[ns]"), np.array([], dtype=float)
    times = np.concatenate([np.asarray(t, dtype=np.int64) for t in outcome.oos_times])
    returns = np.concatenate([np.asarray(r, dtype=float) for r in outcome.oos_returns])
    times, first = np.unique(times, return_index=True)
    return times.astype("datetime64[ns]"), np.cumprod(1.0 + returns[first])


def importances(result, study=None) -> dict[str, float]:
    """Each parameter's importance for the first objective, summing to 1, largest first.

    With an Optuna ``study`` at hand: ``optuna.importance.get_param_importances`` (fANOVA).
    Without: a simple measure over the complete trials, each parameter's absolute Spearman rank
    correlation with the out-of-sample score (for a categorical parameter the correlation ratio
    of the score over its values), normalised to sum 1. It sees monotone effects only."""
    if study is not None:
        import optuna  # noqa: PLC0415  (only when a study is handed over)

        return dict(optuna.importance.get_param_importances(study))
    name = objectives(result)[0]
    records = [r for r in leaderboard_records(result) if r["state"] == "complete" and not math.isnan(r[f"oos_{name}"])]
    if len(records) < 3:
        return {}
    score = np.array([r[f"oos_{name}"] for r in records])
    weights = {}
    for param in sorted({k for o in result.outcomes for k in o.params}):
        values = [json.loads(r["params"]).get(param) for r in records]
        weights[param] = _association(values, score)
    total = sum(weights.values())
    if total <= 0:
        return {}
    return dict(sorted(((k, v / total) for k, v in weights.items()), key=lambda kv: -kv[1]))


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    return ranks


def _association(values: list, score: np.ndarray) -> float:
    """|Spearman rho| of numeric values with the score; the correlation ratio for other values."""
    present = [i for i, v in enumerate(values) if v is not None]
    if len(present) < 3:
        return 0.0
    vals, s = [values[i] for i in present], score[present]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        a, b = _ranks(np.asarray(vals, dtype=float)), _ranks(s)
        if a.std() == 0 or b.std() == 0:
            return 0.0
        return float(abs(np.corrcoef(a, b)[0, 1]))
    groups = {}
    for v, x in zip(map(str, vals), s):
        groups.setdefault(v, []).append(x)
    spread = ((s - s.mean()) ** 2).sum()
    between = sum(len(g) * (np.mean(g) - s.mean()) ** 2 for g in groups.values())
    return float(math.sqrt(between / spread)) if spread > 0 else 0.0


def _pyplot():
    import matplotlib  # noqa: PLC0415  (matplotlib is slow to import: only when a report is drawn)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415  (only when a report is drawn)

    return plt


def oos_equity_figure(outcome):
    """The sweep's equity and drawdown figure of :func:`stitched_oos`, each fold's start dotted."""
    import matplotlib.dates as mdates  # noqa: PLC0415  (only when a report is drawn)

    times, equity = stitched_oos(outcome)
    fig = equity_figure([(f"trial {outcome.number}", times, equity)])
    starts = sorted(int(np.min(t)) for t in outcome.oos_times if len(t))
    for ax in fig.axes:
        for start in starts[1:]:
            ax.axvline(np.datetime64(start, "ns"), color="grey", linestyle=":", linewidth=1)
    locator = mdates.AutoDateLocator()
    fig.axes[-1].xaxis.set_major_locator(locator)
    fig.axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return fig


def history_figure(records: list[dict], name: str):
    """Each trial's mean out-of-sample ``name`` by trial number (pruned ones hollow) and the best so far."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    rows = sorted((r for r in records if r["state"] != "failed"), key=lambda r: r["number"])
    for state, style in (("complete", dict(color="tab:blue")), ("pruned", dict(facecolors="none", edgecolors="grey"))):
        chosen = [r for r in rows if r["state"] == state]
        ax.scatter([r["number"] for r in chosen], [r[f"oos_{name}"] for r in chosen], s=18, label=state, **style)
    done = [r for r in rows if r["state"] == "complete" and not math.isnan(r[f"oos_{name}"])]
    if done:
        ax.step([r["number"] for r in done], np.maximum.accumulate([r[f"oos_{name}"] for r in done]), where="post",
                color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"out-of-sample {name}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def importance_figure(weights: dict[str, float], measure: str):
    """A horizontal bar per parameter, the most important on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.4 * len(weights)), layout="constrained")
    names = list(weights)[::-1]
    ax.barh(names, [weights[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"importance ({measure})")
    ax.grid(alpha=0.3, axis="x")
    return fig


def cpcv_figure(record: dict):
    """A histogram of the CPCV paths' out-of-sample Sharpe ratios, zero and the mean marked."""
    plt = _pyplot()
    values = [v for v in record["sharpes"] if math.isfinite(v)]
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    ax.hist(values, bins=max(5, min(20, len(values))), color="tab:blue", edgecolor="white")
    ax.axvline(0.0, color="tab:red", linewidth=1, label="0")
    if values:
        ax.axvline(float(np.mean(values)), color="black", linestyle="--", linewidth=1, label="mean")
    ax.set_xlabel("out-of-sample Sharpe of a path")
    ax.set_ylabel("paths")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _figures(result, records: list[dict], out_dir: Path, study) -> tuple[dict, list]:
    """The PNGs (written beside the page) and ``(caption, bytes)`` to embed in it."""
    plt = _pyplot()
    name = objectives(result)[0]
    paths, images = {}, []
    drawn = []
    if result.best is not None and result.best.oos_returns:
        times, equity = stitched_oos(result.best)
        drawn.append(("equity", f"Out-of-sample equity of trial {result.best.number}, stitched across folds "
                                "(dotted: where a fold starts)", oos_equity_figure(result.best)))
    if any(r["state"] != "failed" for r in records):
        drawn.append(("history", "Optimisation history", history_figure(records, name)))
    weights = importances(result, study)
    if weights:
        measure = "Optuna fANOVA" if study is not None else "|Spearman rho| with the OOS score, normalised"
        drawn.append(("importance", f"Parameter importance ({measure})", importance_figure(weights, measure)))
    record = getattr(result, "cpcv", None) or {}
    if record.get("sharpes"):
        drawn.append(("cpcv", f"CPCV {record['groups']}:{record['test_groups']}: out-of-sample Sharpe of the best's "
                              f"{record['n_paths']} paths", cpcv_figure(record)))
    for key, caption, fig in drawn:
        data = png_bytes(fig)
        plt.close(fig)
        paths[key] = out_dir / f"{key}.png"
        paths[key].write_bytes(data)
        images.append((caption, data))
    return paths, images


def print_summary(result, paths: dict, console, top: int = 10) -> None:
    """The leaderboard, the census, the verdict, the holdout and where the report is, on ``console``."""
    records = leaderboard_records(result)
    console.print(leaderboard_table(records, objectives(result), top))
    console.print(f"{len(records)} trials: {census(records)}", highlight=False)
    verdict = (result.diagnostics or {}).get("verdict")
    if verdict:
        console.print(f"[bold]verdict:[/] {verdict}", highlight=False)
    if cpcv_line(getattr(result, "cpcv", None)):
        console.print(cpcv_line(result.cpcv), highlight=False)
    if holdout_scores(result.holdout):
        console.print("holdout (once): " + ", ".join(f"{k} {fmt(k, v)}" for k, v in holdout_scores(result.holdout).items()),
                      highlight=False)
    for name in ("best_config", "html"):
        if name in paths:
            console.print(f"{name.replace('_', ' ')}: {paths[name]}", highlight=False)


def census(records: list[dict]) -> str:
    """``8 complete, 1 pruned, 1 failed``."""
    return ", ".join(f"{sum(r['state'] == s for r in records)} {s}" for s in STATES)


def holdout_scores(holdout: dict | None) -> dict:
    """The best trial's scores on the holdout: the driver's record's ``oos_scores`` (it also
    keeps the trial's number, parameters, bars and in-sample scores), or a flat ``{name: value}``."""
    if not holdout:
        return {}
    if "oos_scores" in holdout:
        return dict(holdout["oos_scores"] or {})
    return {k: v for k, v in holdout.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _diagnostics_html(result) -> str:
    diag = result.diagnostics or {}
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{fmt(key, diag[key])}</td></tr>"
                   for key, label in DIAGNOSTICS if key in diag)
    verdict = diag.get("verdict")
    text = f"<p class='verdict'><b>Verdict:</b> {html.escape(str(verdict))}</p>" if verdict else ""
    holdout = ""
    scores = holdout_scores(result.holdout)
    if scores:
        cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(k, v)}</td></tr>" for k, v in scores.items())
        error = (result.holdout or {}).get("error")
        failed = f"<pre>{html.escape(str(error))}</pre>" if error else ""
        holdout = f"<h2>Holdout (the lockbox, evaluated once, best trial)</h2><table>{cells}</table>{failed}"
    return f"<h2>Overfitting diagnostics</h2>{text}<table>{rows}</table>{_cpcv_html(result)}{holdout}"


# The CPCV record's fields shown, with their labels (docs/training/validation.md).
CPCV_FIELDS = (("n_paths", "paths"), ("mean", "mean Sharpe"), ("std", "std of the Sharpes"), ("min", "min Sharpe"),
               ("p5", "5th percentile"), ("share_losing", "share of paths with Sharpe <= 0"))


def _cpcv_value(key: str, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return str(value) if key == "n_paths" else f"{value:.0%}" if key == "share_losing" else f"{value:.2f}"


def _cpcv_html(result) -> str:
    record = getattr(result, "cpcv", None) or {}
    if not record:
        return ""
    head = f"<h2>CPCV of the best (search bars {record.get('bars', ['', ''])[0]}..{record.get('bars', ['', ''])[1]}, " \
           f"a diagnostic)</h2>" if "groups" in record else "<h2>CPCV</h2>"
    if "n_paths" not in record:
        error = f"<pre>{html.escape(str(record['error']))}</pre>" if record.get("error") else ""
        return f"{head}<p>{html.escape(cpcv_line(record))}</p>{error}"
    cells = "".join(f"<tr><th>{html.escape(label)}</th><td>{_cpcv_value(key, record[key])}</td></tr>"
                    for key, label in CPCV_FIELDS)
    return f"{head}<p>{html.escape(cpcv_line(record))}</p><table>{cells}</table>"


def _leaderboard_html(records: list[dict], names: tuple[str, ...], top: int = 25) -> str:
    head = "".join(f"<th>IS {html.escape(n)}</th><th>OOS {html.escape(n)}</th>" for n in names)
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>".format(
            i, r["number"], html.escape(" ".join(f"{k}={v}" for k, v in json.loads(r["params"]).items())), r["state"],
            "".join(f"<td>{fmt(n, r[f'is_{n}'])}</td><td>{fmt(n, r[f'oos_{n}'])}</td>" for n in names))
        for i, r in enumerate(records[:top], 1))
    return f"<table><tr><th>#</th><th>trial</th><th>params</th><th>state</th>{head}</tr>{rows}</table>"


def write_leaderboard(records: list[dict], path: Path) -> Path:
    """The leaderboard as parquet, one row per trial; a parameter column of mixed kinds is text."""
    columns = {}
    for key in dict.fromkeys(k for r in records for k in r):
        values = [r.get(key) for r in records]
        kinds = {type(v) for v in values if v is not None}
        if key.startswith("p_") and len(kinds) > 1 and not kinds <= {int, float}:
            values = [None if v is None else str(v) for v in values]
        columns[key] = values
    pq.write_table(pa.table(columns), path)
    return path


def write_report(result, out_dir, *, study=None, top: int = 25) -> dict[str, Path]:
    """Write the study's report into ``out_dir``: ``leaderboard.parquet``, ``best.toml`` (the best
    trial's configuration), ``equity.png``, ``history.png``, ``importance.png`` and
    ``report.html`` (all of it on one page). ``study``: the Optuna study, for its fANOVA
    importances. Returns ``{name: path}`` of what was written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = leaderboard_records(result)
    names = objectives(result)
    paths = {"leaderboard": write_leaderboard(records, out_dir / "leaderboard.parquet")}
    if result.best is not None:
        paths["best_config"] = write_best_config(result, out_dir / "best.toml")
    figure_paths, images = _figures(result, records, out_dir, study)
    paths.update(figure_paths)
    title = f"{getattr(result.spec, 'study_name', None) or result.spec.strategy} training"
    best = (f" Best: trial {result.best.number}, {html.escape(_params_line(result.best.params))}."
            if result.best is not None else "")
    figures = "".join(f"<h2>{html.escape(caption)}</h2><img src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
                      for caption, data in images)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}}td:nth-child(3){{text-align:left}}img{{max-width:100%}}
.verdict{{font-size:1.2em}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{len(records)} trials: {census(records)}; ranked by mean out-of-sample
<b>{html.escape(names[0])}</b> over the folds.{best} Study journal: {html.escape(str(result.study_path))}.</p>
{_diagnostics_html(result)}<h2>Trials</h2>{_leaderboard_html(records, names)}
{figures}</body></html>"""
    paths["html"] = out_dir / "report.html"
    paths["html"].write_text(page)
    return paths


def _params_line(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _toml_value(value) -> str:
    """A TOML value of a string, bool, number or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"a parameter value must be a string, bool, number or a list of them to go into a TOML "
                     f"file, got {value!r} ({type(value).__name__})")


# The run options of a study's spec (its ``options``) <- the keys of the run file (docs/sweeps.md).
_RUN_KEYS = (("balance", "balance"), ("fill_model", "fill_model"), ("commission_rate", "commission"),
             ("slippage_rate", "slippage"), ("calendar", "calendar"), ("engine", "engine"))


def write_best_config(result, path) -> Path:
    """The best trial's configuration as a run file (the sweep's TOML keys): the strategy, its
    symbols and timeframe, the study's run options and ``[fixed]`` the best parameters. Read
    unchanged by ``backtest --config``, ``live --config`` and ``sweep --config`` (one run, or a
    sweep around the best with ``--grid``)."""
    spec, best = result.spec, result.best
    options = dict(getattr(spec, "options", None) or {})
    score = ", ".join(f"{n} {fmt(n, v)}" for n, v in zip(objectives(result), best.score))
    lines = [f"# The best trial ({best.number}) of training study {getattr(spec, 'study_name', None) or '-'}: "
             f"mean out-of-sample {score}.",
             "# backtestester backtest --config best.toml | live --config best.toml --gateway HOST:PORT | "
             "sweep --config best.toml [--grid ...]",
             f"strategy = {_toml_value(spec.strategy)}",
             f"symbols = {_toml_value(list(spec.symbols))}",
             f"timeframe = {_toml_value(spec.timeframe)}",
             f"metric = {_toml_value(objectives(result)[0])}"]
    for option, key in _RUN_KEYS:
        value = options.get(option, getattr(spec, option, None))
        if key == "calendar" and option in options and value is None:
            value = "none"  # 24/7, as the options spell it
        if value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    lines.append("")
    lines.append("[fixed]")
    params = {**(getattr(spec, "fixed", None) or {}), **best.params}
    lines.extend(f"{name} = {_toml_value(value)}" for name, value in params.items())
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
