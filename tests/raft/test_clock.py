"""The clock seam: the system clock is the loop's, the fake one moves only by hand."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.raft.io.clock import Clock, SystemClock
from tests.support.fake_clock import FakeClock


def test_the_system_clock_reads_the_loop_time() -> None:
    async def scenario() -> None:
        clock: Clock = SystemClock()
        loop = asyncio.get_running_loop()
        before = loop.time()
        await clock.sleep(0)
        assert before <= clock.now() <= loop.time()

    asyncio.run(scenario())


def test_sleepers_wake_in_deadline_order_then_sleep_order() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        woken: list[tuple[str, float]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woken.append((name, clock.now()))

        tasks = [
            asyncio.create_task(sleeper(name, seconds))
            for name, seconds in [("c", 3.0), ("a", 1.0), ("b", 2.0), ("a2", 1.0), ("late", 9)]
        ]
        await asyncio.sleep(0)
        assert clock.sleepers() == 5 and clock.next_deadline() == 1.0
        await clock.advance(0.5)
        assert woken == [] and clock.now() == 0.5
        await clock.advance(2.5)
        assert woken == [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("c", 3.0)]
        assert clock.now() == 3.0 and clock.sleepers() == 1
        tasks[-1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await clock.advance(10)
        assert len(woken) == 4 and clock.sleepers() == 0

    asyncio.run(scenario())


def test_a_periodic_task_runs_once_per_period_within_one_advance() -> None:
    async def scenario() -> None:
        clock = FakeClock(start=100.0)
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                await clock.sleep(0.25)
                ticks.append(clock.now())

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await clock.advance(1.1)
        assert ticks == [100.25, 100.5, 100.75, 101.0]
        assert clock.now() == pytest.approx(101.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_time_does_not_go_backwards() -> None:
    with pytest.raises(ValueError):
        asyncio.run(FakeClock().advance(-1))
