"""Apply requests to the MVCC store, exactly as etcd's applierV3backend does.

Everything here is deterministic: the same requests applied to the same store give the
same results and the same revisions on every member. Nothing reads a clock.
Responses are dicts in proto field order holding native values (bytes, ints,
`KeyValue`); the codec turns them into etcd's JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from keyraft.app import errors
from keyraft.storage.errors import StorageError
from keyraft.storage.mvcc.record import KeyValue
from keyraft.storage.mvcc.store import MVCCStore, RangeOptions, RangeResult, WriteTxn

Reader = Callable[[bytes, bytes | None, RangeOptions], RangeResult]

SORT_NONE, SORT_ASCEND, SORT_DESCEND = 0, 1, 2
_SORT_KEYS: dict[int, Callable[[KeyValue], object]] = {
    0: lambda kv: kv.key,
    1: lambda kv: kv.version,
    2: lambda kv: kv.create_revision,
    3: lambda kv: kv.mod_revision,
    4: lambda kv: kv.value,
}


def range_end(request: dict) -> bytes | None:
    """etcd's mkGteRange: "\\0" means "to the end" (b""), absent means one key (None)."""
    end = request.get("range_end")
    if not end:
        return None
    return b"" if end == b"\x00" else end


def execute_range(read: Reader, request: dict) -> dict:
    limit = request.get("limit", 0)
    sort_order = request.get("sort_order", SORT_NONE)
    sort_target = request.get("sort_target", 0)
    min_mod = request.get("min_mod_revision", 0)
    max_mod = request.get("max_mod_revision", 0)
    min_create = request.get("min_create_revision", 0)
    max_create = request.get("max_create_revision", 0)
    fetch = limit
    if sort_order != SORT_NONE or min_mod or max_mod or min_create or max_create:
        fetch = 0
    if fetch > 0:
        fetch += 1
    options = RangeOptions(fetch, request.get("revision", 0), request.get("count_only", False))
    result = read(request["key"], range_end(request), options)
    kvs = result.kvs
    if max_mod:
        kvs = [kv for kv in kvs if kv.mod_revision <= max_mod]
    if min_mod:
        kvs = [kv for kv in kvs if kv.mod_revision >= min_mod]
    if max_create:
        kvs = [kv for kv in kvs if kv.create_revision <= max_create]
    if min_create:
        kvs = [kv for kv in kvs if kv.create_revision >= min_create]
    if sort_target != 0 and sort_order == SORT_NONE:
        sort_order = SORT_ASCEND
    if sort_order in (SORT_ASCEND, SORT_DESCEND):
        kvs = sorted(kvs, key=_SORT_KEYS[sort_target], reverse=sort_order == SORT_DESCEND)
    more = False
    if limit > 0 and len(kvs) > limit:
        kvs = kvs[:limit]
        more = True
    if request.get("keys_only"):
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


def is_read_only(request: dict) -> bool:
    for op in request.get("success", []) + request.get("failure", []):
        if "request_range" in op:
            continue
        if "request_txn" in op and is_read_only(op["request_txn"]):
            continue
        return False
    return True


class Applier:
    def __init__(self, store: MVCCStore, lease_exists: Callable[[int], bool]) -> None:
        self.store = store
        self.lease_exists = lease_exists

    # ---- single operations ------------------------------------------------------------

    def put(self, request: dict, txn: WriteTxn) -> dict:
        lease = request.get("lease", 0)
        if lease and not self.lease_exists(lease):
            raise errors.lease_not_found()
        return self._put(request, txn)

    def _put(self, request: dict, txn: WriteTxn) -> dict:
        key = request["key"]
        value = request.get("value", b"")
        lease = request.get("lease", 0)
        ignore_value = request.get("ignore_value", False)
        ignore_lease = request.get("ignore_lease", False)
        previous: KeyValue | None = None
        if ignore_value or ignore_lease or request.get("prev_kv"):
            found = txn.range(key, None, RangeOptions()).kvs
            previous = found[0] if found else None
        if (ignore_value or ignore_lease) and previous is None:
            raise errors.key_not_found()
        if ignore_value:
            value = previous.value
        if ignore_lease:
            lease = previous.lease
        response: dict = {"header": {"revision": txn.put(key, value, lease)}}
        if request.get("prev_kv") and previous is not None:
            response["prev_kv"] = previous
        return response

    def delete_range(self, request: dict, txn: WriteTxn) -> dict:
        end = range_end(request)
        previous: list[KeyValue] = []
        if request.get("prev_kv"):
            previous = txn.range(request["key"], end, RangeOptions()).kvs
        deleted, revision = txn.delete_range(request["key"], end)
        return {"header": {"revision": revision}, "deleted": deleted, "prev_kvs": previous}

    # ---- transactions ------------------------------------------------------------------

    def read_txn(self, request: dict, read: Reader, revision: int) -> dict:
        """A transaction with no writes: served like a read, at `revision`."""
        path = self._compare_path(read, request)
        self._check_ranges(request, path, revision)
        response = self._execute(request, path, read, None)
        response["header"] = {"revision": revision}
        return response

    def write_txn(self, request: dict, txn: WriteTxn) -> dict:
        path = self._compare_path(txn.range, request)
        self._check_puts(request, path, txn)
        self._check_ranges(request, path, txn.revision)
        response = self._execute(request, path, txn.range, txn)
        response["header"] = {"revision": txn.revision}
        return response

    def _compare_path(self, read: Reader, request: dict) -> list[bool]:
        """Which branch every (nested) level takes, decided before anything is written."""
        succeeded = all(self._compare(read, compare) for compare in request.get("compare", []))
        path = [succeeded]
        for op in request.get("success" if succeeded else "failure", []):
            if "request_txn" in op:
                path.extend(self._compare_path(read, op["request_txn"]))
        return path

    def _compare(self, read: Reader, compare: dict) -> bool:
        try:
            kvs = read(compare["key"], range_end(compare), RangeOptions()).kvs
        except (StorageError, errors.EtcdError):
            return False
        target = compare.get("target", 0)
        if not kvs:
            if target == 3:  # VALUE never matches a missing key
                return False
            kvs = [KeyValue(b"", 0, 0, 0)]
        return all(_compare_kv(compare, target, kv) for kv in kvs)

    def _walk(self, request: dict, path: list[bool], visit: Callable[[dict], None]) -> int:
        """Visit the ops of the chosen branches in order; return how much path was used."""
        used = 1
        for op in request.get("success" if path[0] else "failure", []):
            visit(op)
            if "request_txn" in op:
                used += self._walk(op["request_txn"], path[used:], visit)
        return used

    def _check_puts(self, request: dict, path: list[bool], txn: WriteTxn) -> None:
        def visit(op: dict) -> None:
            put = op.get("request_put")
            if put is None:
                return
            lease = put.get("lease", 0)
            if lease and not self.lease_exists(lease):
                raise errors.lease_not_found()
            if put.get("ignore_value") or put.get("ignore_lease"):
                history = txn.history(put["key"])
                if history is None or not history.live:
                    raise errors.key_not_found()

        self._walk(request, path, visit)

    def _check_ranges(self, request: dict, path: list[bool], current: int) -> None:
        def visit(op: dict) -> None:
            read = op.get("request_range")
            if read is None:
                return
            revision = read.get("revision", 0)
            if revision > current:
                raise errors.future_revision()
            if 0 < revision < self.store.compact_revision:
                raise errors.compacted()

        self._walk(request, path, visit)

    def _execute(self, request: dict, path: list[bool], read: Reader, txn: WriteTxn | None) -> dict:
        succeeded = path[0]
        responses: list[dict] = []
        used = 1
        for op in request.get("success" if succeeded else "failure", []):
            if "request_range" in op:
                responses.append({"response_range": execute_range(read, op["request_range"])})
            elif "request_put" in op:
                assert txn is not None
                responses.append({"response_put": self._put(op["request_put"], txn)})
            elif "request_delete_range" in op:
                assert txn is not None
                responses.append(
                    {"response_delete_range": self.delete_range(op["request_delete_range"], txn)}
                )
            elif "request_txn" in op:
                nested = op["request_txn"]
                levels = self._levels(nested, path[used:])
                inner = self._execute(nested, path[used : used + levels], read, txn)
                used += levels
                responses.append({"response_txn": {"header": {}, **inner}})
        return {"header": {}, "succeeded": succeeded, "responses": responses}

    def _levels(self, request: dict, path: list[bool]) -> int:
        return self._walk(request, path, lambda op: None)


_COMPARE_FIELDS = {0: "version", 1: "create_revision", 2: "mod_revision", 4: "lease"}


def _compare_kv(compare: dict, target: int, kv: KeyValue) -> bool:
    if target == 3:
        left, right = kv.value, compare.get("value", b"")
    else:
        field = _COMPARE_FIELDS.get(target)
        if field is None:  # an unknown target compares nothing, as in etcd
            left = right = 0
        else:
            left, right = getattr(kv, field), compare.get(field, 0)
    result = compare.get("result", 0)
    if result == 0:
        return left == right
    if result == 1:
        return left > right
    if result == 2:
        return left < right
    if result == 3:
        return left != right
    return True
