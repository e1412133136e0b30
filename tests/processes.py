"""Process-tree helpers for the tests that kill `serve` or `sweep`: which processes a command
started, and waiting (with a deadline, by polling) until they are all gone."""
from __future__ import annotations

import sys
import time

import psutil

# Resets SIGINT to its default, then becomes the command (same pid): see interruptible().
_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def interruptible(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT at its default disposition. A suite run from a background job
    (a non-interactive shell's ``&``) inherits SIGINT *ignored*, and so would the command: Ctrl-C
    would then do nothing, and a test of what Ctrl-C does would hang instead of testing it."""
    return [sys.executable, "-c", _DEFAULT_SIGINT, *argv]


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below ``pid`` now (Ray's GCS server, raylet, agents, workers, the reaper)."""
    return psutil.Process(pid).children(recursive=True)


def alive(processes) -> list[psutil.Process]:
    """Those of ``processes`` still running (a zombie, dead but not yet reaped by its parent, is gone)."""
    running = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_gone(processes, deadline: float = 30.0) -> list[psutil.Process]:
    """Poll until none of ``processes`` runs or ``deadline`` seconds pass; returns the survivors."""
    end = time.monotonic() + deadline
    while (left := alive(processes)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def kill_all(processes) -> None:
    """SIGKILL those of ``processes`` still running: a failed test's cleanup, by pid."""
    for proc in alive(processes):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
