"""SIGTERM and SIGINT as a stop request: :func:`stop_on_signals`, the one place that turns them
into a set :class:`threading.Event` (a bottom module, standard library only).

A handler must not call ``Event.set`` itself. Python runs handlers in the main thread between two
bytecodes, possibly while that thread holds the event's lock (inside ``wait`` or ``clear``); the
handler's ``set`` then waits for a lock its own thread will never release, and the process hangs
until SIGKILL. So the handler only writes a byte to a pipe (``os.write`` takes no lock), and a
helper thread blocked on the pipe's other end sets the event. Leaving the block joins that thread
first, so a signal that came before the exit has set the event by then.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(stop: threading.Event, signals=STOP_SIGNALS) -> Iterator[threading.Event]:
    """Set ``stop`` when one of ``signals`` arrives while the block runs; the previous handlers
    come back at its end. Off the main thread (where Python refuses handlers) nothing is installed:
    only ``stop`` itself ends the run then."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    read_end, write_end = os.pipe()

    def relay() -> None:
        if os.read(read_end, 1):  # b"": the block ended without a signal
            stop.set()

    def request(*_) -> None:
        try:
            os.write(write_end, b"s")
        except BlockingIOError:  # the pipe is full: a stop was requested long ago
            pass

    os.set_blocking(write_end, False)
    helper = threading.Thread(target=relay, name="stop-signals", daemon=True)
    helper.start()
    previous = {sig: signal.signal(sig, request) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_end)
        helper.join()
        os.close(read_end)
