"""What the driver needs from the application: a state machine, and listeners for events.

Two protocols because they are two concerns. `StateMachine` is the storage-facing part:
it receives committed entries and must make them durable with the applied index, so a
restart skips what is already applied. `RaftEvents` hears about leadership and read
points, which only the serving layer cares about. One object may implement both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..messages import Entry, ReadState, SoftState


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
class RaftEvents(Protocol):
    def on_soft_state(self, soft_state: SoftState, term: int) -> None:
        """The leader, our role or the term changed (called on the event loop)."""
        ...

    def on_read_states(self, read_states: list[ReadState]) -> None:
        """ReadIndex answers: reads for each context may be served once its index is applied."""
        ...
