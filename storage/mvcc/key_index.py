"""The in-memory key index: for every key, the revisions at which it changed.

etcd keeps a B-tree of keys, each with generations of revisions. We keep the same facts
flatter: per key, one list of packed (main, sub, is_tombstone) in revision order, plus the
live generation's create revision, version and lease (what the next write needs without a
backend read). A key can change at most once per main revision (etcd's duplicate-key rule
holds inside transactions), so `bisect` on the packed revisions finds the version visible at any
revision. Keys are kept in a sorted list for range scans.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from sortedcontainers import SortedList

_SUB_BITS = 32


def _pack(main: int, sub: int, tombstone: bool) -> int:
    """One int per change (main, sub, tombstone), ordered as revisions are: a third of the
    memory of three parallel lists, which matters with millions of keys."""
    return (main << _SUB_BITS | sub) << 1 | tombstone


def _unpack(packed: int) -> tuple[int, int, bool]:
    return packed >> (_SUB_BITS + 1), (packed >> 1) & ((1 << _SUB_BITS) - 1), bool(packed & 1)


@dataclass(slots=True)
class KeyHistory:
    revisions: list[int] = field(default_factory=list)
    create_revision: int = 0
    version: int = 0
    lease: int = 0

    @property
    def live(self) -> bool:
        return bool(self.revisions) and not self.revisions[-1] & 1

    def latest(self) -> tuple[int, int]:
        main, sub, _tombstone = _unpack(self.revisions[-1])
        return main, sub

    def visible_at(self, revision: int) -> tuple[int, int] | None:
        """The (main, sub) of the version visible at `revision`, or None if absent then."""
        revisions = self.revisions
        if revisions and revisions[-1] >> (_SUB_BITS + 1) <= revision:
            packed = revisions[-1]
        else:
            position = bisect_left(revisions, _pack(revision + 1, 0, False)) - 1
            if position < 0:
                return None
            packed = revisions[position]
        main, sub, tombstone = _unpack(packed)
        return None if tombstone else (main, sub)

    def append(self, main: int, sub: int, tombstone: bool) -> None:
        self.revisions.append(_pack(main, sub, tombstone))


class KeyIndex:
    """Sorted keys with their histories."""

    def __init__(self) -> None:
        self._keys: SortedList = SortedList()
        self._histories: dict[bytes, KeyHistory] = {}

    def __len__(self) -> int:
        return len(self._histories)

    def get(self, key: bytes) -> KeyHistory | None:
        return self._histories.get(key)

    def scan(
        self, key: bytes, end: bytes | None, to_end: bool, after: bool = False
    ) -> Iterator[tuple[bytes, KeyHistory]]:
        """Histories of keys in [key, end), of all keys >= key if `to_end`, or of `key` alone.

        With `after`, `key` itself is left out: a scan resumed after the last key it saw
        (the index may have changed meanwhile; a fresh scan is always valid).
        """
        histories = self._histories
        if end is None and not to_end:
            history = histories.get(key)
            if history is not None and not after:
                yield key, history
            return
        if to_end:
            keys = self._keys.irange(key, None, inclusive=(not after, False))
        else:
            if end <= key:
                return
            keys = self._keys.irange(key, end, inclusive=(not after, False))
        for found in keys:
            yield found, histories[found]

    def record_put(self, key: bytes, main: int, sub: int, lease: int) -> KeyHistory:
        history = self._histories.get(key)
        if history is None:
            history = KeyHistory()
            self._histories[key] = history
            self._keys.add(key)
        if history.live:
            history.version += 1
        else:
            history.create_revision = main
            history.version = 1
        history.lease = lease
        history.append(main, sub, False)
        return history

    def record_delete(self, key: bytes, main: int, sub: int) -> None:
        history = self._histories[key]
        history.append(main, sub, True)
        history.create_revision = 0
        history.version = 0
        history.lease = 0

    def restore(
        self,
        key: bytes,
        main: int,
        sub: int,
        tombstone: bool,
        record_version: int,
        record_create: int,
        record_lease: int,
    ) -> None:
        """Rebuild one history entry from a backend record (on startup, in revision order)."""
        history = self._histories.get(key)
        if history is None:
            history = KeyHistory()
            self._histories[key] = history
            self._keys.add(key)
        history.append(main, sub, tombstone)
        if tombstone:
            history.create_revision = history.version = history.lease = 0
        else:
            history.create_revision = record_create
            history.version = record_version
            history.lease = record_lease

    def compact(self, revision: int) -> list[tuple[int, int, bool]]:
        """Forget versions superseded at `revision`; return the (main, sub, tombstone) dropped.

        The newest version at or below `revision` stays readable unless it is a tombstone,
        exactly as etcd's keyIndex.compact.
        """
        dropped: list[tuple[int, int, bool]] = []
        emptied: list[bytes] = []
        bound = _pack(revision + 1, 0, False)
        for key, history in self._histories.items():
            revisions = history.revisions
            if not revisions or revisions[0] >= bound:
                continue
            position = bisect_left(revisions, bound) - 1
            cut = position + 1 if revisions[position] & 1 else position
            if cut <= 0:
                continue
            dropped.extend(_unpack(packed) for packed in revisions[:cut])
            del revisions[:cut]
            if not revisions:
                emptied.append(key)
        for key in emptied:
            del self._histories[key]
            self._keys.remove(key)
        return dropped
