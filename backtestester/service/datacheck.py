"""Has a saved playground's data changed under it? SavePlayground records, in the saved config
(``data_fingerprints``), each repository's bars as the playground used them: the number of bars,
the first and last bar start and :func:`~backtestester.data.fingerprint.table_fingerprint` of
them; a restore compares first, so that a changed catalog is reported as exactly that (which
symbol and timeframe, what was there then and what is there now) instead of as a replay
divergence. A playground saved without fingerprints (by an older gateway) is not checked.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from backtestester.data.fingerprint import table_fingerprint
from backtestester.engine import PlaygroundError, Repository
from backtestester.playgrounds import simulator_playground

KEY = "data_fingerprints"  # in the saved config


def fingerprint(repo: Repository, timeframe: str) -> dict:
    """What a repository's bars are: symbol, timeframe, bars, first/last bar start (ns), hash."""
    table = pa.table({"start": repo.start_ns, "open": repo.open, "high": repo.high, "low": repo.low,
                      "close": repo.close, "volume": repo.volume})
    n = len(repo)
    return {"symbol": repo.symbol, "timeframe": timeframe, "bars": n,
            "first_ns": int(repo.start_ns[0]) if n else None, "last_ns": int(repo.start_ns[-1]) if n else None,
            "hash": table_fingerprint(table)}


def fingerprints(repos, config: dict) -> list[dict]:
    """The fingerprints of a playground's repositories (in ``config["repositories"]``' order)."""
    return [fingerprint(repo, spec["timeframe"]) for repo, spec in zip(repos, config["repositories"])]


def changed(config: dict, data_dir: str, repos=None) -> str | None:
    """``None`` if the catalog still has the bars the saved ``config`` records (or it records
    none), else what changed, in words. ``repos``: the playground's repositories as just built
    from the catalog, or ``None`` when building it failed (then each is loaded on its own)."""
    saved = config.get(KEY)
    if not saved:
        return None
    for i, (then, spec) in enumerate(zip(saved, config["repositories"])):
        now = fingerprint(repos[i], then["timeframe"]) if repos is not None else _load(config, spec, data_dir)
        if now is None or now["hash"] != then["hash"]:
            before, after = _describe(then), _describe(now)
            what = f"{before} then and now, with other values" if before == after else f"{before} then, {after} now"
            return f"the catalog's {then['symbol']} {then['timeframe']} bars changed since it was saved ({what})"
    return None


def _load(config: dict, spec: dict, data_dir: str) -> dict | None:
    """The fingerprint of one repository as the catalog has it now; ``None`` if it has no bars."""
    try:
        pg = simulator_playground(data_dir, [(spec["symbol"], spec["timeframe"], spec["history_in_days"])],
                                  start_date=config["start_date"], stop_date=config["stop_date"],
                                  balance=config["balance"], calendar=config.get("calendar", "XNYS"))
    except (LookupError, OSError, ValueError, PlaygroundError):  # DataNotFoundError is a LookupError
        return None
    return fingerprint(pg.repositories[0], spec["timeframe"])


def _describe(fp: dict | None) -> str:
    if fp is None or not fp["bars"]:
        return "0"
    days = (datetime.fromtimestamp(fp[k] / 1e9, timezone.utc).date().isoformat() for k in ("first_ns", "last_ns"))
    return f"{fp['bars']:,} bars {'..'.join(days)}"
