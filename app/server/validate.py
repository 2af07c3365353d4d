"""Checks made before a request is proposed, as etcd's v3rpc layer makes them.

Their order matters: etcd answers the first failing check, and clients see which.
"""

from __future__ import annotations

from keyraft.app.server import errors
from keyraft.app.server.requests import Compare, DeleteRange, Op, Put, Range, SortTarget, Txn

_SORT_TARGETS = frozenset(SortTarget)


def check_range(request: Range) -> None:
    if not request.key:
        raise errors.KeyNotProvided
    if request.sort_target not in _SORT_TARGETS:
        # etcd 3.4.23 crashes on an unknown sort target; we refuse it instead.
        raise errors.InvalidSortOption


def check_put(request: Put) -> None:
    if not request.key:
        raise errors.KeyNotProvided
    if request.ignore_value and request.value:
        raise errors.ValueProvided
    if request.ignore_lease and request.lease:
        raise errors.LeaseProvided


def check_delete(request: DeleteRange) -> None:
    if not request.key:
        raise errors.KeyNotProvided


def check_txn(request: Txn, max_ops: int) -> None:
    _check_txn_ops(request, max_ops)
    _check_intervals(request.success)
    _check_intervals(request.failure)


def _check_txn_ops(request: Txn, max_ops: int) -> None:
    count = max(len(request.compare), len(request.success), len(request.failure))
    if count > max_ops:
        raise errors.TooManyOps
    compare: Compare
    for compare in request.compare:
        if not compare.key:
            raise errors.KeyNotProvided
    for op in request.success + request.failure:
        _check_op(op, max_ops - count)


def _check_op(op: Op, max_ops: int) -> None:
    match op:
        case Range():
            check_range(op)
        case Put():
            check_put(op)
        case DeleteRange():
            check_delete(op)
        case Txn():
            _check_txn_ops(op, max_ops)
        case None:
            raise errors.KeyNotFound


class _Deletes:
    """Deleted intervals of one transaction level: [start, end), end None = a point,
    end b"" = to the end of the keyspace."""

    def __init__(self) -> None:
        self.intervals: list[tuple[bytes, bytes | None]] = []

    def add(self, start: bytes, end: bytes | None) -> None:
        self.intervals.append((start, end))

    def covers(self, key: bytes) -> bool:
        for start, end in self.intervals:
            if end is None:
                if key == start:
                    return True
            elif start <= key and (end == b"\x00" or end == b"" or key < end):
                return True
        return False

    def union(self, other: _Deletes) -> None:
        self.intervals.extend(other.intervals)


def _check_intervals(ops: tuple[Op, ...]) -> tuple[set[bytes], _Deletes]:
    """etcd's rule: no key is written twice by one transaction, across nesting levels
    (except in the two exclusive branches of one nested txn)."""
    deletes = _Deletes()
    for op in ops:
        if isinstance(op, DeleteRange):
            deletes.add(op.key, op.range_end or None)
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, Txn):
            continue
        puts_then, deletes_then = _check_intervals(op.success)
        puts_else, deletes_else = _check_intervals(op.failure)
        for key in puts_then:
            if key in puts or deletes.covers(key):
                raise errors.DuplicateKey
            puts.add(key)
        for key in puts_else:
            if (key in puts and key not in puts_then) or deletes.covers(key):
                raise errors.DuplicateKey
            puts.add(key)
        deletes.union(deletes_then)
        deletes.union(deletes_else)
    for op in ops:
        if not isinstance(op, Put):
            continue
        if op.key in puts or deletes.covers(op.key):
            raise errors.DuplicateKey
        puts.add(op.key)
    return puts, deletes
