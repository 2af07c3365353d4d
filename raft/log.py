"""The Raft log as the core sees it: durable storage plus a not-yet-persisted tail.

`Unstable` holds what the core appended (or a snapshot it received) that the
application has not yet confirmed as persisted. `RaftLog` joins it to the
`LogStorage` and keeps the commit and apply cursors.

Guarantees kept here (a violation raises `LogInvariantError`, a bug):
- a committed entry is never truncated or overwritten;
- `applied <= applying <= committed <= last_index`.
"""

from __future__ import annotations

from .errors import CompactedError, LogInvariantError, UnavailableError
from .messages import Entry, EntryType, Snapshot
from .storage import LogStorage, limit_size


class Unstable:
    """Entries from `offset` on (and maybe a snapshot) not yet persisted by the application."""

    __slots__ = ("snapshot", "entries", "offset")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        return self.snapshot.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.index == index:
                return self.snapshot.term
            return None
        position = index - self.offset
        if position >= len(self.entries):
            return None
        return self.entries[position].term

    def stable_to(self, index: int, term: int) -> None:
        """The application persisted entries up to `index` (written with `term`)."""
        if self.maybe_term(index) != term or index < self.offset:
            return  # overwritten since that Ready was handed out
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # Replaces everything unstable; persisted entries from `after` on are stale too.
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)

    def slice(self, low: int, high: int) -> list[Entry]:
        return self.entries[low - self.offset : high - self.offset]


class RaftLog:
    __slots__ = ("storage", "unstable", "committed", "applying", "applied", "max_applying_size")

    def __init__(self, storage: LogStorage, max_applying_size: int | None = None) -> None:
        self.storage = storage
        first = storage.first_index()
        self.unstable = Unstable(storage.last_index() + 1)
        self.committed = first - 1
        self.applying = first - 1  # handed to the application, maybe not applied yet
        self.applied = first - 1
        self.max_applying_size = max_applying_size

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed}, applied={self.applied}, "
            f"unstable.offset={self.unstable.offset}, unstable={len(self.unstable.entries)})"
        )

    # ---- positions ----

    def first_index(self) -> int:
        index = self.unstable.maybe_first_index()
        return index if index is not None else self.storage.first_index()

    def last_index(self) -> int:
        index = self.unstable.maybe_last_index()
        return index if index is not None else self.storage.last_index()

    def term(self, index: int) -> int:
        """Term of the entry at `index`; `CompactedError`/`UnavailableError` outside the log."""
        term = self.unstable.maybe_term(index)
        if term is not None:
            return term
        if index < self.first_index() - 1:
            raise CompactedError(f"entry {index} is compacted")
        if index > self.last_index():
            raise UnavailableError(f"entry {index} is beyond the last index {self.last_index()}")
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (CompactedError, UnavailableError):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (CompactedError, UnavailableError):
            return False

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Is a log ending at (`last_index`, `last_term`) at least as up to date as ours (§5.4.1)?"""
        our_term = self.last_term()
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index())

    # ---- reading entries ----

    def slice(self, low: int, high: int, max_size: int | None = None) -> list[Entry]:
        """Entries [low, high) within `max_size` bytes (at least one)."""
        if low >= high:
            return []
        if low < self.first_index():
            raise CompactedError(f"entry {low} is compacted")
        if high > self.last_index() + 1:
            raise UnavailableError(
                f"entries up to {high - 1} requested, last is {self.last_index()}"
            )
        offset = self.unstable.offset
        entries: list[Entry] = []
        if low < offset:
            entries = self.storage.entries(low, min(high, offset), max_size)
            if len(entries) < min(high, offset) - low:
                return entries  # the size limit cut it short
        if high > offset:
            entries = entries + self.unstable.slice(max(low, offset), high)
        return limit_size(entries, max_size)

    def entries_from(self, low: int, max_size: int | None = None) -> list[Entry]:
        if low > self.last_index():
            return []
        return self.slice(low, self.last_index() + 1, max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def has_pending_snapshot(self) -> bool:
        return self.unstable.snapshot is not None

    def has_next_committed_entries(self) -> bool:
        if self.has_pending_snapshot():
            return False
        return self.committed > max(self.applying, self.first_index() - 1)

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet handed to the application (empty while a snapshot is pending)."""
        if not self.has_next_committed_entries():
            return []
        low = max(self.applying + 1, self.first_index())
        return self.slice(low, self.committed + 1, self.max_applying_size)

    def has_unapplied_conf_changes(self) -> bool:
        """Is a committed membership change still waiting to be applied?"""
        low = max(self.applied + 1, self.first_index())
        if low > self.committed:
            return False
        entries = self.slice(low, self.committed + 1)
        return any(entry.type == EntryType.CONF_CHANGE for entry in entries)

    # ---- changing the log ----

    def append(self, entries: list[Entry]) -> int:
        if not entries:
            return self.last_index()
        if entries[0].index - 1 < self.committed:
            raise LogInvariantError(
                f"appending at {entries[0].index} would overwrite committed {self.committed}"
            )
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries: list[Entry]) -> int:
        """Index of the first entry whose term differs from ours (or that we lack); 0 if none."""
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest (i, term(i)) with i <= `index` and term(i) <= `term`: a backtracking hint.

        All entries in (i, index] have a term above `term`, so they cannot match a
        log whose entry at `index` has `term`; the leader may skip them at once.
        """
        while index > 0:
            try:
                our_term = self.term(index)
            except (CompactedError, UnavailableError):
                return index, 0
            if our_term <= term:
                return index, our_term
            index -= 1
        return 0, 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: list[Entry]
    ) -> int | None:
        """Append a leader's entries after (`index`, `log_term`) if we hold that entry.

        Returns the index of the last new entry, or None when the consistency check
        fails. Entries we already hold are kept, so a stale or duplicated message
        never truncates a longer matching log.
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise LogInvariantError(
                    f"entry {conflict} conflicts with committed {self.committed}"
                )
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise LogInvariantError(
                    f"commit {index} is beyond the last index {self.last_index()}"
                )
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to `index` if the entry there was written in `term` (Figure 8 / §5.4.2)."""
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def accept_applying(self, index: int) -> None:
        self.applying = max(self.applying, index)

    def applied_to(self, index: int) -> None:
        if index > self.committed:
            raise LogInvariantError(f"applied {index} is beyond committed {self.committed}")
        self.applied = max(self.applied, index)
        self.applying = max(self.applying, index)

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snapshot_to(self, index: int) -> None:
        self.unstable.stable_snapshot_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.index
        self.unstable.restore(snapshot)
