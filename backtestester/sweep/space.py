"""Parameter spaces: grids (``fast=5:50:5``, ``mode=a,b``), random samples, and constraints
such as ``"fast < slow"`` (safe expressions over parameter names: comparisons, arithmetic,
``and``/``or``/``not``)."""
from __future__ import annotations

import ast
import itertools
import operator

import numpy as np


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_value(text: str):
    """A parameter value from text: an int, else a float, else ``true``/``false`` (any case) as a
    bool, else the text itself."""
    try:
        return _number(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_grid_arg(text: str) -> tuple[str, list]:
    """``name=start:stop:step`` (stop included) or ``name=v1,v2,...`` -> (name, values)."""
    if "=" not in text:
        raise ValueError(f"grid parameters are NAME=START:STOP:STEP or NAME=V1,V2,..., got {text!r}")
    name, spec = (part.strip() for part in text.split("=", 1))
    if not name.isidentifier():
        raise ValueError(f"grid parameter name must be an identifier, got {name!r}")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValueError(f"range for {name} must be START:STOP:STEP, got {spec!r}")
        try:
            start, stop, step = (_number(p) for p in parts)
        except ValueError:
            raise ValueError(f"range for {name} must be numbers, got {spec!r}") from None
        if step <= 0 or stop < start:
            raise ValueError(f"range for {name} needs STEP > 0 and STOP >= START, got {spec!r}")
        count = int(round((stop - start) / step)) + 1
        values = [start + i * step for i in range(count) if start + i * step <= stop + 1e-12]
        if all(isinstance(v, int) for v in (start, stop, step)):
            values = [int(v) for v in values]
        return name, values
    values = [parse_value(item.strip()) for item in spec.split(",")]
    if not values or values == [""]:
        raise ValueError(f"grid for {name} has no values")
    return name, values


_OPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Eq: operator.eq,
        ast.NotEq: operator.ne, ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Mod: operator.mod, ast.USub: operator.neg}


def compile_constraint(text: str):
    """A predicate over a parameter dict from an expression like ``"fast < slow"``."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"constraint {text!r} is not a valid expression: {exc.msg}") from None

    def ev(node, params):
        if isinstance(node, ast.Expression):
            return ev(node.body, params)
        if isinstance(node, ast.Name):
            if node.id not in params:
                raise ValueError(f"constraint {text!r} names unknown parameter {node.id!r}; known: {sorted(params)}")
            return params[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.Compare):
            left = ev(node.left, params)
            for op, comparator in zip(node.ops, node.comparators):
                right = ev(comparator, params)
                if type(op) not in _OPS or not _OPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            values = (ev(v, params) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand, params)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand, params))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left, params), ev(node.right, params))
        raise ValueError(f"constraint {text!r}: only comparisons, arithmetic and and/or/not are allowed")

    return lambda params: bool(ev(tree, params))


def grid_space(grid: dict[str, list], constraints=(), fixed: dict | None = None) -> list[dict]:
    """Every combination of the grid (in the grid's order) that satisfies all constraints."""
    checks = [compile_constraint(c) for c in constraints]
    names = list(grid)
    out = []
    for combo in itertools.product(*(grid[n] for n in names)):
        params = {**(fixed or {}), **dict(zip(names, combo))}
        if all(check(params) for check in checks):
            out.append(params)
    return out


def random_space(ranges: dict[str, list], n: int, *, seed: int = 0, constraints=(), fixed: dict | None = None,
                 max_tries: int = 100) -> list[dict]:
    """``n`` distinct random draws: each parameter uniformly from its value list (a grid's
    values), deterministic for a seed; constraints filter draws."""
    if n < 1:
        raise ValueError(f"random sweeps need n >= 1, got {n}")
    checks = [compile_constraint(c) for c in constraints]
    rng = np.random.default_rng(seed)
    names = list(ranges)
    seen, out = set(), []
    for _ in range(n * max_tries):
        if len(out) == n:
            break
        combo = tuple(ranges[name][int(rng.integers(len(ranges[name])))] for name in names)
        params = {**(fixed or {}), **dict(zip(names, combo))}
        if combo in seen or not all(check(params) for check in checks):
            continue
        seen.add(combo)
        out.append(params)
    return out
