"""What a leader does: replicate, commit, confirm reads, hand over leadership.

Functions over a Raft node in the LEADER role, typed against `raft.replica.Replica`
(not `core.Raft`, which imports this module).

Commit rule (§5.4.2, Figure 8): the leader advances the commit index only to
an index that a majority of voters hold *and* whose entry carries the
leader's current term. Earlier entries become committed indirectly. Counting
replicas of an older-term entry is unsafe: a later leader may overwrite it.

Flow control: see `raft.progress`. Every append carries at most
`max_size_per_msg` bytes (at least one entry); in REPLICATE state up to
`max_inflight_msgs` appends may be unacknowledged at once.
"""

from __future__ import annotations

from . import codec, membership, quorum
from .errors import CompactedError, LogInvariantError, ProposalDropped
from .messages import (
    NO_LEADER,
    Entry,
    EntryType,
    Message,
    MessageType,
    ReadState,
    StateRole,
    entry_size,
)
from .progress import Progress, ProgressState
from .replica import Replica


def empty_entry() -> Entry:
    return Entry(term=0, index=0)


def tick_heartbeat(raft: Replica) -> None:
    raft.heartbeat_elapsed += 1
    raft.election_elapsed += 1
    if raft.election_elapsed >= raft.election_timeout:
        raft.election_elapsed = 0
        if raft.check_quorum:
            raft.step(Message(type=MessageType.CHECK_QUORUM))
        if raft.role == StateRole.LEADER and raft.leader_transferee != NO_LEADER:
            abort_leader_transfer(raft)  # the transferee did not take over in time
    if raft.role != StateRole.LEADER:
        return
    if raft.heartbeat_elapsed >= raft.heartbeat_timeout:
        raft.heartbeat_elapsed = 0
        raft.step(Message(type=MessageType.BEAT))


def abort_leader_transfer(raft: Replica) -> None:
    raft.leader_transferee = NO_LEADER


# ---- appending and replicating ----


def append_entries(raft: Replica, entries: list[Entry]) -> None:
    """Stamp `entries` with our term and the next indexes, and append them to our log."""
    last = raft.log.last_index()
    term = raft.term
    stamped = [
        Entry(term=term, index=last + offset, type=entry.type, data=entry.data)
        for offset, entry in enumerate(entries, start=1)
    ]
    raft.log.append(stamped)
    raft.tracker.progress[raft.id].maybe_update(raft.log.last_index())
    maybe_commit(raft)  # a single voter commits at once


def maybe_commit(raft: Replica) -> bool:
    """Advance the commit index if a majority holds a current-term entry beyond it."""
    if not raft.log.maybe_commit(raft.tracker.committed(), raft.term):
        return False
    if raft.pending_read_index and raft.committed_entry_in_current_term():
        waiting, raft.pending_read_index = raft.pending_read_index, []
        for request in waiting:
            read_index(raft, request)
    return True


def send_append(raft: Replica, to: int) -> None:
    maybe_send_append(raft, to, send_if_empty=True)


def maybe_send_append(raft: Replica, to: int, *, send_if_empty: bool) -> bool:
    """Send `to` the entries it lacks (or a snapshot). False if nothing was sent."""
    progress = raft.tracker.progress[to]
    if progress.is_paused():
        return False
    log = raft.log
    try:
        previous_term = log.term(progress.next - 1)
        entries = log.entries_from(progress.next, raft.max_msg_size)
    except CompactedError:
        return _send_snapshot(raft, to, progress)
    if not entries and not send_if_empty:
        return False
    raft.send(
        Message(
            type=MessageType.APPEND,
            to=to,
            index=progress.next - 1,
            log_term=previous_term,
            entries=entries,
            commit=log.committed,
        )
    )
    size = sum(entry_size(entry) for entry in entries) if progress.inflights.max_bytes else 0
    progress.sent_entries(len(entries), size)
    return True


def _send_snapshot(raft: Replica, to: int, progress: Progress) -> bool:
    if not progress.recent_active:
        return False  # do not ship a snapshot to a node that may be down
    snapshot = raft.log.snapshot()
    if snapshot.index == 0:
        raise LogInvariantError("entries are compacted but there is no snapshot")
    progress.become_snapshot(snapshot.index)
    raft.send(Message(type=MessageType.SNAPSHOT, to=to, snapshot=snapshot))
    return True


def bcast_append(raft: Replica) -> None:
    for node_id in raft.tracker.progress:
        if node_id != raft.id:
            send_append(raft, node_id)


def bcast_heartbeat(raft: Replica, context: bytes | None = None) -> None:
    if context is None:
        context = raft.read_only.last_pending_context()
    committed = raft.log.committed
    for node_id, progress in raft.tracker.progress.items():
        if node_id == raft.id:
            continue
        # Never tell a follower to commit past what it is known to hold.
        raft.send(
            Message(
                type=MessageType.HEARTBEAT,
                to=node_id,
                commit=min(progress.match, committed),
                context=context,
            )
        )


# ---- requests ----


def propose(raft: Replica, m: Message) -> None:
    if not m.entries:
        raise ProposalDropped("empty proposal")
    if raft.id not in raft.tracker.progress:
        raise ProposalDropped("this node was removed from the cluster")
    if raft.leader_transferee != NO_LEADER:
        raise ProposalDropped("leadership transfer in progress")
    entries = list(m.entries)
    for position, entry in enumerate(entries):
        if entry.type != EntryType.CONF_CHANGE:
            continue
        if raft.pending_conf_index > raft.log.applied:
            if len(entries) == 1:
                raise ProposalDropped("a membership change is already pending")
            entries[position] = empty_entry()  # keep the rest of the batch
            continue
        membership.check_change(raft.tracker, codec.decode_conf_change(entry.data))
        raft.pending_conf_index = raft.log.last_index() + position + 1
    append_entries(raft, entries)
    bcast_append(raft)


def read_index(raft: Replica, m: Message) -> None:
    if raft.tracker.is_single_voter(raft.id):
        _answer_read(raft, m, raft.log.committed)
    elif not raft.committed_entry_in_current_term():
        # Our commit index may lag the cluster's until an entry of our term commits.
        raft.pending_read_index.append(m)
    else:
        raft.read_only.add_request(raft.log.committed, m)
        raft.read_only.receive_ack(raft.id, m.context)
        bcast_heartbeat(raft, m.context)


def _answer_read(raft: Replica, request: Message, index: int) -> None:
    if request.sender in (NO_LEADER, raft.id):
        raft.read_states.append(ReadState(index=index, context=request.context))
    else:
        raft.send(
            Message(
                type=MessageType.READ_INDEX_RESPONSE,
                to=request.sender,
                index=index,
                context=request.context,
            )
        )


# ---- the leader's step function ----


def step_leader(raft: Replica, m: Message) -> None:
    t = m.type
    if t == MessageType.BEAT:
        bcast_heartbeat(raft)
        return
    if t == MessageType.CHECK_QUORUM:
        if not raft.tracker.quorum_active(raft.id):
            raft.become_follower(raft.term, NO_LEADER)  # we cannot hear a majority
        for node_id, progress in raft.tracker.progress.items():
            if node_id != raft.id:
                progress.recent_active = False
        return
    if t == MessageType.PROPOSE:
        propose(raft, m)
        return
    if t == MessageType.READ_INDEX:
        read_index(raft, m)
        return

    progress = raft.tracker.progress.get(m.sender)
    if progress is None:
        return  # not (or no longer) a member
    if t == MessageType.APPEND_RESPONSE:
        _handle_append_response(raft, m, progress)
    elif t == MessageType.HEARTBEAT_RESPONSE:
        _handle_heartbeat_response(raft, m, progress)
    elif t == MessageType.SNAPSHOT_STATUS:
        if progress.state != ProgressState.SNAPSHOT:
            return
        if m.reject:
            progress.pending_snapshot = 0
        progress.become_probe()
        progress.probe_sent = True  # wait for a heartbeat answer before probing
    elif t == MessageType.UNREACHABLE:
        if progress.state == ProgressState.REPLICATE:
            progress.become_probe()
    elif t == MessageType.TRANSFER_LEADER:
        _handle_transfer_leader(raft, m, progress)


def _handle_append_response(raft: Replica, m: Message, progress: Progress) -> None:
    progress.recent_active = True
    if m.reject:
        next_probe = m.reject_hint
        if m.log_term > 0:
            # Skip all our entries after the hint whose term exceeds the follower's.
            next_probe, _ = raft.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if progress.maybe_decrease_to(m.index, next_probe):
            if progress.state == ProgressState.REPLICATE:
                progress.become_probe()
            send_append(raft, m.sender)
        return

    was_paused = progress.is_paused()
    if not progress.maybe_update(m.index):
        return
    if progress.state == ProgressState.PROBE:
        progress.become_replicate()
    elif progress.state == ProgressState.SNAPSHOT:
        if progress.match + 1 >= raft.log.first_index():
            progress.become_probe()
            progress.become_replicate()
    else:
        progress.inflights.free_le(m.index)

    if maybe_commit(raft):
        bcast_append(raft)
    elif was_paused:
        send_append(raft, m.sender)
    while maybe_send_append(raft, m.sender, send_if_empty=False):
        pass
    if m.sender == raft.leader_transferee and progress.match == raft.log.last_index():
        raft.send(Message(type=MessageType.TIMEOUT_NOW, to=m.sender))


def _handle_heartbeat_response(raft: Replica, m: Message, progress: Progress) -> None:
    progress.recent_active = True
    progress.probe_sent = False
    if progress.state == ProgressState.REPLICATE and progress.inflights.full():
        progress.inflights.free_first_one()  # unstick a window whose messages were lost
    if progress.match < raft.log.last_index():
        send_append(raft, m.sender)
    if not m.context:
        return
    acks = raft.read_only.receive_ack(m.sender, m.context)
    if acks is None or not quorum.has_quorum(raft.tracker.voters, acks):
        return
    for status in raft.read_only.advance(m.context):
        _answer_read(raft, status.request, status.index)


def _handle_transfer_leader(raft: Replica, m: Message, progress: Progress) -> None:
    if progress.is_learner:
        return
    transferee = m.sender
    if raft.leader_transferee != NO_LEADER:
        if raft.leader_transferee == transferee:
            return  # already under way
        abort_leader_transfer(raft)
    if transferee == raft.id:
        return
    raft.election_elapsed = 0  # the transfer must finish within one election timeout
    raft.leader_transferee = transferee
    if progress.match == raft.log.last_index():
        raft.send(Message(type=MessageType.TIMEOUT_NOW, to=transferee))
    else:
        send_append(raft, transferee)
