"""Recording concurrent client operations for the checker.

Times come from one monotonic clock shared by every client thread, so an operation that
completed before another was invoked is ordered before it, whatever the wall clock does.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from tests.chaos.checker import Operation


@dataclass
class Observation:
    """A successful answer's header revision, as one client saw it, in its own order."""

    client: int
    revision: int
    what: str


@dataclass
class History:
    """Thread-safe log of operations and of the revisions each client observed."""

    origin: float = field(default_factory=time.monotonic)
    operations: list[Operation] = field(default_factory=list)
    observations: dict[int, list[Observation]] = field(default_factory=dict)
    acknowledged: list[tuple[str, str, int]] = field(default_factory=list)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def record(self, operation: Operation) -> None:
        with self._lock:
            self.operations.append(operation)

    def record_revision(self, client: int, revision: int, what: str) -> None:
        with self._lock:
            self.observations.setdefault(client, []).append(Observation(client, revision, what))

    def record_acknowledged(self, key: str, value: str, revision: int) -> None:
        """A write the cluster acknowledged, and the revision it says the write got."""
        with self._lock:
            self.acknowledged.append((key, value, revision))

    def record_dropped(self) -> None:
        """An operation that certainly never reached a member (refused connection)."""
        with self._lock:
            self.dropped += 1

    def snapshot(self) -> list[Operation]:
        with self._lock:
            return list(self.operations)

    def counts(self) -> dict[str, int]:
        with self._lock:
            ops = list(self.operations)
        return {
            "total": len(ops),
            "get": sum(1 for op in ops if op.kind == "get"),
            "put": sum(1 for op in ops if op.kind == "put"),
            "cas": sum(1 for op in ops if op.kind == "cas"),
            "indeterminate": sum(1 for op in ops if not op.known),
            "unreached": self.dropped,
        }


def timeline(history: History, bucket: float = 5.0) -> list[int]:
    """Determinate operations completed per `bucket` seconds: where the cluster stalled."""
    counts: list[int] = []
    for operation in history.snapshot():
        if operation.known and operation.client >= 0:
            slot = int(operation.complete // bucket)
            counts.extend([0] * (slot + 1 - len(counts)))
            counts[slot] += 1
    return counts


def revision_regressions(history: History) -> list[str]:
    """Places where a client saw the revision go backwards between its own operations."""
    problems = []
    for client, seen in sorted(history.observations.items()):
        highest = -math.inf
        for observation in seen:
            if observation.revision < highest:
                problems.append(
                    f"client {client}: revision {observation.revision} on {observation.what} "
                    f"after it had seen {int(highest)}"
                )
            highest = max(highest, observation.revision)
    return problems
