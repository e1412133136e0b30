"""SIGTERM and SIGINT as a stop request (``backtestester.stop_signals``), as ``backtestester live``
and ``backtestester serve`` use it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

from backtestester.stop_signals import stop_on_signals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The main thread holds the event's lock (as inside ``Event.wait`` or ``clear``) when the signal
# arrives: its handler runs right there. A handler calling ``stop.set()`` waited for that lock
# forever; ``backtestester live`` hung on SIGTERM this way once in CI, polling every 50 ms.
HELD_LOCK = textwrap.dedent("""
    import os, signal, threading
    from backtestester.stop_signals import stop_on_signals

    stop = threading.Event()
    with stop_on_signals(stop):
        with stop._cond:
            os.kill(os.getpid(), signal.{sig})
            held = True
        print("stop set" if stop.wait(30) else "stop not set", flush=True)
    print("handler restored:", signal.getsignal(signal.{sig}) is {default}, flush=True)
""")


def _child(sig: str, default: str) -> str:
    proc = subprocess.run([sys.executable, "-c", HELD_LOCK.format(sig=sig, default=default)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_signal_while_the_main_thread_holds_the_events_lock_sets_it_without_a_deadlock():
    assert _child("SIGTERM", "signal.SIG_DFL") == "stop set\nhandler restored: True\n"
    assert _child("SIGINT", "signal.default_int_handler") == "stop set\nhandler restored: True\n"


def test_without_a_signal_the_event_stays_clear_and_nothing_is_left_behind():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    stop = threading.Event()
    with stop_on_signals(stop) as given:
        assert given is stop
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
        assert "stop-signals" in [t.name for t in threading.enumerate()]
    assert not stop.is_set()
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert "stop-signals" not in [t.name for t in threading.enumerate()]


def test_off_the_main_thread_no_handler_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def body():
        with stop_on_signals(threading.Event()):
            seen.append(signal.getsignal(signal.SIGTERM))
    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [before]
