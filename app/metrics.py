"""Prometheus metrics, named after etcd's where etcd has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Gauge, Info

from keyraft.app.config import KEYRAFT_VERSION

if TYPE_CHECKING:
    from keyraft.app.server.etcdserver import EtcdServer

BUILD = Info("keyraft_build", "keyraft's version")
BUILD.info({"version": KEYRAFT_VERSION})
HAS_LEADER = Gauge("etcd_server_has_leader", "Whether a leader exists (1) or not (0)")
CURRENT_REVISION = Gauge("etcd_debugging_mvcc_current_revision", "The current revision")
COMPACT_REVISION = Gauge("etcd_debugging_mvcc_compact_revision", "The last compacted revision")
KEYS_TOTAL = Gauge("etcd_debugging_mvcc_keys_total", "Keys in the index (including deleted)")
DB_SIZE = Gauge("etcd_mvcc_db_total_size_in_bytes", "Backend size on disk")
APPLIED_INDEX = Gauge("etcd_server_apply_index", "The applied index")


def refresh(server: EtcdServer) -> None:
    HAS_LEADER.set(1 if server.has_leader() else 0)
    CURRENT_REVISION.set(server.current_revision)
    COMPACT_REVISION.set(max(server.compact_revision, 0))
    KEYS_TOTAL.set(server.key_count())
    DB_SIZE.set(server.db_size())
    APPLIED_INDEX.set(server.applied_index())
