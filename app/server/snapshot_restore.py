"""Build a new member's data dir from a snapshot file (etcdctl's `snapshot restore`):
keyraft's own, or etcd's (`etcd_import`).

Every key, revision, lease, auth record and alarm comes from the snapshot; the identity
and membership are the new cluster's (computed from the flags, as the member will at
start), and the applied index starts at 0, since the new cluster's Raft log starts empty.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from keyraft.app.server.config import ServerConfig
from keyraft.app.server.etcd_import import (
    NotEtcdSnapshot,
    etcd_records,
    etcd_status,
    read_etcd_snapshot,
)
from keyraft.app.server.membership import cluster_from_config
from keyraft.app.server.snapshot_file import MAGIC, BadSnapshot, SnapshotStatus, records, verify
from keyraft.app.server.state_machine import META_CONSISTENT_INDEX, StateMachine
from keyraft.storage.backend import Backend
from keyraft.storage.bbolt import BoltFile

Record = tuple[str, bytes, bytes]

BATCH_RECORDS = 10_000


class RestoreError(Exception):
    """The snapshot cannot be restored where asked."""


def _is_ours(snapshot: str) -> bool:
    try:
        with open(snapshot, "rb") as source:
            return source.read(len(MAGIC)) == MAGIC
    except OSError as error:
        raise BadSnapshot(f"{snapshot}: {error.strerror or error}") from None


def _etcd(snapshot: str) -> BoltFile:
    try:
        return read_etcd_snapshot(snapshot)
    except NotEtcdSnapshot as error:
        raise BadSnapshot(f"{snapshot}: neither a keyraft nor an etcd snapshot ({error})") from None


def snapshot_status(snapshot: str) -> SnapshotStatus:
    """`snapshot status` of a keyraft snapshot, or of an etcd one (as etcdctl reports it)."""
    return verify(snapshot) if _is_ours(snapshot) else etcd_status(_etcd(snapshot))


def _source(snapshot: str) -> Iterator[Record]:
    """The records of a keyraft snapshot, or of an etcd one (a bbolt file), checked whole
    before anything is written."""
    if _is_ours(snapshot):
        verify(snapshot)
        return records(snapshot)
    return etcd_records(_etcd(snapshot))


def restore(snapshot: str, config: ServerConfig) -> None:
    source = _source(snapshot)
    # etcdctl's words and checks: a given WAL dir must not exist yet either
    if os.path.exists(config.data_dir):
        raise RestoreError(f'data-dir "{config.data_dir}" exists')
    if config.wal_dir and os.path.exists(config.wal_dir):
        raise RestoreError(f'wal-dir "{config.wal_dir}" exists')
    cluster = cluster_from_config(config)
    if cluster.local.id not in cluster.members:
        raise RestoreError(f"--initial-cluster has no member named {config.name!r}")
    try:
        backend = Backend(config.kv_dir)
        state = None
        try:
            _copy(source, backend)
            state = StateMachine(backend)
            state.claim(cluster.id, cluster.local.id, config.data_dir)
        finally:
            if state is not None:
                state.close()
            else:
                backend.close()
        if config.wal_dir:
            os.makedirs(config.wal_dir)  # taken, as etcdctl's is; the log starts with the member
    except BaseException:
        shutil.rmtree(config.data_dir, ignore_errors=True)
        raise


def _copy(source: Iterator[Record], backend: Backend) -> None:
    """Every record but the old cluster's identity and members, and the applied index."""
    batch, count = backend.new_batch(), 0
    for family, key, value in source:
        if family == "cluster" or (family == "meta" and key == META_CONSISTENT_INDEX):
            continue
        batch.put(family, key, value)
        count += 1
        if count % BATCH_RECORDS == 0:
            backend.write(batch)
            batch = backend.new_batch()
    backend.write(batch)
    backend.sync()
