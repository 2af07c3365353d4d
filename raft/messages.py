"""The values that flow into and out of the Raft core.

Everything here is a plain record. Entries, states and snapshots are frozen:
once the core hands one out, nobody may change it under its feet. `Message`
is the one mutable record, because the core stamps `term` and `sender` on
its way out (see `core.Raft.send`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple


class MessageType(IntEnum):
    """Kinds of messages. The numbers are part of the wire format: never reuse one."""

    HUP = 0  # local: start an election
    BEAT = 1  # local: leader sends heartbeats
    PROPOSE = 2
    APPEND = 3
    APPEND_RESPONSE = 4
    VOTE = 5
    VOTE_RESPONSE = 6
    SNAPSHOT = 7
    HEARTBEAT = 8
    HEARTBEAT_RESPONSE = 9
    UNREACHABLE = 10  # local: the transport could not reach a peer
    SNAPSHOT_STATUS = 11  # local: the transport reports how sending a snapshot went
    CHECK_QUORUM = 12  # local: leader checks that a quorum is still active
    TRANSFER_LEADER = 13
    TIMEOUT_NOW = 14
    READ_INDEX = 15
    READ_INDEX_RESPONSE = 16
    PRE_VOTE = 17
    PRE_VOTE_RESPONSE = 18


LOCAL_MESSAGES = frozenset(
    {
        MessageType.HUP,
        MessageType.BEAT,
        MessageType.UNREACHABLE,
        MessageType.SNAPSHOT_STATUS,
        MessageType.CHECK_QUORUM,
    }
)

RESPONSE_MESSAGES = frozenset(
    {
        MessageType.APPEND_RESPONSE,
        MessageType.VOTE_RESPONSE,
        MessageType.HEARTBEAT_RESPONSE,
        MessageType.UNREACHABLE,
        MessageType.PRE_VOTE_RESPONSE,
    }
)


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    UPDATE_NODE = 2  # carries only context for the application; Raft ignores it
    ADD_LEARNER_NODE = 3


class StateRole(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


NO_LEADER = 0
"""Node ids are positive; 0 means "nobody" (no leader, no vote, a local message)."""


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
# and an Entry is built for every proposal on the leader and every entry a follower
# decodes (1.8 us each, against ~0.5 us). Nothing changes an entry once made.
@dataclass(slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


# HardState and SoftState are named tuples: Raft builds and compares both on every
# check for work (several per message received); a frozen dataclass cost ~1.5 us to
# build and ~0.5 us to compare, a tuple a fraction of that.
class HardState(NamedTuple):
    """What a node must persist before it sends anything that depends on it."""

    term: int = 0
    vote: int = 0
    commit: int = 0


class SoftState(NamedTuple):
    """Volatile facts worth telling the application: who leads, and our role."""

    leader: int = NO_LEADER
    role: StateRole = StateRole.FOLLOWER


@dataclass(slots=True, frozen=True)
class ConfState:
    """Membership: ids that vote, and ids that only receive the log."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class Snapshot:
    """The state machine as of `index`/`term`, with the membership at that point."""

    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)
    data: bytes = b""


@dataclass(slots=True, frozen=True)
class ConfChange:
    """A single-server membership change, proposed as an entry's data."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""


@dataclass(slots=True, frozen=True)
class ReadState:
    """Answer to a ReadIndex request: reads for `context` may be served once `index` is applied."""

    index: int
    context: bytes


@dataclass(slots=True)
class Message:
    type: MessageType
    to: int = 0
    sender: int = 0
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


ENTRY_OVERHEAD_BYTES = 21
"""An entry's fixed header on the wire (term, index, type, length)."""


def entry_size(entry: Entry) -> int:
    """Bytes an entry costs against `max_size_per_msg`: its payload plus its fixed wire header."""
    return len(entry.data) + ENTRY_OVERHEAD_BYTES


def is_local(message_type: MessageType) -> bool:
    return message_type in LOCAL_MESSAGES


def is_response(message_type: MessageType) -> bool:
    return message_type in RESPONSE_MESSAGES


def vote_response_type(message_type: MessageType) -> MessageType:
    if message_type == MessageType.VOTE:
        return MessageType.VOTE_RESPONSE
    if message_type == MessageType.PRE_VOTE:
        return MessageType.PRE_VOTE_RESPONSE
    raise ValueError(f"not a vote message: {message_type!r}")
