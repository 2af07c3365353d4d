"""Maintenance RPCs that act on this member's backend alone (etcd's maintenanceServer):
defragment, snapshot. etcd restricts them to root while auth is enabled, answering auth's own errors
untranslated (gRPC code Unknown), not the KV service's."""

from __future__ import annotations

import asyncio

from keyraft.app.server import errors
from keyraft.app.server.alarms import QuotaCheck
from keyraft.app.server.auth.store import AuthInfo, AuthStore
from keyraft.app.server.snapshot_file import write_snapshot
from keyraft.app.server.state_machine import StateMachine

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

    async def defragment(self, _request: object = None, info: AuthInfo | None = None) -> dict:
        """Compact every RocksDB family in a worker thread (writes go on meanwhile); the
        quota is read afresh, so writes refused for space work again once it is free."""
        check_root(self.state.auth, info)
        await asyncio.to_thread(self.state.backend.defragment)
        self.quota.refresh()
        return {}

    async def snapshot(self, info: AuthInfo | None = None) -> str:
        """A snapshot file of the backend as it is now (a RocksDB checkpoint, written in a
        worker thread while writes go on); the caller sends it, then deletes it."""
        check_root(self.state.auth, info)
        return await asyncio.to_thread(write_snapshot, self.state.backend, self.work_dir)
