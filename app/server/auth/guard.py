"""Which permission each request needs, as etcd 3.4's authApplierV3 and v3 server decide.

Reads (range, read-only txn, watch) are checked where they are served; writes at apply,
with the user and auth revision their proposal carries, so a write and an auth change
that commit in either order are judged the same way on every member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from keyraft.app.server.auth.store import AuthInfo, AuthStore
from keyraft.app.server.requests import (
    AuthDisable,
    AuthEnable,
    DeleteRange,
    LeaseRevoke,
    Op,
    Proposal,
    Put,
    Range,
    RoleAdd,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
    Txn,
    UserAdd,
    UserChangePassword,
    UserDelete,
    UserGrantRole,
    UserRevokeRole,
)

ADMIN_ONLY = (
    AuthEnable,
    AuthDisable,
    UserAdd,
    UserDelete,
    UserChangePassword,
    UserGrantRole,
    UserRevokeRole,
    RoleAdd,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
)

LeaseKeys = Callable[[int], Iterable[bytes]]


def check_range(store: AuthStore, info: AuthInfo, key: bytes, range_end: bytes) -> None:
    store.check(info, False, key, range_end)


def check_txn(store: AuthStore, info: AuthInfo, txn: Txn) -> None:
    """Every compare needs READ; every op of both branches its own permission. etcd 3.4
    does not look inside nested transactions (fixed in later releases): we do."""
    for compare in txn.compare:
        store.check(info, False, compare.key, compare.range_end)
    for op in txn.success + txn.failure:
        _check_op(store, info, op)


def _check_op(store: AuthStore, info: AuthInfo, op: Op) -> None:
    match op:
        case Range():
            store.check(info, False, op.key, op.range_end)
        case Put():
            store.check(info, True, op.key, b"")
        case DeleteRange():
            if op.prev_kv:
                store.check(info, False, op.key, op.range_end)
            store.check(info, True, op.key, op.range_end)
        case Txn():
            check_txn(store, info, op)


def check_proposal(
    store: AuthStore, info: AuthInfo, request: Proposal, lease_keys: LeaseKeys
) -> None:
    """Raise unless `info` may apply `request` (auth enabled; etcd's authApplierV3)."""
    match request:
        case Put():
            store.check(info, True, request.key, b"")
            _check_lease_puts(store, info, request.lease, lease_keys)
            if request.prev_kv:
                store.check(info, False, request.key, b"")
        case DeleteRange():
            store.check(info, True, request.key, request.range_end)
            if request.prev_kv:
                store.check(info, False, request.key, request.range_end)
        case Txn():
            check_txn(store, info, request)
        case LeaseRevoke():
            _check_lease_puts(store, info, request.lease_id, lease_keys)
        case _ if isinstance(request, ADMIN_ONLY):
            store.check_admin(info)


def _check_lease_puts(store: AuthStore, info: AuthInfo, lease: int, keys: LeaseKeys) -> None:
    """A lease may be revoked, or attached to a new key, only by a user who may write
    every key already attached to it."""
    if lease:
        for key in keys(lease):
            store.check(info, True, key, b"")
