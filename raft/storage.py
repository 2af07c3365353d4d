"""What the core reads from durable storage, and an in-memory implementation.

The core only *reads* storage. Writes happen in the application, driven by
`Ready`: append `Ready.entries`, save `Ready.hard_state`, install
`Ready.snapshot`. So whatever `LogStorage` holds is exactly what survived:
after a crash a node restarts from it and nothing else.

Indexes: the storage holds a snapshot at index S (S is 0 on a fresh node)
and entries S+1..L. `first_index()` is S+1, `last_index()` is L and
`term(S)` is still answerable (the snapshot's term).
"""

from __future__ import annotations

from typing import Protocol

from .errors import CompactedError, LogInvariantError, SnapshotOutOfDateError, UnavailableError
from .messages import ConfState, Entry, HardState, Snapshot, entry_size


class LogStorage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, low: int, high: int, max_size: int | None = None) -> list[Entry]:
        """Entries [low, high), at most `max_size` bytes but always at least one."""
        ...

    def term(self, index: int) -> int: ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot: ...


def limit_size(entries: list[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix within `max_size` bytes, but never empty if `entries` is not."""
    if max_size is None or not entries:
        return entries
    total = entry_size(entries[0])
    count = 1
    for entry in entries[1:]:
        total += entry_size(entry)
        if total > max_size:
            break
        count += 1
    return entries[:count]


class MemoryStorage:
    """`LogStorage` held in lists. Position 0 of `_entries` is a stand-in for the snapshot."""

    __slots__ = ("_hard_state", "_snapshot", "_entries")

    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        self._entries: list[Entry] = [Entry(term=0, index=0)]

    # ---- LogStorage ----

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.conf_state

    def entries(self, low: int, high: int, max_size: int | None = None) -> list[Entry]:
        offset = self._entries[0].index
        if low <= offset:
            raise CompactedError(f"entry {low} is compacted (snapshot at {offset})")
        if high > self.last_index() + 1:
            raise UnavailableError(
                f"entries up to {high - 1} requested, last is {self.last_index()}"
            )
        return limit_size(self._entries[low - offset : high - offset], max_size)

    def term(self, index: int) -> int:
        offset = self._entries[0].index
        if index < offset:
            raise CompactedError(f"term of {index} is compacted (snapshot at {offset})")
        if index - offset >= len(self._entries):
            raise UnavailableError(f"term of {index} requested, last is {self.last_index()}")
        return self._entries[index - offset].term

    def first_index(self) -> int:
        return self._entries[0].index + 1

    def last_index(self) -> int:
        return self._entries[0].index + len(self._entries) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # ---- writes, done by the application while handling a Ready ----

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace everything with `snapshot` (received from a leader, or a bootstrap)."""
        if snapshot.index <= self._snapshot.index:
            raise SnapshotOutOfDateError(
                f"snapshot at {snapshot.index} is not newer than {self._snapshot.index}"
            )
        self._snapshot = snapshot
        self._entries = [Entry(term=snapshot.term, index=snapshot.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a snapshot of the application's state as of (applied) `index`."""
        if index <= self._snapshot.index:
            raise SnapshotOutOfDateError(
                f"snapshot at {index} is not newer than {self._snapshot.index}"
            )
        if index > self.last_index():
            raise UnavailableError(f"snapshot at {index} is beyond the last index")
        offset = self._entries[0].index
        term = self._entries[index - offset].term
        self._snapshot = Snapshot(index=index, term=term, conf_state=conf_state, data=data)
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Drop entries up to `compact_index`; a snapshot covering them must exist already."""
        offset = self._entries[0].index
        if compact_index <= offset:
            raise CompactedError(f"already compacted up to {offset}")
        if compact_index > self.last_index():
            raise UnavailableError(f"compaction to {compact_index} is beyond the last index")
        if compact_index > self._snapshot.index:
            raise LogInvariantError(
                f"compaction to {compact_index} is beyond the snapshot at {self._snapshot.index}"
            )
        position = compact_index - offset
        keep = self._entries[position:]
        self._entries = [Entry(term=keep[0].term, index=compact_index), *keep[1:]]

    def append(self, entries: list[Entry]) -> None:
        """Append, overwriting any conflicting suffix (an entry at index i discards those >= i)."""
        if not entries:
            return
        first = self.first_index()
        last_new = entries[-1].index
        if last_new < first:
            return  # all of it is already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._entries[0].index
        if offset > len(self._entries):
            raise LogInvariantError(
                f"gap: appending at {entries[0].index} after last index {self.last_index()}"
            )
        del self._entries[offset:]
        self._entries.extend(entries)
