"""How proposals become ordered and durable: through Raft, across the cluster's members.

`RaftLog` encodes each proposal as a log entry, hands it to the Raft driver and waits until
this member applies it (every member applies every entry; only the one holding the waiter
answers). Linearizable reads wait for a ReadIndex round: one round serves every read that
queued while the previous one was in flight, then the reads wait until this member has
applied up to the index the leader confirmed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import TYPE_CHECKING, Protocol

import msgpack

from keyraft.app import errors
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.peer_transport import PeerReceiver, PeerTransport
from keyraft.raft.messages import NO_LEADER, Entry, ReadState, SoftState, StateRole

if TYPE_CHECKING:
    from keyraft.app.server.etcdserver import EtcdServer

log = logging.getLogger("keyraft.replication")

SNAPSHOT_FAMILIES = ("kv", "meta", "lease", "cluster")
LOG_COMPACTION_ENTRIES = 10_000
CATCH_UP_ENTRIES = 5_000
READ_RETRY_S = 0.5  # etcd's readIndexRetryTime
EXPIRY_SWEEP_S = 0.1


class ReplicationLog(Protocol):
    term: int
    leader: int
    commit_index: int

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def propose(self, kind: str, request: dict) -> dict: ...
    async def read_barrier(self) -> None: ...
    async def wait_for_leader(self) -> None: ...
    def read_revision(self) -> int: ...
    def has_leader(self) -> bool: ...


def make_log(server: EtcdServer) -> ReplicationLog:
    return RaftLog(server)


class RaftLog:
    def __init__(self, server: EtcdServer) -> None:
        self.server = server
        config = server.config
        self._init_requests(server.member.id, config.election_timeout_ms)
        voters = tuple(sorted(server.members))
        self.driver = RaftDriver(
            node_id=server.member.id,
            voters=voters,
            wal_dir=os.path.join(config.data_dir, "member", "wal"),
            state_machine=self,
            tick_seconds=config.heartbeat_interval_ms / 1000,
            election_ticks=max(2, config.election_timeout_ms // config.heartbeat_interval_ms),
            # The state machine is RocksDB itself, so a "snapshot" is only a sync and a log
            # compaction: cheap enough to keep the in-memory log short even when
            # --snapshot-count (etcd's default 100,000) is large.
            snapshot_count=min(config.snapshot_count, LOG_COMPACTION_ENTRIES),
            catch_up_entries=min(CATCH_UP_ENTRIES, max(1, config.snapshot_count // 2)),
        )
        self.commit_index = self.driver.commit
        self.term = self.driver.term
        peers = {
            member.id: member.peer_urls[0]
            for member in server.members.values()
            if member.id != server.member.id
        }
        self.transport = PeerTransport(
            server.member.id,
            server.cluster_id,
            peers,
            self.driver.report_unreachable,
            self.driver.report_snapshot,
        )
        self.receiver = PeerReceiver(server.cluster_id, self.driver.step)

    def _init_requests(self, member_id: int, election_timeout_ms: int) -> None:
        """The state of proposals and reads waiting for Raft (apart, so tests can drive it
        with a fake driver)."""
        self.term = 0
        self.leader = NO_LEADER
        self.commit_index = 0
        self.request_timeout = 5.0 + 2 * election_timeout_ms / 1000
        self.leader_wait = 3 * election_timeout_ms / 1000
        self._ids = itertools.count(int.from_bytes(os.urandom(6), "big") << 16)
        # request id -> (deadline, future), in insertion (= deadline) order
        self._waiters: dict[int, tuple[float, asyncio.Future]] = {}
        self._leader_known = asyncio.Event()
        self._applied_changed = asyncio.Event()
        self._read_batch: list[asyncio.Future] = []
        self._reads_in_flight: dict[bytes, list[asyncio.Future]] = {}
        # A ReadIndex context must be unique among every member's pending reads: the
        # leader keeps one entry per context and ignores a duplicate, so two members
        # counting from the same start would starve each other's reads until timeout.
        self._read_contexts = itertools.count(int.from_bytes(os.urandom(6), "big") << 16)
        self._read_prefix = member_id.to_bytes(8, "big")
        self._pending_indexes: dict[bytes, int] = {}
        self._read_task: asyncio.Task | None = None
        self._publish_task: asyncio.Task | None = None
        self._expiry_task: asyncio.Task | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.transport.start()
        self.driver.start(self.transport)
        self._publish_task = asyncio.create_task(self._publish(), name="publish-member")
        self._expiry_task = asyncio.create_task(self._expire_proposals(), name="expire-proposals")

    async def stop(self) -> None:
        for task in (self._publish_task, self._read_task, self._expiry_task):
            if task is not None:
                task.cancel()
        await self.driver.stop()
        await self.transport.stop()
        waiting = [future for _, future in self._waiters.values()]
        for future in [*waiting, *self._read_batch]:
            if not future.done():
                future.set_exception(errors.server_stopped())

    async def _publish(self) -> None:
        """Tell the cluster this member's client URLs (member list shows them)."""
        member = self.server.member
        request = {"member": member.id, "client_urls": member.client_urls}
        while True:
            try:
                await self.propose("publish", request)
                return
            except errors.EtcdError:
                await asyncio.sleep(0.2)

    # ---- the server's side ----------------------------------------------------------------

    def has_leader(self) -> bool:
        return self.leader != NO_LEADER

    def read_revision(self) -> int:
        return self.server.store.current_revision

    async def wait_for_leader(self) -> None:
        await self._wait_for_leader(time.monotonic() + self.leader_wait)

    async def _wait_for_leader(self, deadline: float) -> None:
        while self.leader == NO_LEADER:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.no_leader()
            self._leader_known.clear()
            try:
                await asyncio.wait_for(self._leader_known.wait(), remaining)
            except TimeoutError:
                raise errors.no_leader() from None

    async def propose(self, kind: str, request: dict) -> dict:
        await self._wait_for_leader(time.monotonic() + self.leader_wait)
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiters[request_id] = (time.monotonic() + self.request_timeout, future)
        try:
            payload = msgpack.packb([request_id, kind, request], use_bin_type=True)
            self.driver.propose([payload])
            return await future
        finally:
            self._waiters.pop(request_id, None)

    async def _expire_proposals(self) -> None:
        """Fail proposals nobody applied in time (dropped with a leader, or stuck).

        One sweeper instead of a timer per request (a timer cost ~6% of a request's CPU):
        every waiter has the same timeout, so the dict's insertion order is deadline order
        and a sweep stops at the first waiter still in time.
        """
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_S)
            now = time.monotonic()
            # Failing a future only schedules its waiter (which then leaves the dict), so
            # the dict does not change under this loop.
            for deadline, future in self._waiters.values():
                if deadline > now:
                    break
                if not future.done():
                    future.set_exception(errors.request_timed_out())

    async def read_barrier(self) -> None:
        """Wait until this member may answer a linearizable read. No timer of its own:
        the read round resolves every future of its batch by its deadline."""
        future = asyncio.get_running_loop().create_future()
        self._read_batch.append(future)
        if self._read_task is None or self._read_task.done():
            self._read_task = asyncio.create_task(self._read_rounds())
        await future

    async def _read_rounds(self) -> None:
        """Issue one ReadIndex for every read queued so far, until none are left.

        A ReadIndex request can be lost (the leader died, a peer stream broke); like etcd,
        ask again under a fresh context every READ_RETRY_S until one is answered. Any
        answer releases the batch: every context was issued after its reads arrived.
        """
        while self._read_batch:
            batch, self._read_batch = self._read_batch, []
            deadline = time.monotonic() + self.request_timeout
            contexts: list[bytes] = []
            try:
                while not all(future.done() for future in batch):
                    if time.monotonic() >= deadline:
                        break
                    if not any(context in self._pending_indexes for context in contexts):
                        await self._wait_for_leader(deadline)
                        context = self._read_prefix + next(self._read_contexts).to_bytes(8, "big")
                        self._reads_in_flight[context] = batch
                        if not self.driver.read_index(context):
                            self._reads_in_flight.pop(context, None)
                            await asyncio.sleep(0.05)
                            continue
                        contexts.append(context)
                    await self._wait_applied(batch, min(deadline, time.monotonic() + READ_RETRY_S))
            except errors.EtcdError as error:
                for future in batch:
                    if not future.done():
                        future.set_exception(error)
            finally:  # also when stopped: no read waits for a round that is gone
                for context in contexts:
                    self._reads_in_flight.pop(context, None)
                    self._pending_indexes.pop(context, None)
                for future in batch:
                    if not future.done():
                        future.set_exception(errors.request_timed_out())

    async def _wait_applied(self, batch: list[asyncio.Future], until: float) -> None:
        """Wait until `batch` is released or `until` passes, waking on every apply."""
        while not all(future.done() for future in batch):
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            self._applied_changed.clear()
            try:
                await asyncio.wait_for(self._applied_changed.wait(), remaining)
            except TimeoutError:
                return

    # ---- the state machine's side (called by the driver) ----------------------------------

    def applied_index(self) -> int:
        return self.server.applied_index

    def apply(self, entries: list[Entry]) -> None:
        server = self.server
        server.store.begin_group()
        try:
            self._apply_each(entries)
        finally:
            server.store.end_group()
        self._release_reads()
        self._applied_changed.set()

    def _apply_each(self, entries: list[Entry]) -> None:
        server = self.server
        for entry in entries:
            if entry.index <= server.applied_index:
                continue
            if not entry.data:
                server.apply_entry(entry.index, "noop", {})
                continue
            request_id, kind, request = msgpack.unpackb(entry.data, raw=False)
            outcome = server.apply_entry(entry.index, kind, request)
            _, future = self._waiters.get(request_id, (0.0, None))
            if future is not None and not future.done():
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def make_durable(self) -> None:
        self.server.backend.sync()

    def snapshot_data(self) -> bytes:
        backend = self.server.backend
        dump = [
            [family, [[key, value] for key, value in backend.iterate(family)]]
            for family in SNAPSHOT_FAMILIES
        ]
        return msgpack.packb(dump, use_bin_type=True)

    def restore(self, data: bytes) -> None:
        self.server.restore_from(msgpack.unpackb(data, raw=False))

    def on_soft_state(self, soft_state: SoftState, term: int) -> None:
        if soft_state.leader != self.leader:
            log.info("leader is now %x (term %d)", soft_state.leader, term)
        self.leader = soft_state.leader
        self.term = term
        self.server.leases.set_leading(soft_state.role == StateRole.LEADER)
        self.commit_index = self.driver.commit
        if self.leader != NO_LEADER:
            self._leader_known.set()

    def on_read_states(self, read_states: list[ReadState]) -> None:
        for state in read_states:
            if state.context in self._reads_in_flight:
                self._pending_indexes[state.context] = state.index
        self._release_reads()

    def _release_reads(self) -> None:
        pending = self._pending_indexes
        self.commit_index = self.driver.commit
        for context, index in list(pending.items()):
            if index <= self.server.applied_index:
                del pending[context]
                for future in self._reads_in_flight.pop(context, []):
                    if not future.done():
                        future.set_result(None)
        self._applied_changed.set()
