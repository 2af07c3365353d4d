"""Proposals and linearizable reads that Raft never completes fail with etcd's errors in
bounded time, and leave nothing behind (RaftLog driven by a fake driver that drops all)."""

from __future__ import annotations

import asyncio
import time

import pytest

from keyraft.app import errors
from keyraft.app.server import replication
from keyraft.app.server.replication import RaftLog


class DroppingDriver:
    """Accepts proposals and ReadIndex requests and never completes any."""

    def __init__(self) -> None:
        self.proposals: list[bytes] = []
        self.read_contexts: list[bytes] = []

    def propose(self, payloads: list[bytes]) -> None:
        self.proposals.extend(payloads)

    def read_index(self, context: bytes) -> bool:
        self.read_contexts.append(context)
        return True

    async def stop(self) -> None:
        pass


class NoTransport:
    async def stop(self) -> None:
        pass


def make_log(request_timeout: float) -> tuple[RaftLog, DroppingDriver]:
    """A RaftLog on a dropping driver, its proposal sweeper running (call in a loop)."""
    log = RaftLog.__new__(RaftLog)
    log._init_requests(member_id=1, election_timeout_ms=100)
    log.request_timeout = request_timeout
    log.leader = 2  # a leader is known: the requests are sent, then lost
    log.driver = DroppingDriver()
    log.transport = NoTransport()
    log._expiry_task = asyncio.create_task(log._expire_proposals())  # as start() does
    return log, log.driver


@pytest.mark.timeout(20)
def test_a_lost_proposal_times_out_with_etcds_error_and_is_forgotten() -> None:
    async def scenario() -> None:
        log, driver = make_log(request_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(errors.EtcdError) as raised:
            await log.propose("put", {"key": b"k", "value": b"v"})
        elapsed = time.monotonic() - started
        assert raised.value.message == "etcdserver: request timed out"
        assert raised.value.http_status == 503
        assert 0.3 <= elapsed < 0.3 + 10 * replication.EXPIRY_SWEEP_S
        assert len(driver.proposals) == 1
        assert log._waiters == {}
        await log.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_many_lost_proposals_all_time_out() -> None:
    async def scenario() -> None:
        log, driver = make_log(request_timeout=0.3)
        outcomes = await asyncio.gather(
            *(log.propose("put", {"key": b"k%d" % n}) for n in range(5000)),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, errors.EtcdError) for outcome in outcomes)
        assert {outcome.message for outcome in outcomes} == {"etcdserver: request timed out"}
        assert log._waiters == {}
        await log.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_an_unanswered_read_is_asked_again_then_times_out() -> None:
    async def scenario() -> None:
        log, driver = make_log(request_timeout=1.2)
        started = time.monotonic()
        reads = [asyncio.create_task(log.read_barrier()) for _ in range(3)]
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
        elapsed = time.monotonic() - started
        assert [str(outcome) for outcome in outcomes] == ["etcdserver: request timed out"] * 3
        assert 1.2 <= elapsed < 3.0
        # One round for the batch, re-asked every READ_RETRY_S under a fresh context.
        assert len(driver.read_contexts) >= 2
        assert len(set(driver.read_contexts)) == len(driver.read_contexts)
        assert log._reads_in_flight == {} and log._pending_indexes == {}
        await log.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_stopping_fails_every_waiting_request() -> None:
    async def scenario() -> None:
        log, _ = make_log(request_timeout=60)
        proposal = asyncio.create_task(log.propose("put", {"key": b"k"}))
        read = asyncio.create_task(log.read_barrier())
        while not log._waiters or not log._reads_in_flight:
            await asyncio.sleep(0.001)
        await log.stop()
        for task in (proposal, read):
            with pytest.raises(errors.EtcdError):
                await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
