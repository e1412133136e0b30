"""The README's Python example runs as written."""
import re
from pathlib import Path


def test_readme_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    first_block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    namespace = {}
    exec(compile(first_block.replace("n_bars=100_000", "n_bars=5_000"), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.final_equity > 0 and len(result.equity) > 1000


def test_readme_sweep_pool_example_runs(ray_cluster, tmp_path, monkeypatch):
    """The SweepPool example: two sweeps on one pool, reports where it says."""
    from backtestester.data.synthetic import generate_bars

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "SweepPool" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {"tables": {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=5_000, seed=3)}}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["outcome"].ran == 6 and namespace["outcome"].failed == 0
    assert (tmp_path / "reports/slow-60/results.parquet").exists()
    assert (tmp_path / "reports/slow-180/report.html").exists()
    assert namespace["pool"].hosts == []  # the with block ended the actors
