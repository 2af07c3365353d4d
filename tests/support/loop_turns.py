"""Count how often the event loop got to run other work while something was awaited: the
way to show a long job yields, without timing it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def with_loop_turns(work: Awaitable[T]) -> tuple[T, int]:
    """`work`'s result, and how many times a concurrent task ran while it was awaited."""
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_work())
    try:
        result = await work
    finally:
        ticker.cancel()
    return result, turns
