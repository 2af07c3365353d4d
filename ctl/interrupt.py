"""Ctrl-C ends a long-running command (watch, lease keep-alive) at once, with status 0.

Unwinding through an HTTP stream interrupted mid-read is not safe: seen in the test
suite, closing it afterwards could wait forever on the client's internal state, and the
process never exited. Nothing needs cleaning up (the server drops a stream whose
connection closes), so the handler flushes what was printed and leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType


def _leave(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    os._exit(0)


def exit_on_interrupt() -> None:
    signal.signal(signal.SIGINT, _leave)
