"""Apply requests to the MVCC store, exactly as etcd's applierV3backend does.

Everything here is deterministic: the same requests applied to the same store give the
same results and the same revisions on every member. Nothing reads a clock.
Responses are dicts in proto field order holding native values (bytes, ints,
`KeyValue`); their header holds only the revision (the face adds the member's identity),
and the face's codec turns them into etcd's JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from keyraft.app.server import errors
from keyraft.app.server.requests import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRange,
    Op,
    Put,
    Range,
    SortOrder,
    SortTarget,
    Txn,
)
from keyraft.storage.errors import StorageError
from keyraft.storage.mvcc.record import KeyValue
from keyraft.storage.mvcc.store import (
    DeferredRecords,
    MVCCStore,
    RangeOptions,
    RangeResult,
    WriteTxn,
)

Reader = Callable[[bytes, bytes | None, RangeOptions], RangeResult]

# Enum members as module globals: a class attribute lookup on an Enum costs ~0.1 us, on
# every range.
_UNSORTED, _BY_KEY = SortOrder.NONE, SortTarget.KEY
_SORTED = (SortOrder.ASCEND, SortOrder.DESCEND)
_SORT_KEYS: dict[int, Callable[[KeyValue], object]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def range_end(end: bytes) -> bytes | None:
    """etcd's mkGteRange: "\\0" means "to the end" (b""), empty means one key (None)."""
    if not end:
        return None
    return b"" if end == b"\x00" else end


def range_query(request: Range) -> tuple[bytes, bytes | None, RangeOptions]:
    """What a range request reads from the store: key, end and options."""
    fetch = request.limit
    if (
        request.sort_order != _UNSORTED
        or request.min_mod_revision
        or request.max_mod_revision
        or request.min_create_revision
        or request.max_create_revision
    ):
        fetch = 0
    if fetch > 0:
        fetch += 1
    options = RangeOptions(fetch, request.revision, request.count_only)
    return request.key, range_end(request.range_end), options


def range_answer(request: Range, result: RangeResult) -> dict:
    """A range's response from what the store read for `range_query`: filters, sort,
    limit, keys_only, as etcd's applier does them."""
    limit = request.limit
    sort_order = request.sort_order
    sort_target = request.sort_target
    min_mod, max_mod = request.min_mod_revision, request.max_mod_revision
    min_create, max_create = request.min_create_revision, request.max_create_revision
    kvs = result.kvs
    if isinstance(kvs, DeferredRecords):
        if _needs_records(request):
            kvs = kvs.read_all()
        else:
            return _deferred_answer(request, kvs, result)
    if max_mod:
        kvs = [kv for kv in kvs if kv.mod_revision <= max_mod]
    if min_mod:
        kvs = [kv for kv in kvs if kv.mod_revision >= min_mod]
    if max_create:
        kvs = [kv for kv in kvs if kv.create_revision <= max_create]
    if min_create:
        kvs = [kv for kv in kvs if kv.create_revision >= min_create]
    if sort_target != _BY_KEY and sort_order == _UNSORTED:
        sort_order = SortOrder.ASCEND
    if sort_order != _UNSORTED and sort_order in _SORTED:
        kvs = sorted(kvs, key=_SORT_KEYS[sort_target], reverse=sort_order == SortOrder.DESCEND)
    more = False
    if limit > 0 and len(kvs) > limit:
        kvs = kvs[:limit]
        more = True
    if request.keys_only:
        kvs = [
            KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"", kv.lease)
            for kv in kvs
        ]
    return {
        "header": {"revision": result.revision},
        "kvs": kvs,
        "more": more,
        "count": result.count,
    }


def _needs_records(request: Range) -> bool:
    """Whether an answer needs more of its records than their keys' order."""
    return bool(
        request.min_mod_revision
        or request.max_mod_revision
        or request.min_create_revision
        or request.max_create_revision
        or request.keys_only
        or request.sort_target != _BY_KEY
    )


def _deferred_answer(request: Range, kvs: DeferredRecords, result: RangeResult) -> dict:
    """`range_answer` over records still to read (in key order): ordered and limited
    without reading them."""
    if request.sort_order == SortOrder.DESCEND:
        kvs = kvs.reversed()
    more = 0 < request.limit < len(kvs)
    if more:
        kvs = kvs.limited(request.limit)
    return {
        "header": {"revision": result.revision},
        "kvs": kvs,
        "more": more,
        "count": result.count,
    }


def execute_range(read: Reader, request: Range) -> dict:
    return range_answer(request, read(*range_query(request)))


def is_read_only(request: Txn) -> bool:
    for op in request.success + request.failure:
        if isinstance(op, Range):
            continue
        if isinstance(op, Txn) and is_read_only(op):
            continue
        return False
    return True


def is_serializable(request: Txn) -> bool:
    """etcd serves a read-only txn locally only if every range in it is serializable."""
    for op in request.success + request.failure:
        if isinstance(op, Range) and not op.serializable:
            return False
        if isinstance(op, Txn) and not is_serializable(op):
            return False
    return True


class Applier:
    def __init__(self, store: MVCCStore, lease_exists: Callable[[int], bool]) -> None:
        self.store = store
        self.lease_exists = lease_exists

    # ---- single operations ------------------------------------------------------------

    def put(self, request: Put, txn: WriteTxn) -> dict:
        if request.lease and not self.lease_exists(request.lease):
            raise errors.LeaseNotFound
        return self._put(request, txn)

    def _put(self, request: Put, txn: WriteTxn) -> dict:
        key = request.key
        value = request.value
        lease = request.lease
        ignore_value = request.ignore_value
        ignore_lease = request.ignore_lease
        previous: KeyValue | None = None
        if ignore_value or ignore_lease or request.prev_kv:
            found = txn.range(key, None, RangeOptions()).kvs
            previous = found[0] if found else None
        if (ignore_value or ignore_lease) and previous is None:
            raise errors.KeyNotFound
        if ignore_value:
            value = previous.value
        if ignore_lease:
            lease = previous.lease
        response: dict = {"header": {"revision": txn.put(key, value, lease)}}
        if request.prev_kv and previous is not None:
            response["prev_kv"] = previous
        return response

    def delete_range(self, request: DeleteRange, txn: WriteTxn) -> dict:
        end = range_end(request.range_end)
        previous: list[KeyValue] = []
        if request.prev_kv:
            previous = txn.range(request.key, end, RangeOptions()).kvs
        deleted, revision = txn.delete_range(request.key, end)
        return {"header": {"revision": revision}, "deleted": deleted, "prev_kvs": previous}

    # ---- transactions ------------------------------------------------------------------

    def read_txn(self, request: Txn, read: Reader, revision: int) -> dict:
        """A transaction with no writes: served like a read, at `revision`."""
        path = self._compare_path(read, request)
        self._check_ranges(request, path, revision)
        response = self._execute(request, path, read, None)
        response["header"] = {"revision": revision}
        return response

    def write_txn(self, request: Txn, txn: WriteTxn) -> dict:
        path = self._compare_path(txn.range, request)
        self._check_puts(request, path, txn)
        self._check_ranges(request, path, txn.revision)
        response = self._execute(request, path, txn.range, txn)
        response["header"] = {"revision": txn.revision}
        return response

    def _compare_path(self, read: Reader, request: Txn) -> list[bool]:
        """Which branch every (nested) level takes, decided before anything is written."""
        succeeded = all(self._compare(read, compare) for compare in request.compare)
        path = [succeeded]
        for op in request.success if succeeded else request.failure:
            if isinstance(op, Txn):
                path.extend(self._compare_path(read, op))
        return path

    def _compare(self, read: Reader, compare: Compare) -> bool:
        try:
            kvs = read(compare.key, range_end(compare.range_end), RangeOptions()).kvs
        except (StorageError, errors.ServerError):
            return False
        if not kvs:
            if compare.target == CompareTarget.VALUE:  # VALUE never matches a missing key
                return False
            kvs = [KeyValue(b"", 0, 0, 0)]
        return all(_compare_kv(compare, kv) for kv in kvs)

    def _walk(self, request: Txn, path: list[bool], visit: Callable[[Op], None]) -> int:
        """Visit the ops of the chosen branches in order; return how much path was used."""
        used = 1
        for op in request.success if path[0] else request.failure:
            visit(op)
            if isinstance(op, Txn):
                used += self._walk(op, path[used:], visit)
        return used

    def _check_puts(self, request: Txn, path: list[bool], txn: WriteTxn) -> None:
        def visit(op: Op) -> None:
            if not isinstance(op, Put):
                return
            if op.lease and not self.lease_exists(op.lease):
                raise errors.LeaseNotFound
            if (op.ignore_value or op.ignore_lease) and not txn.is_live(op.key):
                raise errors.KeyNotFound

        self._walk(request, path, visit)

    def _check_ranges(self, request: Txn, path: list[bool], current: int) -> None:
        def visit(op: Op) -> None:
            if not isinstance(op, Range):
                return
            if op.revision > current:
                raise errors.FutureRevision
            if 0 < op.revision < self.store.compact_revision:
                raise errors.Compacted

        self._walk(request, path, visit)

    def _execute(self, request: Txn, path: list[bool], read: Reader, txn: WriteTxn | None) -> dict:
        succeeded = path[0]
        responses: list[dict] = []
        used = 1
        for op in request.success if succeeded else request.failure:
            match op:
                case Range():
                    reader = read if txn is None else txn.range_deferring
                    responses.append({"response_range": execute_range(reader, op)})
                case Put():
                    assert txn is not None
                    responses.append({"response_put": self._put(op, txn)})
                case DeleteRange():
                    assert txn is not None
                    responses.append({"response_delete_range": self.delete_range(op, txn)})
                case Txn():
                    levels = self._levels(op, path[used:])
                    inner = self._execute(op, path[used : used + levels], read, txn)
                    used += levels
                    responses.append({"response_txn": {"header": {}, **inner}})
        return {"header": {}, "succeeded": succeeded, "responses": responses}

    def _levels(self, request: Txn, path: list[bool]) -> int:
        return self._walk(request, path, lambda op: None)


_COMPARE_FIELDS = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.LEASE: "lease",
}


def _compare_kv(compare: Compare, kv: KeyValue) -> bool:
    if compare.target == CompareTarget.VALUE:
        left, right = kv.value, compare.value
    else:
        field = _COMPARE_FIELDS.get(compare.target)
        if field is None:  # an unknown target compares nothing, as in etcd
            left = right = 0
        else:
            left, right = getattr(kv, field), getattr(compare, field)
    result = compare.result
    if result == CompareResult.EQUAL:
        return left == right
    if result == CompareResult.GREATER:
        return left > right
    if result == CompareResult.LESS:
        return left < right
    if result == CompareResult.NOT_EQUAL:
        return left != right
    return True
