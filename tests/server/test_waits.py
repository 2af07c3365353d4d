"""Proposals and linearizable reads that Raft never completes fail with etcd's errors at
their deadline, and leave nothing behind (Waits and LinearizableReads on a fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.app import errors as face_errors
from keyraft.app.server import errors
from keyraft.app.server.linearizable import READ_RETRY_S, ROUNDS_IN_FLIGHT, LinearizableReads
from keyraft.app.server.waits import Waits
from keyraft.raft.messages import ReadState
from tests.support.fake_clock import FakeClock, settle

SWEEP_S = 0.1


async def _sweeping(waits: Waits) -> asyncio.Task:
    task = asyncio.create_task(waits.expire_forever(SWEEP_S))
    await settle()
    return task


def test_a_lost_proposal_times_out_at_its_deadline_and_is_forgotten() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        waits = Waits(clock, timeout=5.0)
        sweeper = await _sweeping(waits)
        future = waits.register(1)
        await clock.advance(4.9)
        assert not future.done()
        await clock.advance(0.2)
        assert isinstance(future.exception(), errors.RequestTimedOut)
        error = face_errors.from_server(future.exception())
        assert (error.code, error.http_status) == (14, 503)
        assert error.message == "etcdserver: request timed out"
        waits.forget(1)
        assert len(waits) == 0
        sweeper.cancel()

    asyncio.run(scenario())


def test_many_lost_proposals_all_time_out_in_one_sweep() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        waits = Waits(clock, timeout=1.0)
        sweeper = await _sweeping(waits)
        futures = [waits.register(n) for n in range(5000)]
        await clock.advance(1.1)
        assert all(isinstance(f.exception(), errors.RequestTimedOut) for f in futures)
        sweeper.cancel()

    asyncio.run(scenario())


def test_an_applied_proposal_gets_its_outcome_and_a_late_trigger_is_ignored() -> None:
    async def scenario() -> None:
        waits = Waits(FakeClock(), timeout=1.0)
        done, refused = waits.register(1), waits.register(2)
        waits.trigger(1, {"header": {"revision": 5}})
        waits.trigger(2, errors.LeaseNotFound())
        waits.trigger(3, {})  # nobody waits here: another member's client
        assert done.result() == {"header": {"revision": 5}}
        assert isinstance(refused.exception(), errors.LeaseNotFound)
        waits.trigger(1, {"late": True})
        assert done.result() == {"header": {"revision": 5}}

    asyncio.run(scenario())


class Reads:
    """LinearizableReads on a fake clock, its ReadIndex requests recorded, never answered
    unless the test answers them."""

    def __init__(self, timeout: float = 3.0) -> None:
        self.clock = FakeClock()
        self.contexts: list[bytes] = []
        self.applied = 0
        self.leader = True
        self.reads = LinearizableReads(
            7, self.clock, timeout, self._read_index, self._wait_for_leader, lambda: self.applied
        )

    def _read_index(self, context: bytes) -> bool:
        self.contexts.append(context)
        return True

    async def _wait_for_leader(self, deadline: float) -> None:
        if not self.leader:
            raise errors.NoLeader


def test_an_unanswered_read_is_asked_again_then_times_out() -> None:
    async def scenario() -> None:
        reads = Reads(timeout=3.0)
        barriers = [asyncio.ensure_future(reads.reads.barrier()) for _ in range(3)]
        await settle()
        assert len(reads.contexts) == 1  # one round for the batch
        await reads.clock.advance(READ_RETRY_S)
        assert len(reads.contexts) == 2  # asked again under a fresh context
        await reads.clock.advance(3.0)
        outcomes = await asyncio.gather(*barriers, return_exceptions=True)
        assert all(isinstance(outcome, errors.RequestTimedOut) for outcome in outcomes)
        assert len(set(reads.contexts)) == len(reads.contexts)
        assert all(context.startswith((7).to_bytes(8, "big")) for context in reads.contexts)
        assert reads.reads._in_flight == {} and reads.reads._confirmed == {}

    asyncio.run(scenario())


def test_a_read_waits_until_the_confirmed_index_is_applied() -> None:
    async def scenario() -> None:
        reads = Reads()
        barrier = asyncio.ensure_future(reads.reads.barrier())
        await settle()
        reads.reads.on_read_states([ReadState(index=10, context=reads.contexts[0])])
        await settle()
        assert not barrier.done()  # confirmed, but this member has applied less
        reads.applied = 10
        reads.reads.on_applied()
        await settle()
        assert barrier.done() and barrier.exception() is None
        # reads queued after the round started get a round of their own
        later = asyncio.ensure_future(reads.reads.barrier())
        await settle()
        assert len(reads.contexts) == 2 and not later.done()
        later.cancel()

    asyncio.run(scenario())


def test_a_read_that_comes_while_a_round_is_out_starts_the_next_one_at_once() -> None:
    async def scenario() -> None:
        reads = Reads()
        first = [asyncio.ensure_future(reads.reads.barrier()) for _ in range(2)]
        await settle()
        second = asyncio.ensure_future(reads.reads.barrier())
        await settle()
        # not waiting for the first round to come back
        assert len(reads.contexts) == ROUNDS_IN_FLIGHT == 2
        third = asyncio.ensure_future(reads.reads.barrier())
        await settle()
        assert len(reads.contexts) == 2  # at most ROUNDS_IN_FLIGHT rounds out
        reads.reads.on_read_states([ReadState(index=0, context=reads.contexts[0])])
        await settle()
        assert all(future.done() for future in first) and not second.done()
        assert len(reads.contexts) == 3 and not third.done()  # its round starts now
        for context in reads.contexts[1:]:
            reads.reads.on_read_states([ReadState(index=0, context=context)])
        await settle()
        assert second.done() and third.done()
        assert reads.reads._in_flight == {} and reads.reads._confirmed == {}

    asyncio.run(scenario())


def test_a_read_without_a_leader_fails_with_no_leader() -> None:
    async def scenario() -> None:
        reads = Reads()
        reads.leader = False
        with pytest.raises(errors.NoLeader):
            await reads.reads.barrier()

    asyncio.run(scenario())


def test_stopping_fails_every_waiting_request() -> None:
    async def scenario() -> None:
        reads = Reads(timeout=60)
        waits = Waits(reads.clock, timeout=60)
        proposal = waits.register(1)
        read = asyncio.ensure_future(reads.reads.barrier())
        await settle()
        waits.fail_all(errors.ServerStopped())
        reads.reads.stop(errors.ServerStopped())
        await settle()
        assert isinstance(proposal.exception(), errors.ServerStopped)
        assert isinstance(read.exception(), errors.ServerError)

    asyncio.run(scenario())
