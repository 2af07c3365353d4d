"""Errors the Raft core raises. Each name says what went wrong."""

from __future__ import annotations


class RaftError(Exception):
    """Base of every error raised by `raft`."""


class ConfigError(RaftError, ValueError):
    """The `Config` cannot describe a working node."""


class ProposalDropped(RaftError):
    """The proposal was not appended anywhere; the caller may retry (e.g. after a leader appears)."""


class ReadIndexDropped(RaftError):
    """The read request was not accepted (no known leader); the caller may retry."""


class CompactedError(RaftError):
    """The requested index precedes the log's first index: it was compacted into a snapshot."""


class UnavailableError(RaftError):
    """The requested index is beyond the last index the log holds."""


class SnapshotOutOfDateError(RaftError):
    """A snapshot older than the one the storage already holds."""


class SnapshotTemporarilyUnavailable(RaftError):
    """The storage cannot produce a snapshot right now; the leader tries again later."""


class StepLocalMessageError(RaftError):
    """A local-only message type arrived through `step` from the network."""


class ReadyNotAdvancedError(RaftError):
    """`ready()` was called again before the previous Ready was advanced."""


class LogInvariantError(RaftError):
    """An operation would break a log invariant (e.g. truncate committed entries). A bug, not a fault."""


class CodecError(RaftError, ValueError):
    """Bytes that do not decode as a message of a supported version."""
