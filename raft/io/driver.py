"""The asyncio driver around the pure core: ticks, the Ready loop, the WAL, the network.

One task handles Ready after Ready: persist (WAL, fsync in a worker thread), send,
install snapshots, apply committed entries, report read states, advance. Calls into the
node (step, propose, tick) happen on the same event loop, between awaits, so the core is
never entered concurrently; proposals that arrive while a WAL write is in flight ride in
the next Ready, which is how proposals, appends and fsyncs get batched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Container

from ..codec import decode_conf_change
from ..config import Config
from ..errors import ProposalDropped, RaftError, ReadIndexDropped
from ..messages import (
    ENTRY_OVERHEAD_BYTES,
    NO_LEADER,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SoftState,
    StateRole,
)
from ..node import RawNode, Ready
from ..storage import MemoryStorage
from .clock import Clock, SystemClock
from .disk_thread import DiskThread
from .log_writer import LogWriter
from .state_machine import MembershipStateMachine, RaftEvents, StateMachine
from .transport import Transport
from .wal import WriteAheadLog, remove_segments

_PROMISE_FREE = frozenset(
    {MessageType.HEARTBEAT_RESPONSE, MessageType.PROPOSE, MessageType.READ_INDEX}
)
__all__ = ["RaftDriver", "RaftEvents", "StateMachine"]  # the protocols, for older imports

log = logging.getLogger("keyraft.raft")


class _SnapshottingStorage(MemoryStorage):
    """Memory storage whose snapshot carries the state machine's data, made on demand."""

    __slots__ = ("data_source",)

    def snapshot(self) -> Snapshot:
        base = super().snapshot()
        if base.index == 0:
            return base
        return Snapshot(base.index, base.term, base.conf_state, self.data_source())


def _ignore(_seconds: float) -> None:
    pass


class RaftDriver:
    """One member's Raft: the core, its WAL, and the loops that feed and drain it.

    `events` hears about leadership and read points; it defaults to `state_machine`,
    which must then implement `RaftEvents` too. `max_message_bytes` bounds the entries
    of one append and of one batch of proposals (at least one entry each), so a peer
    can cap its frames (see `raft.io.peer_receiver`). `clock` paces the ticks (the event
    loop's by default) and `rng` randomizes election timeouts (seed it in tests).
    `on_failure(loop name, error)` hears of a loop that failed; by default it ends the
    process (crash-stop: `stop_process`); an in-process test records it instead.
    `native_aio=False` keeps the log's writes and fsyncs on the disk thread even where
    Linux AIO could sync them (`raft.io.log_writer`).
    """

    def __init__(
        self,
        node_id: int,
        voters: tuple[int, ...],
        wal_dir: str,
        state_machine: StateMachine,
        tick_seconds: float,
        election_ticks: int,
        snapshot_count: int,
        catch_up_entries: int = 5000,
        *,
        max_message_bytes: int = 1024 * 1024,
        events: RaftEvents | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
        native_aio: bool = True,
    ) -> None:
        if events is None:
            if not isinstance(state_machine, RaftEvents):
                raise TypeError("pass events=, or a state machine that implements RaftEvents")
            events = state_machine
        self.node_id = node_id
        self.state_machine = state_machine
        self.events = events
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.on_failure = on_failure if on_failure is not None else stop_process
        self.tick_seconds = tick_seconds
        self.snapshot_count = snapshot_count
        self.max_message_bytes = max_message_bytes
        self.catch_up_entries = catch_up_entries
        self.wal = WriteAheadLog(wal_dir)
        self._disk = DiskThread("raft-disk")
        self.log_writer = LogWriter(self.wal, self._disk, native_aio)
        self._purger = DiskThread("raft-purge")  # removes compacted segments, unwaited
        recovered = self.wal.recovered
        if recovered.repaired_bytes:
            log.warning("repaired the log: dropped %d torn bytes", recovered.repaired_bytes)
        storage = _SnapshottingStorage()
        storage.data_source = state_machine.snapshot_data
        fresh = (
            recovered.snapshot.index == 0
            and not recovered.entries
            and recovered.hard_state.term == 0
        )
        if recovered.snapshot.index:
            storage.apply_snapshot(recovered.snapshot)
        storage.append(recovered.entries)
        storage.set_hard_state(recovered.hard_state)
        self.storage = storage
        # The last log index durably written (what a crash would leave).
        self._durable_index = storage.last_index()
        self.conf_state = recovered.snapshot.conf_state if not fresh else ConfState(voters)
        applied = min(state_machine.applied_index(), recovered.hard_state.commit)
        applied = max(applied, recovered.snapshot.index)
        self.node = RawNode(
            Config(
                id=node_id,
                voters=voters if fresh else (),
                election_tick=election_ticks,
                heartbeat_tick=1,
                max_size_per_msg=max_message_bytes,
                applied=applied,
                check_quorum=True,
                pre_vote=True,
                rng=rng if rng is not None else random.Random(),
            ),
            storage,
        )
        self.members_source = (
            state_machine if isinstance(state_machine, MembershipStateMachine) else None
        )
        self._adopt_members()
        self.transport: Transport | None = None
        self.applied = applied
        self.last_snapshot_index = recovered.snapshot.index
        self.leader = NO_LEADER
        self.term = recovered.hard_state.term
        self.commit = recovered.hard_state.commit
        # Timing hooks (the face points them at its metrics): seconds each synced WAL
        # save and each state machine sync took.
        self.observe_wal_sync: Callable[[float], None] = _ignore
        self.observe_backend_sync: Callable[[float], None] = _ignore
        self._wakeup = asyncio.Event()
        self._proposals: list[bytes] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._working = False

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self, transport: Transport) -> None:
        self.transport = transport
        self._tasks = [
            asyncio.create_task(self._ticker(), name="raft-ticker"),
            asyncio.create_task(self._ready_loop(), name="raft-ready"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._loop_ended)
        self._wakeup.set()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.on_failure(task.get_name(), error)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # A loop that failed has told `on_failure` already: its error is not raised again.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.log_writer.close()
        await self._disk.run(self.wal.close)  # after any write still under way
        await self._disk.close()
        await self._purger.close()

    def idle(self) -> bool:
        """Nothing in hand or pending: no Ready being handled, no wake-up or proposal queued.

        Lets a test (or a graceful shutdown) wait until the member has caught up with
        its inputs, instead of sleeping and hoping.
        """
        return not self._working and not self._wakeup.is_set() and not self._proposals

    def members(self) -> Container[int]:
        """Ids of the current configuration (voters and learners), as the core knows them
        now: the peer receiver takes messages only from these."""
        return self.node.raft.tracker.progress.keys()

    # ---- inputs ---------------------------------------------------------------------------

    def step(self, message: Message) -> None:
        try:
            self.node.step(message)
        except RaftError as error:
            log.debug("dropped message %s: %s", message.type, error)
            return
        self._wakeup.set()
        self._hand_over_messages()

    def propose(self, payloads: list[bytes]) -> None:
        """Queue proposals; the ready loop hands everything queued to Raft in one step.
        Dropped proposals (no leader) are never acknowledged: callers time out."""
        self._proposals.extend(payloads)
        self._wakeup.set()

    def _flush_proposals(self) -> None:
        if not self._proposals:
            return
        payloads, self._proposals = self._proposals, []
        # One PROPOSE per `max_message_bytes`, as the leader sizes its appends: a
        # follower forwards each as one frame, which must stay under the peers' cap.
        for batch in _batches(payloads, self.max_message_bytes):
            try:
                self.node.propose_batch(batch)
            except ProposalDropped:
                log.debug("dropped %d proposals: no leader", len(batch))

    def propose_conf_change(self, change: ConfChange) -> bool:
        """Propose one membership change; False if Raft dropped it (no leader, or another
        change still pending): the caller times out or retries, as with any proposal."""
        try:
            self.node.propose_conf_change(change)
        except ProposalDropped as error:
            log.info("membership change dropped: %s", error)
            return False
        self._wakeup.set()
        return True

    def transfer_leader(self, to: int) -> None:
        """Ask the leader (this member) to hand leadership to `to`."""
        self.node.transfer_leader(to)
        self._wakeup.set()

    def read_index(self, context: bytes) -> bool:
        try:
            self.node.read_index(context)
        except (ReadIndexDropped, ProposalDropped):
            return False
        self._wakeup.set()
        self._hand_over_messages()
        return True

    def _hand_over_messages(self) -> None:
        """Handle now a Ready of messages and read states alone, if the ready loop is
        idle: the loop would take it a turn of the event loop later, and under load a
        turn lasts milliseconds; a read round (four crossings, each handled by a Ready on
        its way) took ~9 ms on a busy follower. Nothing in such a Ready waits for a
        write, and with the loop idle every earlier Ready is done."""
        if self._working or self._proposals or self.transport is None:
            return
        if not self.node.has_messages_only():
            return
        ready = self.node.ready()
        self.transport.send(ready.messages)
        if ready.read_states:
            self.events.on_read_states(ready.read_states)
        self.node.advance(ready)

    def report_unreachable(self, node_id: int) -> None:
        self.node.report_unreachable(node_id)
        self._wakeup.set()

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        self.node.report_snapshot(node_id, ok)
        self._wakeup.set()

    # ---- loops ----------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(self.tick_seconds)
            self.node.tick()
            self._wakeup.set()

    async def _ready_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            # One turn of the event loop first: requests and peer frames already read
            # join this Ready instead of the next one. Bigger batches, fewer Readies,
            # appends and fsyncs: measured with bench.ab, puts +3-6% on 3 members, CPU per
            # put -4-7%, one member and reads unchanged.
            await asyncio.sleep(0)
            self._wakeup.clear()
            self._working = True
            self._flush_proposals()
            while self.node.has_ready():
                await self._handle(self.node.ready())
                if self._proposals:
                    # Proposals that came during that Ready's write ride in the next
                    # one (after a turn, as above), with the commit notices the acks
                    # made meanwhile: one append per follower instead of a notice and,
                    # a Ready later, the entries. bench.ab: put-all +12% (CPU -10%),
                    # mix +3%, put-leader and reads unchanged.
                    await asyncio.sleep(0)
                    self._flush_proposals()
            raft = self.node.raft
            single = raft.tracker.is_single_voter(self.node_id)
            if single and raft.role != StateRole.LEADER and raft.promotable():
                # Nobody else can win: do not wait an election timeout to lead.
                self.node.campaign()
                self._wakeup.set()
            self._working = False

    async def _handle(self, ready: Ready) -> None:
        if ready.soft_state is not None:
            self.leader = ready.soft_state.leader
        if ready.hard_state is not None:
            self.term = ready.hard_state.term
            self.commit = ready.hard_state.commit
        if ready.soft_state is not None or ready.hard_state is not None:
            self.events.on_soft_state(SoftState(self.leader, self.node.raft.role), self.term)
        if ready.snapshot is not None and ready.snapshot.index > 0:
            await self._install_snapshot(ready.snapshot)
        # A leader may send before its own write is durable (Raft thesis 10.2.1, as etcd
        # does): acks for these entries come back to a later Ready, handled only after
        # this write completes, so nothing is applied, answered or announced as committed
        # before a quorum including the leader holds it durably. Everyone else persists
        # first what it promises: a vote or an append ack.
        late = ready.messages
        if ready.messages and self.transport is not None:
            if self.node.raft.role == StateRole.LEADER:
                early, late = ready.messages, []
            else:
                early, late = self._promise_free(ready)
            if early:
                self.transport.send(early)
        committed = ready.committed_entries
        if committed and self._durable_already(committed[-1].index, ready.entries):
            # Committed entries this member already holds durably are applied (and their
            # clients answered) while the new ones are written, as etcd applies while it
            # saves: otherwise every answer waits for the next batch's fsync too.
            self._apply(committed)
            committed = []
        if ready.entries or ready.hard_state is not None:
            if ready.entries or ready.must_sync:
                started = time.perf_counter()
                await self.log_writer.save(ready.hard_state, ready.entries)
                self.observe_wal_sync(time.perf_counter() - started)
            else:
                # Only the commit index moved: nothing to sync (a crash may lose it, and
                # Raft learns it again), so no hop to the disk thread and back, which
                # cost two thread wake-ups a Ready on a busy machine.
                self.wal.buffer_hard_state(ready.hard_state)
            self.storage.append(ready.entries)
            if ready.entries:
                self._durable_index = ready.entries[-1].index
            if ready.hard_state is not None:
                self.storage.set_hard_state(ready.hard_state)
        if late and self.transport is not None:
            self.transport.send(late)
        if committed:
            self._apply(committed)
        if ready.read_states:
            self.events.on_read_states(ready.read_states)
        self.node.advance(ready)
        if self.applied - self.last_snapshot_index >= self.snapshot_count:
            await self._snapshot()

    def _promise_free(self, ready: Ready) -> tuple[list[Message], list[Message]]:
        """A follower's messages that promise nothing about its disk (heartbeat answers,
        requests it forwards: proposals, read indexes), and the rest. The first go before
        the write, the rest after: under writes, a read round and a forwarded put waited
        for a follower's fsync they do not need. All wait if this Ready changes the term
        or the vote, which every message carries."""
        hard_state = ready.hard_state
        persisted = self.storage.hard_state
        if hard_state is not None and (
            hard_state.term != persisted.term or hard_state.vote != persisted.vote
        ):
            return [], ready.messages
        early = [m for m in ready.messages if m.type in _PROMISE_FREE]
        if not early:
            return [], ready.messages
        return early, [m for m in ready.messages if m.type not in _PROMISE_FREE]

    def _durable_already(self, index: int, unsaved: list[Entry]) -> bool:
        """Whether the local log durably holds entries up to `index` as they are now:
        saved before, and none of them being rewritten by `unsaved` (a follower's
        conflicting tail is replaced from its first index on)."""
        return index <= self._durable_index and (not unsaved or index < unsaved[0].index)

    def _apply(self, entries: list[Entry]) -> None:
        normal: list[Entry] = []
        for entry in entries:
            if entry.type == EntryType.CONF_CHANGE:
                if normal:
                    self.state_machine.apply(normal)
                    normal = []
                self._apply_conf_change(entry)
            else:
                normal.append(entry)
        if normal:
            self.state_machine.apply(normal)
        self.applied = entries[-1].index

    async def _make_durable(self) -> None:
        started = time.perf_counter()
        await self._disk.run(self.state_machine.make_durable)
        self.observe_backend_sync(time.perf_counter() - started)

    def _apply_conf_change(self, entry: Entry) -> None:
        if self.members_source is not None:
            change = self.members_source.apply_conf_change(entry)
            if change is not None:
                self.conf_state = self.node.apply_conf_change(change)
            return
        if entry.data:
            self.conf_state = self.node.apply_conf_change(decode_conf_change(entry.data))
        self.state_machine.apply([Entry(entry.term, entry.index)])

    def _adopt_members(self) -> None:
        """Make Raft's configuration the state machine's (at start-up, after a snapshot):
        the conf changes up to its applied index are in it, refused ones left out."""
        if self.members_source is None:
            return
        target = self.members_source.conf_state()
        if not target.voters:
            return  # a joining member knows nobody until the leader's snapshot arrives
        current = self.node.status().conf_state
        changes = [
            ConfChange(ConfChangeType.ADD_NODE, node_id)
            for node_id in target.voters
            if node_id not in current.voters
        ]
        changes += [
            ConfChange(ConfChangeType.ADD_LEARNER_NODE, node_id)
            for node_id in target.learners
            if node_id not in current.learners
        ]
        changes += [
            ConfChange(ConfChangeType.REMOVE_NODE, node_id)
            for node_id in (*current.voters, *current.learners)
            if node_id not in target.voters and node_id not in target.learners
        ]
        for change in changes:
            self.conf_state = self.node.apply_conf_change(change)

    async def _install_snapshot(self, snapshot: Snapshot) -> None:
        # A bootstrap snapshot carries only the founding membership, no data.
        if snapshot.data:
            self.state_machine.restore(snapshot.data)
            await self._make_durable()
        self.storage.apply_snapshot(snapshot)
        self.conf_state = snapshot.conf_state
        if snapshot.data:
            self._adopt_members()
        hard_state = self.storage.hard_state
        await self._disk.run(self.wal.rewrite, snapshot, hard_state, [])
        self._durable_index = snapshot.index
        self.applied = max(self.applied, snapshot.index)
        self.last_snapshot_index = snapshot.index

    async def _snapshot(self) -> None:
        """Discard the log behind the applied state, keeping some entries for slow peers."""
        await self._make_durable()
        applied = self.applied
        compact_to = applied - self.catch_up_entries
        self.last_snapshot_index = applied
        if compact_to <= self.storage.first_index():
            return
        snapshot = self.storage.create_snapshot(compact_to, self.conf_state, b"")
        self.storage.compact(compact_to)
        covered = await self._disk.run(self.wal.compact, snapshot, self.storage.hard_state)
        if covered:
            self._purger.post(remove_segments, covered)
        log.info("snapshot at %d, log compacted to %d", applied, compact_to)


def _batches(payloads: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """`payloads` in order, cut where a batch's entries would pass `max_bytes` (counted
    as `entry_size` counts them; a batch holds at least one payload)."""
    batches: list[list[bytes]] = []
    batch: list[bytes] = []
    size = 0
    for payload in payloads:
        cost = len(payload) + ENTRY_OVERHEAD_BYTES
        if batch and size + cost > max_bytes:
            batches.append(batch)
            batch, size = [], 0
        batch.append(payload)
        size += cost
    if batch:
        batches.append(batch)
    return batches


def stop_process(loop_name: str, error: BaseException) -> None:
    """A Raft loop that failed (a WAL write hit a full disk, an apply raised) ends the process.

    Raft assumes crash-stop: a member that can no longer persist or apply must not keep
    running, or it lingers as a member that answers clients but never advances. Exiting
    is what etcd does (it panics); a restart repairs the torn WAL tail and catches up.
    """
    log.critical("%s failed, stopping the member", loop_name, exc_info=error)
    logging.shutdown()
    os._exit(1)
