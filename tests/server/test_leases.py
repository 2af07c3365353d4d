"""The lease keeper's expiry loop on a fake clock: only a leader proposes revokes, a new
leader waits a full TTL plus the extension, failed revokes are retried, revoked leases are
never proposed again."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.app.server import errors
from keyraft.app.server.leases import EXPIRY_CHECK_S, LeaseKeeper
from keyraft.app.server.requests import LeaseRevoke
from keyraft.storage.lease import Lessor
from tests.support.fake_clock import FakeClock


class NoBatch:
    def put(self, family: str, key: bytes, value: bytes) -> None:
        pass

    def delete(self, family: str, key: bytes) -> None:
        pass


class Proposals:
    """Records revoke proposals; fails them while `failing`, else applies them."""

    def __init__(self, lessor: Lessor) -> None:
        self.lessor = lessor
        self.proposed: list[int] = []
        self.failing = True

    async def propose(self, request: LeaseRevoke) -> dict:
        self.proposed.append(request.lease_id)
        if self.failing:
            raise errors.RequestTimedOut
        self.lessor.revoke(request.lease_id, NoBatch())
        return {}


async def _no_leader() -> list[str]:
    raise errors.NoLeader


def test_expiry_loop() -> None:
    clock = FakeClock()
    lessor = Lessor(clock)
    proposals = Proposals(lessor)
    keeper = LeaseKeeper(lessor, clock, 1.0, proposals.propose, _no_leader)
    lessor.grant(1, 5, NoBatch())

    async def scenario() -> None:
        await keeper.start()
        try:
            await clock.advance(100)
            assert proposals.proposed == []  # a follower expires nothing
            keeper.set_leading(True)
            await clock.advance(5.9)  # full TTL + 1 s extension not yet over
            assert proposals.proposed == []
            await clock.advance(0.2)
            assert proposals.proposed == [1]
            await clock.advance(EXPIRY_CHECK_S)
            assert proposals.proposed == [1, 1]  # failed, so retried at the next check
            proposals.failing = False
            await clock.advance(EXPIRY_CHECK_S)
            assert not lessor.exists(1)
            count = len(proposals.proposed)
            await clock.advance(10 * EXPIRY_CHECK_S)
            assert len(proposals.proposed) == count  # revoked: never proposed again
            keeper.set_leading(False)
            lessor.grant(2, 5, NoBatch())
            await clock.advance(100)
            assert 2 not in proposals.proposed  # demoted: expires nothing again
        finally:
            await keeper.stop()

    asyncio.run(scenario())


def test_a_follower_without_a_leader_refuses_keepalives_with_no_leader() -> None:
    clock = FakeClock()
    lessor = Lessor(clock)
    keeper = LeaseKeeper(lessor, clock, 1.0, Proposals(lessor).propose, _no_leader)

    async def scenario() -> None:
        try:
            with pytest.raises(errors.NoLeader):
                await keeper.keep_alive(1)
        finally:
            await keeper.stop()

    asyncio.run(scenario())
