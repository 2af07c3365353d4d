"""The in-memory key index: for every key, the revisions at which it changed.

etcd keeps a B-tree of keys, each with generations of revisions. We keep the same facts
flatter: per key, one history of (main, sub, is_tombstone) in revision order, plus the
live generation's create revision, version and lease (what the next write needs without a
backend read). A key can change at most once per main revision (etcd's duplicate-key rule
holds inside transactions), so a binary search on main revisions finds the version
visible at any revision. Keys are kept in a sorted list for range scans.

A history is a `bytearray`: a 24-byte head (create revision, version, lease) and 16 bytes
a change (main revision; sub revision << 1 | tombstone), as signed 64-bit integers like
etcd's. Not objects with lists of ints: Python's garbage collector walks every object
that can hold references, and a full collection with millions of keys stalled the event
loop for hundreds of milliseconds (27 ms per 100,000 keys on a 2-core VM); a bytearray
holds none, so the collector never looks at it (and it takes half the memory).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator

from sortedcontainers import SortedList

KeyHistory = bytearray
_HEAD = struct.Struct("<qqq")  # create revision, version, lease
_CHANGE = struct.Struct("<qq")  # main revision, sub revision << 1 | tombstone
_HEAD_BYTES, _CHANGE_BYTES = _HEAD.size, _CHANGE.size


def _new_history() -> KeyHistory:
    return bytearray(_HEAD_BYTES)


def changes(history: KeyHistory) -> int:
    return (len(history) - _HEAD_BYTES) // _CHANGE_BYTES


def _change(history: KeyHistory, position: int) -> tuple[int, int, bool]:
    main, packed = _CHANGE.unpack_from(history, _HEAD_BYTES + position * _CHANGE_BYTES)
    return main, packed >> 1, bool(packed & 1)


def _mains(history: KeyHistory) -> memoryview:
    """The main revisions of a history's changes, as a sequence (no copy)."""
    return memoryview(history)[_HEAD_BYTES:].cast("q")[::2]


def is_live(history: KeyHistory) -> bool:
    """The key exists now: its last change is not a deletion."""
    return len(history) > _HEAD_BYTES and not history[-8] & 1


def create_revision(history: KeyHistory) -> int:
    return _HEAD.unpack_from(history)[0]


def version(history: KeyHistory) -> int:
    return _HEAD.unpack_from(history)[1]


def latest(history: KeyHistory) -> tuple[int, int]:
    """(main, sub) of the last change."""
    main, packed = _CHANGE.unpack_from(history, len(history) - _CHANGE_BYTES)
    return main, packed >> 1


def visible_at(history: KeyHistory, revision: int) -> tuple[int, int] | None:
    """The (main, sub) of the version visible at `revision`, or None if absent then."""
    if len(history) == _HEAD_BYTES:
        return None
    main, packed = _CHANGE.unpack_from(history, len(history) - _CHANGE_BYTES)
    if main > revision:
        with _mains(history) as mains:
            position = bisect_right(mains, revision) - 1
        if position < 0:
            return None
        main, packed = _CHANGE.unpack_from(history, _HEAD_BYTES + position * _CHANGE_BYTES)
    return None if packed & 1 else (main, packed >> 1)


def _append(history: KeyHistory, main: int, sub: int, tombstone: bool) -> None:
    history += _CHANGE.pack(main, sub << 1 | tombstone)


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

    def live_leases(self) -> Iterator[tuple[bytes, int]]:
        """(key, lease) of every live key attached to a lease, in key order."""
        histories = self._histories
        for key in self._keys:
            history = histories[key]
            lease = _HEAD.unpack_from(history)[2]
            if lease and is_live(history):
                yield key, lease

    def record_put(
        self, key: bytes, main: int, sub: int, lease: int
    ) -> tuple[int, int, tuple[int, int] | None]:
        """Record a put: the key's (create revision, version) after it, and the (main, sub)
        of the live version it replaces, if any. One lookup of the key for all three: this
        runs for every put every member applies."""
        history = self._histories.get(key)
        previous = None
        if history is None:  # a new key: its history made whole at once
            self._histories[key] = bytearray(
                _HEAD.pack(main, 1, lease) + _CHANGE.pack(main, sub << 1)
            )
            self._keys.add(key)
            return main, 1, None
        if is_live(history):
            created, current, _lease = _HEAD.unpack_from(history)
            current += 1
            previous = latest(history)
        else:
            created, current = main, 1
        _HEAD.pack_into(history, 0, created, current, lease)
        _append(history, main, sub, False)
        return created, current, previous

    def record_delete(self, key: bytes, main: int, sub: int) -> None:
        history = self._histories[key]
        _append(history, main, sub, True)
        _HEAD.pack_into(history, 0, 0, 0, 0)

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
            history = self._histories[key] = _new_history()
            self._keys.add(key)
        _append(history, main, sub, tombstone)
        if tombstone:
            _HEAD.pack_into(history, 0, 0, 0, 0)
        else:
            _HEAD.pack_into(history, 0, record_create, record_version, record_lease)

    def compact(self, revision: int) -> list[tuple[int, int, bool]]:
        """Forget versions superseded at `revision`; return the (main, sub, tombstone) dropped.

        The newest version at or below `revision` stays readable unless it is a tombstone,
        exactly as etcd's keyIndex.compact.
        """
        dropped: list[tuple[int, int, bool]] = []
        emptied: list[bytes] = []
        for key, history in self._histories.items():
            count = changes(history)
            if not count or _CHANGE.unpack_from(history, _HEAD_BYTES)[0] > revision:
                continue
            with _mains(history) as mains:
                position = bisect_right(mains, revision) - 1
            cut = position + 1 if _change(history, position)[2] else position
            if cut <= 0:
                continue
            dropped.extend(_change(history, index) for index in range(cut))
            del history[_HEAD_BYTES : _HEAD_BYTES + cut * _CHANGE_BYTES]
            if cut == count:
                emptied.append(key)
        for key in emptied:
            del self._histories[key]
            self._keys.remove(key)
        return dropped
