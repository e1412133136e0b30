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
