"""What a leader knows about each follower's log, and how fast it may send to it.

A follower is in one of three states:
- PROBE: we do not know where its log matches ours. Send one append, then
  wait for its answer (or the next heartbeat answer) before sending again.
- REPLICATE: its log matches up to `match`. Send appends back to back
  (pipelining), optimistically advancing `next`, limited by `Inflights`.
- SNAPSHOT: it needs entries we compacted. Send nothing until the snapshot
  is reported applied or failed.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """A bounded window of append messages sent but not yet acknowledged."""

    __slots__ = ("capacity", "max_bytes", "_last_indexes", "_sizes", "bytes")

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._last_indexes: deque[int] = deque()
        self._sizes: deque[int] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._last_indexes)

    def add(self, last_index: int, size: int) -> None:
        if self.full():
            raise OverflowError("inflights window is full")
        self._last_indexes.append(last_index)
        self._sizes.append(size)
        self.bytes += size

    def free_le(self, index: int) -> None:
        """Forget messages whose last entry is at or below `index` (they were acknowledged)."""
        while self._last_indexes and self._last_indexes[0] <= index:
            self._last_indexes.popleft()
            self.bytes -= self._sizes.popleft()

    def free_first_one(self) -> None:
        if self._last_indexes:
            self._last_indexes.popleft()
            self.bytes -= self._sizes.popleft()

    def full(self) -> bool:
        if len(self._last_indexes) >= self.capacity:
            return True
        return self.max_bytes is not None and self.bytes >= self.max_bytes

    def reset(self) -> None:
        self._last_indexes.clear()
        self._sizes.clear()
        self.bytes = 0


class Progress:
    __slots__ = (
        "match",
        "next",
        "state",
        "pending_snapshot",
        "recent_active",
        "probe_sent",
        "inflights",
        "is_learner",
    )

    def __init__(
        self, next_index: int, inflights: Inflights, *, is_learner: bool = False, match: int = 0
    ) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.probe_sent = False
        self.inflights = inflights
        self.is_learner = is_learner

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.name} match={self.match} next={self.next}"
            f" inflight={len(self.inflights)}{' learner' if self.is_learner else ''})"
        )

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            # The snapshot (if it arrived) covers up to pending_snapshot: probe after it.
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def sent_entries(self, count: int, size: int) -> None:
        """Account for an append carrying `count` entries starting at `next`."""
        if self.state == ProgressState.REPLICATE:
            if count:
                last = self.next + count - 1
                self.next = last + 1
                self.inflights.add(last, size)
        elif self.state == ProgressState.PROBE:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged `index`. False if the news is stale."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append after `rejected`; `match_hint` is where to probe next.

        False when the rejection is stale (it answers a message we no longer wait on).
        """
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True
