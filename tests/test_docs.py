"""Every code block of README.md and docs/**/*.md runs as written.

Per Markdown file, in a fresh temporary directory laid out as a clone's root after `make demo`
(`.venv` and `examples/` link to the repository's; `data/` is a copy of ``catalog``), the
blocks run in the file's order: ``python`` blocks are exec'd in one namespace shared by the file's
blocks, ``sh`` blocks run under bash (``-e``, venv's bin first on PATH, as with the venv
activated). A running gateway is there for the blocks that talk to one (``127.0.0.1:5051`` is
replaced by its OS-chosen address, ``http://127.0.0.1:5052`` by its Twirp base URL); it trades
live as the docs' ``serve`` line says (:data:`DOCS_LIVE`), and Ray for the blocks that say "inside a Ray session".

Nothing is skipped silently:
- a block that cannot run here has ``<!-- not run: REASON -->`` on the line before its fence;
  they are listed in ``NOT_RUN`` below and the test fails if the two differ;
- ``text`` and ``proto`` blocks are shown, not run (layouts, excerpts of the contract); ``toml``
  blocks are shown and must parse;
- a long-running block runs with smaller sizes through ``SUBSTITUTIONS``, each with its reason;
  a substitution that no longer matches fails the test.
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from backtestester.data.catalog import Catalog
from backtestester.data.synthetic import generate_bars

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
NOT_RUN_MARK = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
RUN = {"python", "sh"}
SHOWN = {"text", "proto", "toml"}  # toml blocks are parsed (test_toml_blocks_parse)
GATEWAY = "127.0.0.1:5051"
TWIRP = "http://127.0.0.1:5052"  # the docs' Twirp base URL, replaced by the gateway's

# (file, first line of the block): why it cannot run here. Keep this short.
NOT_RUN = {
    ("README.md", "make demo   # creates .venv, installs, generates sample data, sweeps the reference SMA crossover on an embedded Ray"),
    ("README.md", ".venv/bin/backtestester serve --data-dir data                          # loopback, no token needed"),
    ("README.md", "ansible-playbook -i inventory.ini playbooks/site.yml   # add --ask-vault-pass when group_vars hold a vault"),
    ("README.md", ".venv/bin/backtestester serve --data-dir data --replay-start 2024-01-02 --replay-symbols AAPL --replay-speed 60"),
    ("docs/live.md", "backtestester serve --data-dir data --replay-start 2024-01-02 --replay-symbols AAPL --replay-speed 60"),
    ("docs/live.md", "export TRADIER_TOKEN=...            # the sandbox account's token"),
    ("docs/live/tradier.md", "import os"),
    ("docs/live/alpaca.md", "import os"),
    ("docs/live/alpaca.md", "backtestester serve --data-dir data --live-broker alpaca --alpaca-config alpaca.toml \\"),
    ("docs/live/polygon.md", "export POLYGON_API_KEY=..."),
    ("docs/live/polygon.md", "backtestester data import flatfiles/us_stocks_sip/minute_aggs_v1/2024/01/*.csv.gz --tickers AAPL MSFT"),
    ("docs/gateway.md", "backtestester serve --data-dir data                      # 127.0.0.1:5051, plaintext, no token"),
    ("docs/gateway.md", "from actors.gateway.server import serve"),
    ("docs/gateway.md", "backtestester serve --data-dir data --port 5052 --twirp-port 5051   # gRPC on 5052, Twirp on 5051"),
    ("docs/gateway.md", "sudo systemctl stop backtestester-gateway"),
    ("docs/provisioning.md", "ansible-playbook -i inventory.ini playbooks/site.yml            # add --ask-vault-pass with a vault"),
    ("docs/provisioning.md", "sudo systemctl stop backtestester-gateway"),
    ("docs/provisioning.md", "sudo -iu backtestester ray status     # on the head: the nodes and their CPUs"),
    ("docs/provisioning.md", "ansible-playbook -i inventory.ini playbooks/site.yml --tags gateway --ask-vault-pass   # the gateway host"),
    ("docs/wire.md", "make protos            # = .venv/bin/python scripts/gen_protos.py"),
}

# (file, text, replacement, why): smaller sizes for blocks that take long as written.
SUBSTITUTIONS = [
    ("README.md", "n_bars=100_000", "n_bars=5_000", "the ten-line example's 100,000 bars take ~10 s; 5,000 show the same"),
    ("README.md", "--bars 500000", "--bars 5000", "a half-million-bar backtest (~1 min) and synthesis of 2 x 500,000 bars"),
]


def check_readme(ns: dict, root: Path) -> None:
    """The examples backtested (the chart example last); the SweepPool example ran two sweeps on one pool, wrote
    their reports where it says and ended its actors with the ``with`` block."""
    assert ns["result"].final_equity > 0 and len(ns["result"].equity) > 100  # the chart example re-binds result to a shorter run
    assert ns["outcome"].ran == 6 and ns["outcome"].failed == 0
    assert (root / "reports/slow-60/results.parquet").exists() and (root / "reports/slow-180/report.html").exists()
    assert ns["pool"].hosts == []
    assert (root / "goog.csv").stat().st_size > 0


def check_strategies(ns: dict, root: Path) -> None:
    """The guide's strategies traded; the oversized order was refused, not raised."""
    assert ns["result"].orders and ns["pairs"].round_trips and ns["counting"].refused


# What each file's blocks must have done, beyond running without an error.
CHECKS = {"README.md": check_readme, "docs/strategies.md": check_strategies}


def blocks(name: str) -> list[dict]:
    """The fenced blocks of ``name``: language, body, first line, and the not-run reason if marked."""
    text = (ROOT / name).read_text()
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = NOT_RUN_MARK.search(before)
        body = m.group("body")
        found.append({"lang": m.group("lang"), "body": body, "first": body.split("\n", 1)[0],
                      "line": text[:m.start()].count("\n") + 1, "not_run": marked and marked.group("reason")})
    return found


def substituted(name: str, body: str) -> str:
    for file, old, new, _ in SUBSTITUTIONS:
        if file == name:
            body = body.replace(old, new)
    return body


def test_every_block_is_run_shown_or_marked():
    """Every fence has a language; a block not run is marked and listed; substitutions match."""
    marked, unlabelled = set(), []
    for name in FILES:
        for b in blocks(name):
            if b["not_run"]:
                marked.add((name, b["first"]))
            elif b["lang"] not in RUN | SHOWN:
                unlabelled.append(f"{name}:{b['line']} ```{b['lang']}")
    assert not unlabelled, f"blocks that are neither run nor shown (label them python, sh, text, proto or toml): {unlabelled}"
    assert marked == NOT_RUN, f"marked not run but not listed: {marked - NOT_RUN}; listed but not marked: {NOT_RUN - marked}"
    for file, old, _, _ in SUBSTITUTIONS:
        assert any(old in b["body"] for b in blocks(file)), f"substitution {old!r} matches nothing in {file}"


def test_toml_blocks_parse():
    """A TOML block shown in the docs is valid TOML (a user copies it into a file)."""
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    toml = [(name, b) for name in FILES for b in blocks(name) if b["lang"] == "toml"]
    assert toml, "no toml block found"
    for name, b in toml:
        tomllib.loads(b["body"])


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The catalog every file's ``data/`` links to: what `make demo` and the docs' examples read
    (SYNTH 1m over 2020-01 to 2020-03, as `make demo` writes it but shorter; AAPL 1m over the
    first days of 2024, the gateway examples' window)."""
    path = tmp_path_factory.mktemp("catalog")
    cat = Catalog(path)
    cat.write("SYNTH", "1m", generate_bars("SYNTH", timeframe="1m", start="2020-01-02", end="2020-04-01", seed=7))
    cat.write("AAPL", "1m", generate_bars("AAPL", timeframe="1m", start="2024-01-02", end="2024-01-06", seed=0))
    return path


#: The live flags of the docs' ``serve`` line (README.md, docs/live.md), as the gateway's LiveConfig.
DOCS_LIVE = dict(replay_start="2024-01-02", replay_symbols=("AAPL",), replay_speed=60.0)


@pytest.fixture(scope="module")
def gateway(ray_cluster, catalog, tmp_path_factory):
    """``(gRPC address, Twirp base URL)`` of a gateway on OS-chosen ports serving a copy of
    ``catalog`` and trading live on its replay (:data:`DOCS_LIVE`); stopped at the end."""
    from actors.gateway.live import LiveConfig
    from actors.gateway.server import spawn

    data = tmp_path_factory.mktemp("gateway") / "data"
    shutil.copytree(catalog, data)  # its own copy: the live desk writes its files there
    gw = spawn(str(data), name="docs-gateway", live=LiveConfig(**DOCS_LIVE).validate())
    try:
        address = ray_cluster.get(gw.start.remote("127.0.0.1", 0, 0), timeout=60)
        yield address, ray_cluster.get(gw.twirp_address.remote(), timeout=60)
    finally:
        try:
            ray_cluster.get(gw.stop.remote(0.5), timeout=30)
        finally:
            ray_cluster.kill(gw)


@contextmanager
def clone_root(tmp_path, catalog):
    """``tmp_path`` as a clone's root after `make demo`, and the current directory meanwhile."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    shutil.copytree(catalog, tmp_path / "data")  # a copy: blocks write into it
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def run_sh(body: str, cwd: Path, where: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BACKTESTESTER_DATA", "RAY_ADDRESS", "PYTHONPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-e", "-c", body], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("name", FILES)
def test_blocks_run_as_written(name, tmp_path, catalog, gateway, monkeypatch):
    runnable = [b for b in blocks(name) if b["lang"] in RUN and not b["not_run"]]
    if not runnable:
        assert all(b["lang"] in SHOWN or b["not_run"] for b in blocks(name))
        return
    for var in ("BACKTESTESTER_DATA", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    namespace = {"__name__": "__docs__"}
    with clone_root(tmp_path, catalog) as root:
        for b in runnable:
            body = substituted(name, b["body"]).replace(GATEWAY, gateway[0]).replace(TWIRP, gateway[1])
            where = f"{name}:{b['line']}"
            if b["lang"] == "python":
                exec(compile(body, where, "exec"), namespace)
            else:
                run_sh(body, root, where)
        if name in CHECKS:
            CHECKS[name](namespace, root)
