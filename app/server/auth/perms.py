"""A user's permissions merged over all its roles, as key intervals.

etcd grants a role permissions on a single key (empty range end), on [key, range_end), or
on every key from `key` on (range end "\\0"); a user may read (write) a range when the
union of its READ (WRITE) intervals covers it without a gap, and a single key when any
interval holds it (etcd's `checkKeyInterval` / `checkKeyPoint` over an interval tree).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from keyraft.app.server.requests import PermType

# An interval [begin, end); end None is "to the end of the keyspace".
Interval = tuple[bytes, bytes | None]


class Permission(NamedTuple):
    perm_type: int  # PermType
    key: bytes
    range_end: bytes


def interval(key: bytes, range_end: bytes) -> Interval:
    """The keys a permission (or a request) names."""
    if not range_end:
        return key, key + b"\x00"
    return key, None if range_end == b"\x00" else range_end


class Permissions:
    """The READ and WRITE intervals of one user, sorted by their start."""

    def __init__(self, perms: Iterable[Permission]) -> None:
        read: list[Interval] = []
        write: list[Interval] = []
        for perm in perms:
            found = interval(perm.key, perm.range_end)
            if perm.perm_type in (PermType.READ, PermType.READWRITE):
                read.append(found)
            if perm.perm_type in (PermType.WRITE, PermType.READWRITE):
                write.append(found)
        self.read = sorted(read, key=lambda item: item[0])
        self.write = sorted(write, key=lambda item: item[0])

    def allows(self, writing: bool, key: bytes, range_end: bytes) -> bool:
        intervals = self.write if writing else self.read
        if not range_end:
            return any(b <= key and (e is None or key < e) for b, e in intervals)
        begin, end = interval(key, range_end)
        return _covers(intervals, begin, end)


def _covers(intervals: list[Interval], begin: bytes, end: bytes | None) -> bool:
    """Whether sorted intervals cover [begin, end) with no gap."""
    reach = begin
    for b, e in intervals:
        if b > reach:
            return False
        if e is None:
            return True
        if e > reach:
            reach = e
        if end is not None and reach >= end:
            return True
    return False
