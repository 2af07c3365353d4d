"""Requests waiting for their proposal to be applied (etcd's pkg/wait), with deadlines.

A proposal registers its id before it is proposed; whoever applies the entry triggers the
id with the outcome, on this member only if a client here waits. One sweep fails the
requests whose deadline passed (a proposal dropped with a leader, or stuck), instead of a
timer per request: every waiter gets the same timeout, so insertion order is deadline
order and a sweep stops at the first waiter still in time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from keyraft.app.server.errors import RequestTimedOut, ServerError
from keyraft.raft.io.clock import Clock


class Waits:
    def __init__(self, clock: Clock, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        # id -> (deadline, future), in insertion (= deadline) order
        self._waiting: dict[int, tuple[float, asyncio.Future]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def register(self, request_id: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (self.clock.now() + self.timeout, future)
        return future

    def forget(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)

    def trigger(self, request_id: int, outcome: object) -> None:
        """Complete the waiter of `request_id`, if any: an exception outcome is raised
        to it, anything else returned."""
        _, future = self._waiting.get(request_id, (0.0, None))
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def expire(self) -> None:
        """Fail every waiter whose deadline passed with etcd's timeout error."""
        now = self.clock.now()
        # Failing a future only schedules its waiter (which then forgets it), so the dict
        # does not change under this loop.
        for deadline, future in self._waiting.values():
            if deadline > now:
                break
            if not future.done():
                future.set_exception(RequestTimedOut())

    def fail_all(self, error: ServerError) -> None:
        for _, future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    async def expire_forever(self, interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            self.expire()


async def wait_for_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass on `clock`; whether it was set."""
    if event.is_set():
        return True
    if seconds <= 0:
        return False
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()


T = TypeVar("T")


async def cancel_on(work: Awaitable[T], stop: Awaitable[object]) -> asyncio.Future[T]:
    """`work` run to its end, or canceled once `stop` completes first: its future, settled
    either way (a canceled `work` is waited for, so whatever it does on cancel is done)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop)
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
    if not task.done():
        await asyncio.wait({task})
    return task
