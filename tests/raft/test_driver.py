"""The asyncio driver, several members in one event loop under a fake clock.

The subtle part is the order of persisting and sending: a follower's ack or vote is a
promise, so it must be durable before it leaves; a leader may send before its own write
completes, but nothing may be applied before a quorum holds the entry durably.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.wal import WriteAheadLog
from keyraft.raft.messages import NO_LEADER, Entry, Message, MessageType, SoftState, StateRole
from tests.raft.driver_cluster import DriverCluster, Event, Machine
from tests.support.fake_clock import FakeClock
from tests.support.memory_transport import MemoryNetwork


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 30))


def test_three_members_elect_a_leader_and_replicate(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path))
        cluster.start_all()
        try:
            leader = await cluster.elect()
            term = cluster.drivers[leader].term
            for node_id, machine in cluster.machines.items():
                role = StateRole.LEADER if node_id == leader else StateRole.FOLLOWER
                assert machine.soft_state == SoftState(leader, role)
            await cluster.replicate([f"value-{n}" for n in range(10)])
            follower = next(n for n in cluster.node_ids if n != leader)
            await cluster.replicate(["forwarded"], via=follower)
            expected = [f"value-{n}" for n in range(10)] + ["forwarded"]
            assert all(machine.values == expected for machine in cluster.machines.values())
            await cluster.tick(3 * 10)  # quiet heartbeats keep the same leader and term
            assert cluster.leader() == leader and cluster.drivers[leader].term == term
        finally:
            await cluster.stop_all()

    run(scenario())


def test_a_partitioned_leader_is_replaced_and_catches_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=1)
        cluster.start_all()
        try:
            old = await cluster.elect()
            cluster.network.isolate(old)
            others = [n for n in cluster.node_ids if n != old]
            await cluster.tick_until(
                lambda: any(cluster.drivers[n].node.raft.role == StateRole.LEADER for n in others)
            )
            new = next(n for n in others if cluster.drivers[n].node.raft.role == StateRole.LEADER)
            await cluster.tick_until(lambda: cluster.drivers[old].leader == NO_LEADER)
            cluster.drivers[new].propose([b"after"])
            await cluster.tick_until(lambda: all(cluster.machines[n].values for n in others))
            cluster.network.heal()
            await cluster.tick_until(lambda: cluster.machines[old].values == ["after"])
            assert cluster.leader() == new
        finally:
            await cluster.stop_all()

    run(scenario())


@pytest.mark.parametrize("native_aio", [True, False], ids=["aio", "thread"])
def test_acks_and_votes_leave_only_after_they_are_durable(tmp_path: Path, native_aio: bool) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=2, native_aio=native_aio)
        cluster.start_all()
        try:
            await cluster.elect()
            for round_number in range(5):
                await cluster.replicate([f"round-{round_number}-{n}" for n in range(3)])
        finally:
            await cluster.stop_all()
        check_persist_before_promise(cluster.journal)
        check_apply_after_durable_quorum(cluster.journal, quorum=2)
        leader_sent_early = leader_sends_before_own_write(cluster.journal)
        assert leader_sent_early, "the leader should overlap sending with its own write"

    run(scenario())


def test_a_leader_applies_what_is_durable_while_it_writes_the_next_batch(
    tmp_path: Path,
) -> None:
    """Committed entries the leader already holds on disk are applied (their clients
    answered) without waiting for the write of newer entries, as etcd overlaps apply
    and save; nothing is applied before it is durable on a quorum."""

    async def scenario() -> None:
        async with _b_committed_while_its_write_is_held(tmp_path) as (cluster, leader, gates):
            driver, machine = cluster.drivers[leader], cluster.machines[leader]
            followers = [m for n, m in cluster.machines.items() if n != leader]
            driver.propose([b"c"])  # queued behind the held write
            gates[0].set()
            await _until(lambda: len(gates) == 2)  # c's write held; b is committed, durable
            await _until(lambda: machine.values[-1:] == ["b"])  # applied meanwhile
            gates[1].set()
            await cluster.tick_until(
                lambda: all(m.values[-2:] == ["b", "c"] for m in [machine, *followers])
            )
        check_apply_after_durable_quorum(cluster.journal, quorum=2)

    run(scenario())


def test_what_was_proposed_during_a_write_leaves_with_the_commit_notice(
    tmp_path: Path,
) -> None:
    """Proposals that arrive while the leader writes, and the commit index the acks moved
    meanwhile, reach each follower as one append in the Ready right after the write:
    not a commit notice first and the entries a Ready later."""

    async def scenario() -> None:
        async with _b_committed_while_its_write_is_held(tmp_path) as (cluster, leader, gates):
            driver = cluster.drivers[leader]
            b_index = _last(cluster, leader)
            driver.propose([b"c", b"d"])  # during the held write
            released = len(cluster.journal)
            gates[0].set()
            await _until(lambda: len(gates) == 2)  # the next Ready's write: c and d
            appends = [
                e.detail
                for e in cluster.journal[released:]
                if e.kind == "send" and e.node_id == leader and e.detail.type == MessageType.APPEND
            ]
            followers = set(cluster.node_ids) - {leader}
            assert sorted(m.to for m in appends) == sorted(followers)  # one each
            for message in appends:
                assert [e.data for e in message.entries] == [b"c", b"d"]
                assert message.commit == b_index
            gates[1].set()
            await cluster.tick_until(
                lambda: all(m.values[-3:] == ["b", "c", "d"] for m in cluster.machines.values())
            )

    run(scenario())


def test_followers_answer_a_read_round_while_their_write_is_held(tmp_path: Path) -> None:
    """A heartbeat answer promises nothing about a follower's disk: it leaves before the
    follower's write of entries that came with it, so a leader's read round does not wait
    for a follower's fsync. Acks of those entries still wait for the write."""

    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=4)
        cluster.start_all()
        held: list[int] = []
        release = asyncio.Event()
        try:
            leader = await cluster.elect()
            await cluster.replicate(["a"])
            for node_id, driver in cluster.drivers.items():
                if node_id != leader:
                    writer = driver.log_writer
                    writer.save = _held(writer.save, held, release)  # type: ignore[method-assign]
            before = len(cluster.journal)
            cluster.drivers[leader].propose([b"b"])  # an append and a heartbeat, together
            assert cluster.drivers[leader].read_index(b"read-1")
            await _until(lambda: len(held) == 2)  # both followers' writes held
            await _until(
                lambda: [s.context for s in cluster.machines[leader].read_states] == [b"read-1"]
            )
            assert not any(  # the entries themselves are not acknowledged yet
                e.kind == "send" and e.detail.type == MessageType.APPEND_RESPONSE
                for e in cluster.journal[before:]
                if e.node_id != leader
            )
        finally:
            release.set()
            await cluster.stop_all()
        check_persist_before_promise(cluster.journal)

    run(scenario())


def test_an_idle_member_hands_over_a_ready_of_messages_within_the_call(tmp_path: Path) -> None:
    """A read round's messages persist nothing: with the ready loop idle they leave (and
    a confirmed read point is delivered) inside the call that made them, not a turn of
    the event loop later. A Ready with something to write still waits for the loop."""

    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=4)
        cluster.start_all()
        try:
            leader = await cluster.elect()
            await cluster.replicate(["a"])
            await cluster.settle()
            driver = cluster.drivers[leader]
            before = len(cluster.journal)
            assert driver.read_index(b"read-1")
            sent = [e.detail for e in cluster.journal[before:] if e.kind == "send"]
            followers = set(cluster.node_ids) - {leader}
            assert {m.to for m in sent if m.type == MessageType.HEARTBEAT} == followers

            follower = next(iter(followers))
            heartbeat = next(m for m in sent if m.to == follower)
            before = len(cluster.journal)
            cluster.drivers[follower].step(heartbeat)
            answers = [e.detail for e in cluster.journal[before:] if e.kind == "send"]
            assert [m.type for m in answers] == [MessageType.HEARTBEAT_RESPONSE]
            driver.step(answers[0])  # a quorum: the read point is confirmed at once
            assert [s.context for s in cluster.machines[leader].read_states] == [b"read-1"]

            before = len(cluster.journal)
            driver.propose([b"b"])  # entries to write: the loop's work
            driver.read_index(b"read-2")
            assert not [e for e in cluster.journal[before:] if e.kind == "send"]
            await cluster.settle()
            assert [s.context for s in cluster.machines[leader].read_states][-1] == b"read-2"
        finally:
            await cluster.stop_all()
        check_persist_before_promise(cluster.journal)

    run(scenario())


@contextlib.asynccontextmanager
async def _b_committed_while_its_write_is_held(
    tmp_path: Path,
) -> AsyncIterator[tuple[DriverCluster, int, list[asyncio.Event]]]:
    """A started cluster whose leader holds its next two saves until the test sets the
    gate each adds to `gates`: b proposed, and committed by the followers' acks
    while the leader's own write of it is held. Yields (cluster, leader, gates); every
    gate opens and the cluster stops on the way out."""
    cluster = DriverCluster(str(tmp_path), seed=3)
    cluster.start_all()
    gates: list[asyncio.Event] = []
    try:
        leader = await cluster.elect()
        driver = cluster.drivers[leader]
        _gate_saves(driver, gates)
        driver.propose([b"b"])
        await _until(lambda: len(gates) == 1)  # b sent, its write held
        await _until(lambda: driver.node.raft.log.committed >= _last(cluster, leader))
        yield cluster, leader, gates
    finally:
        for gate in gates:
            gate.set()
        await cluster.stop_all()


def _gate_saves(driver: RaftDriver, gates: list[asyncio.Event], count: int = 2) -> None:
    """Hold each of `driver`'s next `count` saves until the test sets the gate it adds to
    `gates`; later saves go straight through."""
    save = driver.log_writer.save

    async def gated_save(*args: Any) -> None:
        if len(gates) < count:
            gate = asyncio.Event()
            gates.append(gate)
            await gate.wait()  # the test opens it (`run` bounds the whole scenario)
        await save(*args)

    driver.log_writer.save = gated_save  # type: ignore[method-assign]


def _held(
    save: Callable[..., Awaitable[None]], held: list[int], release: asyncio.Event
) -> Callable[..., Awaitable[None]]:
    """`save`, counting itself in `held` and waiting for `release` first."""

    async def held_save(*args: Any) -> None:
        held.append(1)
        await release.wait()  # not wait_for: on 3.11 it can swallow a cancellation
        await save(*args)

    return held_save


def _last(cluster: DriverCluster, node_id: int) -> int:
    return cluster.drivers[node_id].node.raft.log.last_index()


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def check_persist_before_promise(journal: list[Event]) -> None:
    """Every granted vote and every successful append ack follows the write it promises."""
    durable: dict[int, int] = {}
    votes: dict[int, tuple[int, int]] = {}
    checked_acks = checked_votes = 0
    for event in journal:
        node_id = event.node_id
        if event.kind == "persisted":
            hard_state, indexes = event.detail
            if indexes:
                durable[node_id] = indexes[-1]
            if hard_state is not None:
                votes[node_id] = (hard_state.term, hard_state.vote)
        elif event.kind == "rewritten":
            snapshot_index, indexes = event.detail
            durable[node_id] = indexes[-1] if indexes else snapshot_index
        elif event.kind == "send":
            message: Message = event.detail
            if message.type == MessageType.APPEND_RESPONSE and not message.reject:
                assert message.index <= durable.get(node_id, 0), (node_id, message)
                checked_acks += 1
            elif message.type == MessageType.VOTE_RESPONSE and not message.reject:
                assert votes.get(node_id) == (message.term, message.to), (node_id, message)
                checked_votes += 1
    assert checked_acks > 0 and checked_votes > 0


def check_apply_after_durable_quorum(journal: list[Event], quorum: int) -> None:
    """Nothing is applied anywhere before `quorum` members hold it on disk, itself included."""
    durable: dict[int, int] = {}
    applied = 0
    for event in journal:
        if event.kind == "persisted" and event.detail[1]:
            durable[event.node_id] = event.detail[1][-1]
        elif event.kind == "rewritten":
            snapshot_index, indexes = event.detail
            durable[event.node_id] = indexes[-1] if indexes else snapshot_index
        elif event.kind == "apply":
            index = event.detail
            holders = sum(1 for last in durable.values() if last >= index)
            assert durable.get(event.node_id, 0) >= index, event
            assert holders >= quorum, (event, durable)
            applied += 1
    assert applied > 0


def leader_sends_before_own_write(journal: list[Event]) -> int:
    """How many appends a leader sent before its own write of those entries was durable."""
    durable: dict[int, int] = {}
    early = 0
    for event in journal:
        if event.kind == "persisted" and event.detail[1]:
            durable[event.node_id] = event.detail[1][-1]
        elif event.kind == "send":
            message: Message = event.detail
            if (
                message.type == MessageType.APPEND
                and message.entries
                and message.entries[-1].index > durable.get(event.node_id, 0)
            ):
                early += 1
    return early


def test_a_lagging_follower_installs_the_leaders_snapshot(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), snapshot_count=4, catch_up_entries=2, seed=3)
        cluster.start_all()
        try:
            leader = await cluster.elect()
            lagging = next(n for n in cluster.node_ids if n != leader)
            await cluster.replicate(["before"])
            cluster.network.isolate(lagging)
            applied_before = cluster.drivers[lagging].applied
            for n in range(12):
                cluster.drivers[leader].propose([f"while-away-{n}".encode()])
                await cluster.tick_until(lambda n=n: len(cluster.machines[leader].values) == n + 2)
            leader_storage = cluster.drivers[leader].storage
            assert leader_storage.first_index() > applied_before + 1, "the leader must compact"

            cluster.network.heal()
            machine: Machine = cluster.machines[lagging]
            await cluster.tick_until(lambda: machine.values == cluster.machines[leader].values)
            driver = cluster.drivers[lagging]
            assert len(machine.restored) == 1, "caught up by one snapshot, not by the log"
            assert machine.restored[0] in cluster.machines[leader].snapshots_given
            # The install: restore, then the log rewritten to start at the snapshot.
            own = [e for e in cluster.journal if e.node_id == lagging]
            restore_at = next(i for i, e in enumerate(own) if e.kind == "restore")
            install = next(e for e in own[restore_at:] if e.kind == "rewritten")
            snapshot_index, kept = install.detail
            assert kept == []
            assert snapshot_index >= leader_storage.first_index() - 1 > applied_before + 1
            assert json.loads(machine.restored[0])["applied"] >= snapshot_index
            applies = [e.detail for e in own[restore_at:] if e.kind == "apply"]
            assert all(index > snapshot_index for index in applies)  # nothing replayed
            assert driver.applied >= snapshot_index
            await cluster.replicate(["after"])  # and it follows the log again afterwards
            assert machine.values[-1] == "after"
        finally:
            await cluster.stop_all()
        recovered = WriteAheadLog(cluster.wal_dir(lagging)).recovered
        assert recovered.snapshot.index >= snapshot_index
        assert recovered.entries and recovered.entries[-1].index >= driver.applied
        assert recovered.entries[0].index == recovered.snapshot.index + 1

    run(scenario())


def test_a_restarted_member_skips_what_it_applied(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=4)
        cluster.start_all()
        try:
            leader = await cluster.elect()
            await cluster.replicate(["one", "two"])
            follower = next(n for n in cluster.node_ids if n != leader)
            await cluster.stop(follower)
            await cluster.replicate(["three"])
            driver = cluster.start(follower)
            assert driver.applied == cluster.machines[follower].applied
            await cluster.tick_until(lambda: cluster.machines[follower].values[-1:] == ["three"])
            assert cluster.machines[follower].values == ["one", "two", "three"]
        finally:
            await cluster.stop_all()

    run(scenario())


def test_compactions_bound_the_log_and_a_restart_recovers_from_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), snapshot_count=4, catch_up_entries=2, seed=5)
        cluster.start_all()
        try:
            leader = await cluster.elect()
            follower = next(n for n in cluster.node_ids if n != leader)
            for n in range(30):
                await cluster.replicate([f"v{n}"])
            assert cluster.drivers[follower].storage.first_index() > 20  # it compacted
            # Covered segments are removed in the background, but not left to pile up.
            await _until(lambda: len(list(Path(cluster.wal_dir(follower)).glob("*.wal"))) <= 3)
            await cluster.stop(follower)
            await cluster.replicate(["after"])
            cluster.start(follower)
            await cluster.tick_until(lambda: cluster.machines[follower].values[-1:] == ["after"])
            assert cluster.machines[follower].values == [f"v{n}" for n in range(30)] + ["after"]
        finally:
            await cluster.stop_all()

    run(scenario())


class StorageOnly:
    """A state machine without the event half."""

    def applied_index(self) -> int:
        return 0

    def apply(self, entries: list[Entry]) -> None:
        pass

    def make_durable(self) -> None:
        pass

    def snapshot_data(self) -> bytes:
        return b""

    def restore(self, data: bytes) -> None:
        pass


def test_events_go_to_their_own_listener_or_default_to_the_state_machine(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        RaftDriver(1, (1,), str(tmp_path / "a"), StorageOnly(), 0.1, 10, 100)

    async def scenario() -> None:
        events = Machine(1, [])
        clock = FakeClock()
        driver = RaftDriver(
            1, (1,), str(tmp_path / "b"), StorageOnly(), 0.1, 10, 100, events=events, clock=clock
        )
        driver.start(MemoryNetwork().attach(1, driver))
        try:
            deadline = asyncio.get_running_loop().time() + 5
            while events.soft_state.role != StateRole.LEADER:  # a single voter leads at once
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0)
            assert events.soft_state == SoftState(1, StateRole.LEADER)
        finally:
            await driver.stop()

    run(scenario())


def test_a_failed_loop_is_reported_to_on_failure_with_its_error(tmp_path: Path) -> None:
    """A member ends its process when a Raft loop fails (crash-stop); the hook lets an
    in-process cluster fail the test with the error instead of killing the test worker."""

    async def scenario() -> None:
        cluster = DriverCluster(str(tmp_path), seed=6)
        cluster.start_all()
        try:
            leader = await cluster.elect()
            follower = next(n for n in cluster.node_ids if n != leader)

            def broken_apply(entries: list[Entry]) -> None:
                raise OSError(28, "No space left on device")

            cluster.machines[follower].apply = broken_apply  # type: ignore[method-assign]
            with pytest.raises(AssertionError, match=f"member {follower}: raft-ready failed"):
                await cluster.replicate(["value"])
            assert [(n, name) for n, name, _ in cluster.failures] == [(follower, "raft-ready")]
            assert isinstance(cluster.failures[0][2], OSError)
        finally:
            cluster.failures.clear()
            await cluster.stop_all()

    run(scenario())
