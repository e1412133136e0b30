"""Sweeps as plain data: run configs with stable ids, parameter spaces, one-run execution, reports.

Pure (no ray): the actors in ``actors/`` distribute these pieces across processes and machines.
"""
from .config import RunConfig
from .execute import execute_batch, execute_run, load_repositories
from .space import grid_space, parse_grid_arg, random_space

__all__ = ["RunConfig", "execute_batch", "execute_run", "grid_space", "load_repositories", "parse_grid_arg", "random_space"]
