"""keyraft's Raft core: a pure, deterministic Raft state machine (no I/O, clock or threads).

Drive a `RawNode` with `tick()`, `step()` and the request methods; do what each
`Ready` says (persist, send, apply); then `advance()`. See `raft.node`.
"""

from __future__ import annotations

from .codec import (
    decode_conf_change,
    decode_entry,
    decode_hard_state,
    decode_message,
    decode_snapshot,
    encode_conf_change,
    encode_entry,
    encode_hard_state,
    encode_message,
    encode_snapshot,
)
from .config import Config
from .errors import (
    CodecError,
    CompactedError,
    ConfigError,
    LogInvariantError,
    ProposalDropped,
    RaftError,
    ReadIndexDropped,
    ReadyNotAdvancedError,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailable,
    StepLocalMessageError,
    UnavailableError,
)
from .messages import (
    NO_LEADER,
    ConfChange,
    ConfChangeType,
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
)
from .node import PeerStatus, RawNode, Ready, Status
from .progress import ProgressState
from .storage import LogStorage, MemoryStorage

__all__ = [
    "NO_LEADER",
    "CodecError",
    "CompactedError",
    "Config",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "ConfigError",
    "Entry",
    "EntryType",
    "HardState",
    "LogInvariantError",
    "LogStorage",
    "MemoryStorage",
    "Message",
    "MessageType",
    "PeerStatus",
    "ProgressState",
    "ProposalDropped",
    "RaftError",
    "RawNode",
    "ReadIndexDropped",
    "ReadState",
    "Ready",
    "ReadyNotAdvancedError",
    "Snapshot",
    "SnapshotOutOfDateError",
    "SnapshotTemporarilyUnavailable",
    "SoftState",
    "StateRole",
    "Status",
    "StepLocalMessageError",
    "UnavailableError",
    "decode_conf_change",
    "decode_entry",
    "decode_hard_state",
    "decode_message",
    "decode_snapshot",
    "encode_conf_change",
    "encode_entry",
    "encode_hard_state",
    "encode_message",
    "encode_snapshot",
]
