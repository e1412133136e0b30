"""Sweeps as plain data: run configs with stable ids, sweep specs, parameter spaces, one-run
execution, results files, reports.

Pure (no ray): the actors in ``actors/`` distribute these pieces across processes and machines.
"""
from .config import ENGINES, RunConfig, SweepSpec
from .execute import execute_batch, execute_run, load_repositories
from .report import SweepOutcome
from .space import grid_space, parse_grid_arg, random_space

__all__ = ["ENGINES", "RunConfig", "SweepOutcome", "SweepSpec", "execute_batch", "execute_run", "grid_space",
           "load_repositories", "parse_grid_arg", "random_space"]
