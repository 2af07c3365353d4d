"""The lease keeper's expiry loop with a fake clock and a fake server: only a leader
proposes revokes, a new leader waits a full TTL plus the extension, failures are retried."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from keyraft.app import errors
from keyraft.app.server import leases
from keyraft.app.server.leases import LeaseKeeper
from keyraft.storage.lease import Lessor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class NoBatch:
    def put(self, family: str, key: bytes, value: bytes) -> None:
        pass

    def delete(self, family: str, key: bytes) -> None:
        pass


class FakeServer:
    """Records revoke proposals; fails them while `failing`, else applies them."""

    def __init__(self, lessor: Lessor) -> None:
        self.config = SimpleNamespace(election_timeout_ms=1000)
        self.lessor = lessor
        self.proposed: list[int] = []
        self.failing = True

    async def propose_internal(self, kind: str, request: dict) -> dict:
        assert kind == "lease_revoke"
        self.proposed.append(request["ID"])
        if self.failing:
            raise errors.request_timed_out()
        self.lessor.revoke(request["ID"], NoBatch())
        return {}


async def _settle() -> None:
    """Let the expiry loop (checking every 1 ms here) run some 20 passes: what must *not*
    happen cannot be polled for."""
    for _ in range(20):
        await asyncio.sleep(0.002)


async def _until(condition, timeout: float = 5.0) -> None:
    """Poll for what must happen, with a deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


@pytest.mark.timeout(20)
def test_expiry_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "EXPIRY_CHECK_S", 0.001)
    clock = Clock()
    lessor = Lessor(clock)
    server = FakeServer(lessor)
    keeper = LeaseKeeper(server, lessor)  # type: ignore[arg-type]
    lessor.grant(1, 5, NoBatch())

    async def scenario() -> None:
        await keeper.start()
        try:
            clock.now += 100
            await _settle()
            assert server.proposed == []  # a follower expires nothing
            keeper.set_leading(True)
            clock.now += 5.9  # full TTL + 1 s extension not yet over
            await _settle()
            assert server.proposed == []
            clock.now += 0.2
            await _until(lambda: len(server.proposed) > 1)
            assert set(server.proposed) == {1}  # failed and retried
            server.failing = False
            await _until(lambda: not lessor.exists(1))
            count = len(server.proposed)
            await _settle()
            assert len(server.proposed) == count  # revoked: never proposed again
        finally:
            await keeper.stop()

    asyncio.run(scenario())
