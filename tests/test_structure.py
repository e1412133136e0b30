"""The layout's rules, held by the test suite (docs/architecture.md says why each exists).

ruff and import-linter run as they would by hand; the other rules are walks of the code's syntax
trees and of its import graph (grimp, import-linter's own graph, which also sees imports made
inside functions)."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("backtestester", "actors")
GENERATED = ROOT / "backtestester" / "rpc"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# The compiled kernel: one numba function whose loop must stay whole to be compiled as one.
LONG_FUNCTIONS_ALLOWED = {("backtestester/fastpath/kernel.py", "simulate")}


def _python_files(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        files += [p for p in sorted((ROOT / folder).rglob("*.py"))
                  if GENERATED not in p.parents and ".venv" not in p.parts]
    return files


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else (shutil.which(name) or pytest.fail(f"{name} is not installed"))


def test_ruff_passes():
    run = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_import_linter_contracts_hold():
    run = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("folder", ["backtestester", "actors", "tests", "benchmarks", "scripts"])
def test_no_module_over_600_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in _python_files(folder)
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_80_lines():
    long = {}
    for path in _python_files("backtestester", "actors", "tests", "benchmarks", "scripts"):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and (rel, node.name) not in LONG_FUNCTIONS_ALLOWED:
                    long[f"{rel}:{node.lineno} {node.name}"] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_private_name_is_imported_from_another_module():
    """A name another module needs is public: ``from .x import _name`` hides a dependency."""
    found = []
    for path in _python_files("backtestester", "actors", "tests", "benchmarks", "scripts"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, path.name == "__init__.py", node)
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") and source != module:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {alias.name} from {source}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_no_import_circle(graph):
    """No two modules import each other, directly or through others (lazy imports included)."""
    order, state, circles = [], {}, []

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"
        order.append(module)

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in state:
            visit(module, [])
    # A package's __init__ re-exporting its own modules is not a circle between modules.
    real = [c for c in circles if not any(b.startswith(a + ".") or a.startswith(b + ".")
                                          for a, b in zip(c, c[1:]))]
    assert not real, "import circles:\n" + "\n".join(" -> ".join(c) for c in real)


def test_every_module_under_actors_is_a_shell():
    """actors/ holds only Ray and gRPC shells: each module reaches ray or grpc (itself, or through
    another actors module such as actors.cluster); a module that reaches neither is pure and
    belongs in backtestester/."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    modules = [m for m in sorted(graph.find_descendants("actors"))
               if not (ROOT / m.replace(".", "/") / "__init__.py").exists()]  # a package's __init__ is not a shell
    pure = [m for m in modules if not any(graph.chain_exists(importer=m, imported=shell) for shell in ("ray", "grpc"))]
    assert not pure, f"pure modules under actors/ (move them to backtestester/): {pure}"


def test_no_test_module_imports_another():
    """Shared test code lives in conftest.py files; a test module imports none of its siblings."""
    found = []
    for path in _python_files("tests"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, path.name == "__init__.py", node)
                names = [source] + [f"{source}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.split(".")[-1].startswith("test_") and name.startswith("tests.") for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "test modules importing test modules: " + ", ".join(found)
