"""The lessor: leases, the keys attached to them, their persistence and their expiry.

What every member holds is deterministic and replicated: which leases exist, their granted
TTL and which keys are attached (all changed only by applying log entries). What only the
leader (the "primary") holds is the clock side: each lease's expiry time, kept in a heap so
finding the expired ones costs O(expired), never a scan. A follower's leases never expire;
when it is promoted it renews every lease to its full TTL (plus an extension) first, so a
failover never cuts a lease short.
"""

from __future__ import annotations

import heapq
import math
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from keyraft.storage.backend import Backend, Writes
from keyraft.storage.errors import LeaseExistsError, LeaseNotFoundError

FOREVER = math.inf
MAX_LEASE_TTL = 9_000_000_000  # seconds, etcd's MaxLeaseTTL
FAMILY = "lease"

_RECORD = struct.Struct(">qq")  # lease ID, granted TTL


def lease_key(lease_id: int) -> bytes:
    return struct.pack(">q", lease_id)


def lease_record(lease_id: int, ttl: int) -> bytes:
    return _RECORD.pack(lease_id, ttl)


@dataclass(slots=True)
class Lease:
    id: int
    ttl: int
    keys: set[bytes] = field(default_factory=set)
    expiry: float = FOREVER

    def remaining(self, now: float) -> float:
        return self.expiry - now


class Lessor:
    """Leases by ID; the key -> lease map mirrors each live key's current lease."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.leases: dict[int, Lease] = {}
        self.key_leases: dict[bytes, int] = {}
        self.primary = False
        self._heap: list[tuple[float, int]] = []

    # ---- replicated state (called while applying) -------------------------------------

    def grant(self, lease_id: int, ttl: int, batch: Writes) -> Lease:
        if lease_id in self.leases:
            raise LeaseExistsError
        lease = Lease(lease_id, ttl)
        self.leases[lease_id] = lease
        batch.put(FAMILY, lease_key(lease_id), lease_record(lease_id, ttl))
        if self.primary:
            self._set_expiry(lease, self.clock() + ttl)
        return lease

    def revoke(self, lease_id: int, batch: Writes) -> list[bytes]:
        """Forget the lease; return its keys (sorted) for the caller to delete in the same
        transaction."""
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            raise LeaseNotFoundError
        batch.delete(FAMILY, lease_key(lease_id))
        for key in lease.keys:
            self.key_leases.pop(key, None)
        return sorted(lease.keys)

    def exists(self, lease_id: int) -> bool:
        return lease_id in self.leases

    def key_changed(self, key: bytes, lease_id: int) -> None:
        """A key was written with `lease_id` (0: no lease) or deleted (0)."""
        old = self.key_leases.get(key, 0)
        if old == lease_id:
            return
        if old:
            previous = self.leases.get(old)
            if previous is not None:
                previous.keys.discard(key)
            del self.key_leases[key]
        if lease_id:
            lease = self.leases.get(lease_id)
            if lease is not None:
                lease.keys.add(key)
                self.key_leases[key] = lease_id

    def restore(self, backend: Backend, live_keys: Iterable[tuple[bytes, int]]) -> None:
        """Rebuild from the lease family and the key index's current leases."""
        self.leases.clear()
        self.key_leases.clear()
        self._heap.clear()
        for _key, value in backend.iterate(FAMILY):
            lease_id, ttl = _RECORD.unpack(value)
            self.leases[lease_id] = Lease(lease_id, ttl)
        for key, lease_id in live_keys:
            self.key_changed(key, lease_id)
        if self.primary:
            self.promote(0.0)

    # ---- the leader's clock ------------------------------------------------------------

    def promote(self, extend: float) -> None:
        """Become the one who expires leases: every lease starts a full TTL (+ `extend`)
        from now, as etcd's Promote does."""
        self.primary = True
        now = self.clock()
        self._heap = [(now + lease.ttl + extend, lease.id) for lease in self.leases.values()]
        for expiry, lease_id in self._heap:
            self.leases[lease_id].expiry = expiry
        heapq.heapify(self._heap)

    def demote(self) -> None:
        self.primary = False
        self._heap = []
        for lease in self.leases.values():
            lease.expiry = FOREVER

    def renew(self, lease_id: int) -> int:
        """Keep a lease alive for another full TTL; 0 if it is unknown or already expired
        (its revoke is on its way). Only meaningful on the primary."""
        lease = self.leases.get(lease_id)
        if lease is None:
            return 0
        now = self.clock()
        if lease.remaining(now) <= 0:
            return 0
        self._set_expiry(lease, now + lease.ttl)
        return lease.ttl

    def expired(self, limit: int) -> list[int]:
        """Up to `limit` leases whose expiry has passed. Stale heap entries (renewed or
        revoked leases) are dropped as they surface, so each costs O(log n) once."""
        now = self.clock()
        found: list[int] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(found) < limit:
            expiry, lease_id = heapq.heappop(heap)
            lease = self.leases.get(lease_id)
            if lease is not None and lease.expiry == expiry:
                found.append(lease_id)
        return found

    def retry_expiry(self, lease_id: int) -> None:
        """A revoke proposal failed: consider the lease expired again on the next check."""
        lease = self.leases.get(lease_id)
        if lease is not None and self.primary:
            self._set_expiry(lease, self.clock())

    def _set_expiry(self, lease: Lease, expiry: float) -> None:
        lease.expiry = expiry
        heapq.heappush(self._heap, (expiry, lease.id))

    # ---- reads -------------------------------------------------------------------------

    def time_to_live(self, lease_id: int) -> Lease | None:
        return self.leases.get(lease_id)

    def remaining_seconds(self, lease: Lease) -> int:
        """etcd truncates the remaining time to whole seconds; a non-primary (whose leases
        never expire here) reports the granted TTL."""
        if lease.expiry == FOREVER:
            return lease.ttl
        return max(0, int(lease.remaining(self.clock())))

    def by_expiry(self) -> list[Lease]:
        return sorted(self.leases.values(), key=lambda lease: (lease.expiry, lease.id))
