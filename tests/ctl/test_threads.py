"""keyraftctl's background threads leave Ctrl-C to the main thread (ctl/threads.py): were
the kernel to hand SIGINT to one of them, a main thread blocked reading a lock or watch
answer would never wake, and Ctrl-C would not end the command."""

from __future__ import annotations

import signal
import threading

from keyraft.ctl.threads import start_background


def test_background_threads_block_interrupts_and_the_main_thread_does_not() -> None:
    masks: list[set[signal.Signals]] = []
    start_background(lambda: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))).join(5)
    assert masks and {signal.SIGINT, signal.SIGTERM} <= masks[0]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert threading.current_thread() is threading.main_thread()
