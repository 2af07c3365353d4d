"""What etcd's lock and election services share: clientv3/concurrency run in the server.

etcd serves v3lock and v3election through an embedded client over its own KV API, with
the caller's credentials; so do these, through `EtcdServer`'s methods with the caller's
auth info: a user needs read and write permission on the prefix, as on etcd. Waiting costs
one watch on the key ahead (opened at the revision the range read, so no deletion is
missed), never a poll loop; a member that loses leadership keeps applying the log, so its
watches go on firing, and the lock's safety rests on the lease, not on this member.

Every error met on the way reaches the client as etcd's embedded client hands it on: its
message with gRPC code Unknown (the gateway's Rpc table marks these services `embedded`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from keyraft.app.server import errors
from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRange,
    LeaseGrant,
    Range,
    SortOrder,
    SortTarget,
)
from keyraft.app.server.results import DeferredRecords, KeyValue
from keyraft.app.server.watches import Change, WatchSpec

# clientv3/concurrency's default session TTL: a request without a lease gets one this long.
SESSION_TTL_S = 60

# Clean-ups started while their request was being canceled (kept until they finish).
_cleanups: set[asyncio.Task] = set()


def in_background(work: Coroutine[Any, Any, Any]) -> None:
    """Run a clean-up to its end even though the request that needs it was canceled (the
    client went away), as etcd runs it on the client's own context; its failure is moot."""

    async def quietly() -> None:
        with contextlib.suppress(Exception):
            await work

    task = asyncio.create_task(quietly())
    _cleanups.add(task)
    task.add_done_callback(_cleanups.discard)


def prefix_of(name: bytes) -> tuple[bytes, bytes]:
    """The prefix of a lock or election's keys, and its range end ('/' + 1 is '0')."""
    return name + b"/", name + b"0"


def key_for(name: bytes, lease: int) -> bytes:
    """A session's key of lock or election `name`: the lease ID in hex under its prefix,
    as concurrency's Mutex and Election name it."""
    return name + b"/" + f"{lease:x}".encode()


async def session_lease(server: EtcdServer, lease: int, info: AuthInfo | None) -> int:
    """The lease a request's key lives with: its own, or (0) a new one of SESSION_TTL_S
    seconds, as etcd's NewSession grants (nobody keeps it alive: etcd orphans it)."""
    if lease:
        return lease
    granted = await server.lease_grant(LeaseGrant(SESSION_TTL_S), info)
    return granted["ID"]


def created(key: bytes, revision: int = 0) -> Compare:
    """The compare `key`'s create revision == `revision` (0: the key does not exist)."""
    return Compare(CompareResult.EQUAL, CompareTarget.CREATE, key, create_revision=revision)


def first_created(name: bytes) -> Range:
    """The oldest key of lock or election `name`: its owner (clientv3's WithFirstCreate)."""
    prefix, end = prefix_of(name)
    return Range(prefix, end, 1, sort_order=SortOrder.ASCEND, sort_target=SortTarget.CREATE)


def kvs_of(answer: dict) -> list[KeyValue]:
    kvs = answer.get("kvs", [])
    return kvs.read_all() if isinstance(kvs, DeferredRecords) else list(kvs)


async def wait_deletes(
    server: EtcdServer, name: bytes, max_create_revision: int, info: AuthInfo | None
) -> dict:
    """Wait until no key of `name` created at or before `max_create_revision` is left
    (clientv3's waitDeletes): watch the newest of them until it goes, read again.
    Returns the header of the read that found none."""
    prefix, end = prefix_of(name)
    newest = Range(
        prefix,
        end,
        1,
        sort_order=SortOrder.DESCEND,
        sort_target=SortTarget.CREATE,
        max_create_revision=max_create_revision,
    )
    while True:
        answer = await server.range(newest, info)
        kvs = kvs_of(answer)
        if not kvs:
            return answer["header"]
        await wait_delete(server, kvs[0].key, answer["header"]["revision"])


async def wait_delete(server: EtcdServer, key: bytes, revision: int) -> None:
    """Wait for `key`'s deletion, watching from `revision` on."""
    async with changes(server, WatchSpec(key, None, revision)) as seen:
        async for change in seen:
            if change.deleted:
                return


def changes(server: EtcdServer, spec: WatchSpec) -> contextlib.aclosing[AsyncIterator[Change]]:
    """Every change a watch sees, in order; leaving the `async with` ends the watch."""
    return contextlib.aclosing(_changes(server, spec))


async def _changes(server: EtcdServer, spec: WatchSpec) -> AsyncIterator[Change]:
    """A watch the store cancels (its start compacted away) fails with etcd's error."""
    watch = server.watch(spec)
    try:
        while batch := await watch.next_batch():
            for _revision, revision_changes in batch:
                for change in revision_changes:
                    yield change
        raise errors.Compacted
    finally:
        watch.cancel()


async def delete_key(server: EtcdServer, key: bytes, info: AuthInfo | None) -> dict:
    return await server.delete_range(DeleteRange(key), info)
