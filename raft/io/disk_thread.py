"""One thread for blocking disk work, in submission order: segment cuts, compaction and
rewrites of the log, the state machine's syncs, and the log's writes and fsyncs where
Linux AIO cannot do them (`raft.io.log_writer`).

`asyncio.to_thread` costs, per call, a context copy, the thread pool's locks and work
item, and two chained futures: measured with py-spy on a follower under a put load, ~12%
of its CPU went to that bridging, once per Ready. Here a call is a queue put and, when
done, one `call_soon_threadsafe`. One thread also keeps the log's writes in order and
lets `close` wait for the last of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("keyraft")
_STOP = object()


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class DiskThread:
    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the thread, after every call submitted before it. A
        caller canceled while waiting leaves the call running to its end."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, function, args))
        return await future

    def post(self, function: Callable[..., object], *args: Any) -> None:
        """`function(*args)` on the thread, after every call submitted before it, with
        nobody waiting for it: a failure is logged."""
        self._calls.put((None, None, function, args))

    async def close(self) -> None:
        """Stop once every call submitted so far is done."""
        if self._thread.is_alive():
            self._calls.put(_STOP)
            await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        while True:
            call = self._calls.get()
            if call is _STOP:
                return
            loop, future, function, args = call
            result, error = None, None
            try:
                result = function(*args)
            except BaseException as failure:  # handed to the caller, as to_thread would
                error = failure
            if future is None:
                if error is not None:
                    log.warning("%s failed: %s", getattr(function, "__name__", function), error)
                continue
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)
