"""The log's disk thread: calls run in submission order, waited for or not."""

from __future__ import annotations

import asyncio
import logging

import pytest

from keyraft.raft.io.disk_thread import DiskThread


def test_posted_and_awaited_calls_run_in_order_and_a_posted_failure_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    def fail() -> None:
        raise OSError("disk gone")

    async def scenario() -> None:
        disk = DiskThread("test-disk")
        disk.post(done.append, "posted")
        disk.post(fail)
        assert await disk.run(lambda: done.append("awaited") or len(done)) == 2
        disk.post(done.append, "last")
        await disk.close()  # waits for what was posted before it

    with caplog.at_level(logging.WARNING, logger="keyraft"):
        asyncio.run(scenario())
    assert done == ["posted", "awaited", "last"]
    assert "disk gone" in caplog.text
