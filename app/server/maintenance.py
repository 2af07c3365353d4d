"""Maintenance RPCs that act on this member's backend alone (etcd's maintenanceServer):
defragment, snapshot, hash, hashkv. etcd restricts them to root while auth is enabled,
answering auth's own errors untranslated (gRPC code Unknown), not the KV service's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from keyraft.app.server import errors
from keyraft.app.server.alarms import QuotaCheck
from keyraft.app.server.auth.store import AuthInfo, AuthStore
from keyraft.app.server.requests import HashKV, Int32
from keyraft.app.server.snapshot_file import write_snapshot
from keyraft.app.server.state_machine import StateMachine
from keyraft.storage.mvcc.hash import hash_backend, hash_kv

# etcd's Hash covers every bucket; the "cluster" family holds this member's identity.
HASHED_FAMILIES = ("kv", "meta", "lease", "auth")

_AS_MAINTENANCE = {
    errors.UserEmpty: errors.MaintenanceUserEmpty,
    errors.PermissionDenied: errors.MaintenancePermissionDenied,
}


def check_root(auth: AuthStore, info: AuthInfo | None) -> None:
    """Raise unless `info` is root (`info` is None while auth is disabled)."""
    if info is None:
        return
    try:
        auth.check_admin(info)
    except errors.ServerError as error:
        translated = _AS_MAINTENANCE.get(type(error))
        raise (translated() if translated else error) from None


class Maintenance:
    def __init__(self, state: StateMachine, quota: QuotaCheck, work_dir: str) -> None:
        self.state = state
        self.quota = quota
        self.work_dir = work_dir  # where snapshots are written before they are sent
        self._running: set[asyncio.Future] = set()

    async def _in_thread(self, function: Callable[..., Any], *args: object) -> Any:
        """Run backend work in a worker thread; `drain` waits for it, so the backend is
        never closed under it (a client giving up does not stop the thread)."""
        future = asyncio.ensure_future(asyncio.to_thread(function, *args))
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait for backend work still running (before the backend closes)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def defragment(self, _request: object = None, info: AuthInfo | None = None) -> dict:
        """Compact every RocksDB family in a worker thread (writes go on meanwhile); the
        quota is read afresh, so writes refused for space work again once it is free."""
        check_root(self.state.auth, info)
        await self._in_thread(self.state.backend.defragment)
        self.quota.refresh()
        return {}

    async def snapshot(self, info: AuthInfo | None = None) -> str:
        """A snapshot file of the backend as it is now (a RocksDB checkpoint, written in a
        worker thread while writes go on); the caller sends it, then deletes it."""
        check_root(self.state.auth, info)
        return await self._in_thread(write_snapshot, self.state.backend, self.work_dir)

    async def hash(self, _request: object = None, info: AuthInfo | None = None) -> dict:
        """etcd's Hash (what etcd 3.4's gateway serves at /v3/maintenance/hash; a revision
        in the request is ignored there): the whole backend's hash."""
        check_root(self.state.auth, info)
        revision = self.state.store.current_revision
        found = await self._in_thread(hash_backend, self.state.backend, HASHED_FAMILIES)
        return {"header": {"revision": revision}, "hash": Int32(found)}

    async def hash_kv(self, request: HashKV, info: AuthInfo | None = None) -> dict:
        """etcd's HashKV: the MVCC history up to a revision (0: the current one), with the
        compact revision it starts from (-1: never compacted)."""
        check_root(self.state.auth, info)
        store = self.state.store
        current = store.current_revision
        revision = request.revision or current
        if revision > current:
            raise errors.FutureRevision
        while True:
            compacted = store.compact_revision
            if revision < compacted:
                raise errors.Compacted
            found = await self._in_thread(hash_kv, self.state.backend, revision)
            if store.compact_revision == compacted:  # else a compaction ran meanwhile
                break
        return {
            "header": {"revision": current},
            "hash": Int32(found),
            "compact_revision": compacted,
        }
