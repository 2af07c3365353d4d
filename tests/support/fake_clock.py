"""A `Clock` that moves only when a test says so (implements `keyraft.raft.io.clock.Clock`).

`advance` wakes sleepers one at a time in deadline order (ties in the order they went to
sleep), setting `now()` to each deadline first and letting the event loop run the woken
task before looking at the next deadline. So a task that sleeps again in a loop (a
ticker) wakes once per period inside one long `advance`, exactly as under real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

SETTLE_ROUNDS = 8
"""Event-loop passes after each wake-up: enough for a woken task to run to its next await
and for the callbacks it schedules to run; thread work (fsync) is not waited for."""


class FakeClock:
    __slots__ = ("_now", "_sleepers", "_order")

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def __call__(self) -> float:
        """The clock as a plain time function (what the lessor takes)."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a point where other tasks may run
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future  # a cancelled sleeper leaves a cancelled future, skipped by advance

    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_deadline(self) -> float | None:
        for deadline, _, future in sorted(self._sleepers):
            if not future.done():
                return deadline
        return None

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper whose deadline is passed."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await _settle()
        self._now = target
        await _settle()


async def _settle() -> None:
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


async def settle() -> None:
    """Let ready tasks run to their next await (what `advance` does after each wake-up)."""
    await _settle()
