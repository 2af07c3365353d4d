"""What the driver needs from the application: a state machine, and listeners for events.

Two protocols because they are two concerns. `StateMachine` is the storage-facing part:
it receives committed entries and must make them durable with the applied index, so a
restart skips what is already applied. `RaftEvents` hears about leadership and read
points, which only the serving layer cares about. One object may implement both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..messages import ConfChange, ConfState, Entry, ReadState, SoftState


class StateMachine(Protocol):
    def applied_index(self) -> int:
        """The index of the last entry applied durably (0 for an empty machine)."""
        ...

    def apply(self, entries: list[Entry]) -> None:
        """Apply committed entries in order; entries at or below the applied index are
        skipped. The applied index must be stored atomically with what it covers."""
        ...

    def make_durable(self) -> None:
        """Sync everything applied so far (before the log behind it is discarded)."""
        ...

    def snapshot_data(self) -> bytes:
        """The whole state, for a follower too far behind to catch up from the log."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a leader's `snapshot_data`."""
        ...


@runtime_checkable
class MembershipStateMachine(Protocol):
    """A state machine that keeps the membership itself (etcd's server does): it decides
    whether a committed conf change takes effect, and says what the configuration is at
    its applied index, which a restart or a snapshot install gives back to Raft."""

    def apply_conf_change(self, entry: Entry) -> ConfChange | None:
        """Apply a committed CONF_CHANGE entry (recording its index like any entry): the
        change Raft must make, or None if it was refused or is already applied."""
        ...

    def conf_state(self) -> ConfState:
        """Voters and learners as of the applied index (empty: not known yet)."""
        ...


@runtime_checkable
class RaftEvents(Protocol):
    def on_soft_state(self, soft_state: SoftState, term: int) -> None:
        """The leader, our role or the term changed (called on the event loop)."""
        ...

    def on_read_states(self, read_states: list[ReadState]) -> None:
        """ReadIndex answers: reads for each context may be served once its index is applied."""
        ...
