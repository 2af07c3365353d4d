"""The time source of the Raft I/O layer, a seam so tests can run time by hand.

The driver ticks through a `Clock` rather than `asyncio.sleep`, so a test can pass a
fake clock and drive elections and heartbeats deterministically and without waiting
(`tests/support/fake_clock.py`). The protocol is deliberately general (a reading and a
sleep), so the server can measure its own deadlines (requests, leases) with it too.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences between readings mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `now()` has advanced by at least `seconds`."""
        ...


class SystemClock:
    """The running event loop's clock (monotonic), and `asyncio.sleep`."""

    __slots__ = ()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
