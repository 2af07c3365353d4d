"""Background threads that leave Ctrl-C to the main thread.

The kernel may deliver a process's SIGINT to any thread that does not block it. Python
runs the handler in the main thread only when that thread next runs bytecode; if it is
blocked in a socket read (a lock waiting in its queue, a watch stream), nothing wakes it
and the command hangs until the read returns. Threads started here block SIGINT and
SIGTERM, so the kernel interrupts the main thread's read instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


def start_background(target: Callable[..., Any], *args: Any) -> threading.Thread:
    """Start `target(*args)` on a daemon thread that never takes SIGINT or SIGTERM."""

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        target(*args)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
