"""`RawNode`: the API an application drives, and the `Ready` it hands back.

The driving loop, the same contract as etcd's raft:

    while node.has_ready():
        ready = node.ready()
        1. persist ready.snapshot, ready.entries, then ready.hard_state
           (an entry at index i replaces any persisted entry >= i);
           fsync if ready.must_sync
        2. send ready.messages (only now: they may promise what was just persisted);
           report a failed send with report_unreachable, a snapshot outcome
           with report_snapshot
        3. install ready.snapshot in the state machine, then apply
           ready.committed_entries in order; for a CONF_CHANGE entry call
           apply_conf_change; serve reads whose ReadState index is applied
        4. node.advance(ready)

Proposals are not guaranteed to commit even when accepted (a leader can lose
its term). An application that needs to know re-proposes after a timeout.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from . import codec
from .coalesce import coalesce_appends
from .config import Config
from .core import Raft
from .errors import (
    ProposalDropped,
    ReadIndexDropped,
    ReadyNotAdvancedError,
    StepLocalMessageError,
)
from .messages import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SoftState,
    StateRole,
    is_local,
    is_response,
)
from .progress import ProgressState
from .storage import LogStorage


@dataclass(slots=True)
class Ready:
    """Everything the application must do before calling `advance`. None/empty = nothing to do."""

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    read_states: list[ReadState] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    must_sync: bool = False


@dataclass(slots=True, frozen=True)
class PeerStatus:
    match: int
    next: int
    state: ProgressState
    is_learner: bool
    recent_active: bool


@dataclass(slots=True, frozen=True)
class Status:
    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    conf_state: ConfState
    leader_transferee: int
    progress: dict[int, PeerStatus]  # filled on the leader only


class RawNode:
    __slots__ = ("raft", "_previous_soft", "_previous_hard", "_outstanding")

    def __init__(self, config: Config, storage: LogStorage) -> None:
        self.raft = Raft(config, storage)
        self._previous_soft = self.raft.soft_state()
        self._previous_hard, _ = storage.initial_state()
        self._outstanding: Ready | None = None

    # ---- inputs ----

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured)."""
        self.raft.step(Message(type=MessageType.HUP))

    def propose(self, data: bytes) -> None:
        """Propose `data` for the log. Raises `ProposalDropped` if no leader can take it."""
        self._propose(Entry(term=0, index=0, type=EntryType.NORMAL, data=data))

    def propose_batch(self, payloads: list[bytes]) -> None:
        """Propose several payloads in one message: they land in the log together, in order."""
        if not payloads:
            return
        entries = [Entry(term=0, index=0, data=data) for data in payloads]
        self.raft.step(Message(type=MessageType.PROPOSE, entries=entries))

    def propose_conf_change(self, change: ConfChange) -> None:
        """Propose one membership change. Raises `ProposalDropped` if one is still pending."""
        data = codec.encode_conf_change(change)
        self._propose(Entry(term=0, index=0, type=EntryType.CONF_CHANGE, data=data))

    def _propose(self, entry: Entry) -> None:
        self.raft.step(Message(type=MessageType.PROPOSE, entries=[entry]))

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point; the answer is a `ReadState` with this `context`.

        `context` must be non-empty and unique among reads in flight (e.g. a request id).
        """
        if not context:
            raise ValueError("read_index needs a non-empty context")
        self.raft.step(Message(type=MessageType.READ_INDEX, context=context))

    def transfer_leader(self, to: int) -> None:
        self.raft.step(Message(type=MessageType.TRANSFER_LEADER, sender=to))

    def step(self, message: Message) -> None:
        """Feed a message from a peer. Refused requests forwarded by peers are dropped quietly."""
        if is_local(message.type):
            raise StepLocalMessageError(f"{message.type.name} cannot arrive from the network")
        if is_response(message.type) and message.sender not in self.raft.tracker.progress:
            return  # an answer from a node that is no longer a member
        # A refused request that a peer forwarded: the peer retries on its own timeout.
        with contextlib.suppress(ProposalDropped, ReadIndexDropped):
            self.raft.step(message)

    def report_unreachable(self, node_id: int) -> None:
        self.raft.step(Message(type=MessageType.UNREACHABLE, sender=node_id))

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        self.raft.step(Message(type=MessageType.SNAPSHOT_STATUS, sender=node_id, reject=not ok))

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        return self.raft.apply_conf_change(change)

    # ---- outputs ----

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        return bool(self.raft.msgs or self.raft.read_states) or self._has_state_work()

    def has_messages_only(self) -> bool:
        """Whether the pending Ready would hold messages and read states and nothing
        else: nothing to persist, apply or announce, so every message in it promises only
        what earlier Readies made durable."""
        if self._outstanding is not None:
            return False
        return bool(self.raft.msgs or self.raft.read_states) and not self._has_state_work()

    def _has_state_work(self) -> bool:
        """Whether the pending Ready has something to persist, apply or announce."""
        raft = self.raft
        log = raft.log
        return bool(
            log.unstable.entries
            or log.unstable.snapshot is not None
            or log.has_next_committed_entries()
            or raft.soft_state() != self._previous_soft
            or raft.hard_state() != self._previous_hard
        )

    def ready(self) -> Ready:
        if self._outstanding is not None:
            raise ReadyNotAdvancedError("advance() the previous Ready first")
        raft = self.raft
        log = raft.log
        ready = Ready(
            entries=list(log.unstable.entries),
            snapshot=log.unstable.snapshot,
            committed_entries=log.next_committed_entries(),
            messages=coalesce_appends(raft.msgs, raft.max_msg_size),
            read_states=raft.read_states,
        )
        raft.msgs = []
        raft.read_states = []
        soft = raft.soft_state()
        if soft != self._previous_soft:
            ready.soft_state = soft
            self._previous_soft = soft
        hard = raft.hard_state()
        if hard != self._previous_hard:
            ready.hard_state = hard
        previous = self._previous_hard
        ready.must_sync = bool(ready.entries) or (
            hard.term != previous.term or hard.vote != previous.vote
        )
        if ready.committed_entries:
            log.accept_applying(ready.committed_entries[-1].index)
        self._outstanding = ready
        return ready

    def advance(self, ready: Ready | None = None) -> None:
        """The application finished with the outstanding Ready (persisted, sent, applied)."""
        outstanding = self._outstanding
        if outstanding is None:
            raise ReadyNotAdvancedError("advance() without an outstanding Ready")
        if ready is not None and ready is not outstanding:
            raise ReadyNotAdvancedError("advance() with a Ready that is not the outstanding one")
        self._outstanding = None
        log = self.raft.log
        if outstanding.hard_state is not None:
            self._previous_hard = outstanding.hard_state
        if outstanding.entries:
            last = outstanding.entries[-1]
            log.stable_to(last.index, last.term)
        if outstanding.snapshot is not None:
            log.stable_snapshot_to(outstanding.snapshot.index)
            log.applied_to(outstanding.snapshot.index)
        if outstanding.committed_entries:
            log.applied_to(outstanding.committed_entries[-1].index)

    # ---- inspection ----

    def status(self) -> Status:
        raft = self.raft
        progress: dict[int, PeerStatus] = {}
        if raft.role == StateRole.LEADER:
            progress = {
                node_id: PeerStatus(p.match, p.next, p.state, p.is_learner, p.recent_active)
                for node_id, p in raft.tracker.progress.items()
            }
        return Status(
            id=raft.id,
            hard_state=raft.hard_state(),
            soft_state=raft.soft_state(),
            applied=raft.log.applied,
            conf_state=raft.tracker.conf_state(),
            leader_transferee=raft.leader_transferee,
            progress=progress,
        )
