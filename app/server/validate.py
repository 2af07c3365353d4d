"""Checks made before a request is proposed, as etcd's v3rpc layer makes them.

Their order matters: etcd answers the first failing check, and clients see which.
"""

from __future__ import annotations

from keyraft.app import errors

NO_END = object()


def check_range(request: dict) -> None:
    if not request.get("key"):
        raise errors.key_not_provided()
    if request.get("sort_target", 0) not in (0, 1, 2, 3, 4):
        # etcd 3.4.23 crashes on an unknown sort target; we refuse it instead.
        raise errors.invalid_sort_option()


def check_put(request: dict) -> None:
    if not request.get("key"):
        raise errors.key_not_provided()
    if request.get("ignore_value") and request.get("value"):
        raise errors.value_provided()
    if request.get("ignore_lease") and request.get("lease"):
        raise errors.lease_provided()


def check_delete(request: dict) -> None:
    if not request.get("key"):
        raise errors.key_not_provided()


def check_txn(request: dict, max_ops: int) -> None:
    _check_txn_ops(request, max_ops)
    _check_intervals(request.get("success", []))
    _check_intervals(request.get("failure", []))


def _check_txn_ops(request: dict, max_ops: int) -> None:
    compares = request.get("compare", [])
    count = max(len(compares), len(request.get("success", [])), len(request.get("failure", [])))
    if count > max_ops:
        raise errors.too_many_ops()
    for compare in compares:
        if not compare.get("key"):
            raise errors.key_not_provided()
    for op in request.get("success", []) + request.get("failure", []):
        _check_op(op, max_ops - count)


def _check_op(op: dict, max_ops: int) -> None:
    if "request_range" in op:
        check_range(op["request_range"])
    elif "request_put" in op:
        check_put(op["request_put"])
    elif "request_delete_range" in op:
        check_delete(op["request_delete_range"])
    elif "request_txn" in op:
        _check_txn_ops(op["request_txn"], max_ops)
    else:
        raise errors.key_not_found()


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


def _check_intervals(ops: list[dict]) -> tuple[set[bytes], _Deletes]:
    """etcd's rule: no key is written twice by one transaction, across nesting levels
    (except in the two exclusive branches of one nested txn)."""
    deletes = _Deletes()
    for op in ops:
        delete = op.get("request_delete_range")
        if delete is not None:
            deletes.add(delete.get("key", b""), delete.get("range_end") or None)
    puts: set[bytes] = set()
    for op in ops:
        nested = op.get("request_txn")
        if nested is None:
            continue
        puts_then, deletes_then = _check_intervals(nested.get("success", []))
        puts_else, deletes_else = _check_intervals(nested.get("failure", []))
        for key in puts_then:
            if key in puts or deletes.covers(key):
                raise errors.duplicate_key()
            puts.add(key)
        for key in puts_else:
            if (key in puts and key not in puts_then) or deletes.covers(key):
                raise errors.duplicate_key()
            puts.add(key)
        deletes.union(deletes_then)
        deletes.union(deletes_else)
    for op in ops:
        put = op.get("request_put")
        if put is None:
            continue
        key = put.get("key", b"")
        if key in puts or deletes.covers(key):
            raise errors.duplicate_key()
        puts.add(key)
    return puts, deletes
