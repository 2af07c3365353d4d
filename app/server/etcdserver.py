"""EtcdServer: turns validated requests into proposals, waits until they are applied,
and answers; serves linearizable reads behind a read barrier, serializable ones locally.

The replication log (app.server.replication) decides how a proposal becomes durable and
ordered; this class only validates, applies deterministically and answers. Every applied
proposal's batch carries its log index ("consistent index"), so a restart never applies
one twice or skips one.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable

import msgpack

from keyraft.app import errors
from keyraft.app.config import ETCD_SERVER_VERSION, ServerConfig
from keyraft.app.server import validate
from keyraft.app.server.apply import Applier, execute_range, is_read_only
from keyraft.app.server.leases import LeaseKeeper
from keyraft.app.server.membership import Member, cluster_id, member_id
from keyraft.app.server.replication import ReplicationLog, make_log
from keyraft.app.server.request_size import RAFT_REQUEST_OVERHEAD, encoded_size
from keyraft.app.server.watches import Watch, WatchSpec, open_watch
from keyraft.storage.backend import Backend, RocksBatch
from keyraft.storage.errors import StorageError
from keyraft.storage.lease import MAX_LEASE_TTL, Lessor
from keyraft.storage.mvcc.store import MVCCStore, RangeOptions, WriteTxn, decode_int, encode_int
from keyraft.storage.mvcc.watch import WatchHub

log = logging.getLogger("keyraft.server")

META_CONSISTENT_INDEX = b"consistent_index"
META_CLUSTER_ID = b"cluster_id"
META_MEMBER_ID = b"member_id"


_UINT64 = struct.Struct(">Q")


class DataDirMismatch(Exception):
    """The data dir was created for another member or cluster."""


QUOTA_CHECK_INTERVAL_S = 1.0


def _serializable_txn(request: dict) -> bool:
    """etcd serves a read-only txn locally only if every range in it is serializable."""
    for op in request.get("success", []) + request.get("failure", []):
        if "request_range" in op and not op["request_range"].get("serializable"):
            return False
        if "request_txn" in op and not _serializable_txn(op["request_txn"]):
            return False
    return True


class EtcdServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.backend = Backend(config.kv_dir)
        self.store = MVCCStore(self.backend)
        self.lessor = Lessor()
        self._restore_leases()
        self.applier = Applier(self.store, self.lessor.exists)
        self.leases = LeaseKeeper(self, self.lessor)
        peer_urls = config.initial_advertise_peer_urls
        self.member = Member(
            member_id(peer_urls, config.initial_cluster_token),
            config.name,
            list(peer_urls),
            list(config.advertise_client_urls),
        )
        self.members = {
            member_id(urls, config.initial_cluster_token): Member(
                member_id(urls, config.initial_cluster_token), name, urls
            )
            for name, urls in config.cluster_members().items()
        }
        self.cluster_id = cluster_id(list(self.members))
        self._bootstrap_or_check_identity()
        self.applied_index = decode_int(self.backend.get("meta", META_CONSISTENT_INDEX), 0)
        self.alarms: list[tuple[int, int]] = []
        self._stopped = False
        self.watch_hub = WatchHub(lambda: self.store)
        self.store.listeners.append(self.watch_hub.notify)
        self.log: ReplicationLog = make_log(self)
        self._quota_checked_at = 0.0
        self._backend_bytes = 0
        self.started_at = time.monotonic()

    # ---- lifecycle ---------------------------------------------------------------------

    def _bootstrap_or_check_identity(self) -> None:
        """A new data dir records whose member it is (the bootstrap entry, index 1); an
        existing one must belong to this member of this cluster."""
        stored_cluster = self.backend.get("cluster", META_CLUSTER_ID)
        stored_member = self.backend.get("cluster", META_MEMBER_ID)
        if stored_cluster is None:
            batch = self.backend.new_batch()
            batch.put("cluster", META_CLUSTER_ID, _UINT64.pack(self.cluster_id))
            batch.put("cluster", META_MEMBER_ID, _UINT64.pack(self.member.id))
            self.backend.write(batch)
            self.backend.sync()
            return
        (old_cluster,) = _UINT64.unpack(stored_cluster)
        (old_member,) = _UINT64.unpack(stored_member or bytes(8))
        if old_cluster != self.cluster_id or old_member != self.member.id:
            self.backend.close()
            raise DataDirMismatch(
                f"data dir {self.config.data_dir} belongs to member {old_member:x} of "
                f"cluster {old_cluster:x}, not to member "
                f"{self.member.id:x} of cluster {self.cluster_id:x} (check --name, "
                "--initial-advertise-peer-urls and --initial-cluster-token)"
            )

    async def start(self) -> None:
        await self.log.start()
        await self.leases.start()

    async def stop(self) -> None:
        self._stopped = True
        await self.leases.stop()
        await self.log.stop()
        self.backend.sync()
        self.backend.close()

    # ---- identity ----------------------------------------------------------------------

    def header(self, revision: int | None = None) -> dict:
        return {
            "cluster_id": self.cluster_id,
            "member_id": self.member.id,
            "revision": self.log.read_revision() if revision is None else revision,
            "raft_term": self.log.term,
        }

    # ---- KV ----------------------------------------------------------------------------

    async def range(self, request: dict) -> dict:
        validate.check_range(request)
        if not request.get("serializable"):
            await self.log.read_barrier()
        revision = self.log.read_revision()
        response = self._read(lambda: execute_range(self._reader(revision), request))
        response["header"] = self.header(response["header"]["revision"])
        return response

    async def put(self, request: dict) -> dict:
        validate.check_put(request)
        return await self._propose("put", request)

    async def delete_range(self, request: dict) -> dict:
        validate.check_delete(request)
        return await self._propose("delete_range", request)

    async def txn(self, request: dict) -> dict:
        validate.check_txn(request, self.config.max_txn_ops)
        if is_read_only(request):
            if not _serializable_txn(request):
                await self.log.read_barrier()
            revision = self.log.read_revision()
            response = self._read(
                lambda: self.applier.read_txn(request, self._reader(revision), revision)
            )
            response["header"] = self.header(revision)
            return response
        return await self._propose("txn", request)

    async def compact(self, request: dict) -> dict:
        return await self._propose("compact", request)

    def _reader(self, revision: int) -> Callable:
        store = self.store

        def read(key: bytes, end: bytes | None, options: RangeOptions):
            return store.range(key, end, options, revision)

        return read

    def _read(self, run: Callable[[], dict]) -> dict:
        try:
            return run()
        except StorageError as error:
            raise errors.from_storage(error) from None

    # ---- leases ------------------------------------------------------------------------

    @property
    def min_lease_ttl(self) -> int:
        """etcd's minLeaseTTL: 1.5 election timeouts counted in whole ticks
        ((3 * electionTicks) / 2 heartbeats), rounded up to whole seconds."""
        heartbeat = self.config.heartbeat_interval_ms
        ticks = self.config.election_timeout_ms // heartbeat
        return -(-(3 * ticks // 2) * heartbeat // 1000)

    async def lease_grant(self, request: dict) -> dict:
        ttl = request.get("TTL", 0)
        if ttl > MAX_LEASE_TTL:
            raise errors.lease_ttl_too_large()
        lease_id = request.get("ID", 0) or _new_lease_id()
        return await self._propose(
            "lease_grant", {"ID": lease_id, "TTL": max(ttl, self.min_lease_ttl)}
        )

    async def lease_revoke(self, request: dict) -> dict:
        return await self._propose("lease_revoke", {"ID": request.get("ID", 0)})

    async def lease_keep_alive(self, request: dict, forwarded: bool = False) -> dict:
        lease_id = request.get("ID", 0)
        ttl = await self.leases.keep_alive(lease_id, forwarded)
        return {"header": self.header(), "ID": lease_id, "TTL": ttl}

    async def lease_time_to_live(self, request: dict) -> dict:
        """Only the leader knows how long a lease has left: followers ask it."""
        if not self.leases.leading:
            answer = await self.leases.forward("/v3/lease/timetolive", request)
            revision = int(answer.get("header", {}).get("revision", 0))
            answer["header"] = self.header(revision)
            return answer
        lease_id = request.get("ID", 0)
        lease = self.lessor.time_to_live(lease_id)
        if lease is None:
            return {"header": self.header(), "ID": lease_id, "TTL": -1}
        response = {
            "header": self.header(),
            "ID": lease_id,
            "TTL": self.lessor.remaining_seconds(lease),
            "grantedTTL": lease.ttl,
        }
        if request.get("keys"):
            response["keys"] = sorted(lease.keys)
        return response

    def lease_leases(self, request: dict) -> dict:
        leases = [{"ID": lease.id} for lease in self.lessor.by_expiry()]
        return {"header": self.header(), "leases": leases}

    async def wait_for_leader(self) -> None:
        await self.log.wait_for_leader()

    async def propose_internal(self, kind: str, request: dict) -> dict:
        return await self._propose(kind, request)

    def _restore_leases(self) -> None:
        live = (
            (key, history.lease)
            for key, history in self.store.index.scan(b"", None, True)
            if history.live and history.lease
        )
        self.lessor.restore(self.backend, live)

    # ---- maintenance -------------------------------------------------------------------

    def status(self, request: dict | None = None) -> dict:
        return {
            "header": self.header(),
            "version": ETCD_SERVER_VERSION,
            "dbSize": self.backend.size_bytes(),
            "leader": self.log.leader,
            "raftIndex": self.log.commit_index,
            "raftTerm": self.log.term,
            "raftAppliedIndex": self.applied_index,
            "dbSizeInUse": self.backend.live_bytes(),
        }

    def member_list(self, request: dict | None = None) -> dict:
        header = self.header()
        del header["revision"]
        members = []
        for member in self.members.values():
            entry: dict = {"ID": member.id, "name": member.name, "peerURLs": member.peer_urls}
            entry["clientURLs"] = self.client_urls(member.id)
            members.append(entry)
        return {"header": header, "members": members}

    def client_urls(self, member: int) -> list[str]:
        if member == self.member.id:
            return self.member.client_urls
        stored = self.backend.get("cluster", b"client_urls/" + _UINT64.pack(member))
        return msgpack.unpackb(stored) if stored else []

    def alarm(self, request: dict) -> dict:
        return {"alarms": [{"memberID": m, "alarm": a} for m, a in self.alarms]}

    # ---- proposals ---------------------------------------------------------------------

    async def _propose(self, kind: str, request: dict) -> dict:
        if self._stopped:
            raise errors.server_stopped()
        size = encoded_size(request) + RAFT_REQUEST_OVERHEAD
        if size > self.config.max_request_bytes:
            raise errors.request_too_large()
        if kind in ("put", "txn") and self._over_quota():
            raise errors.no_space()
        return await self.log.propose(kind, request)

    def _over_quota(self) -> bool:
        now = time.monotonic()
        if now - self._quota_checked_at > QUOTA_CHECK_INTERVAL_S:
            self._quota_checked_at = now
            self._backend_bytes = self.backend.live_bytes()
            if self._backend_bytes > self.config.quota_backend_bytes and not self.alarms:
                self.alarms.append((self.member.id, 1))
        return bool(self.alarms)

    def _annotate(self, batch: RocksBatch) -> None:
        batch.put("meta", META_CONSISTENT_INDEX, encode_int(self.applied_index))

    def apply_entry(self, index: int, kind: str, request: dict) -> dict | Exception:
        """Apply one proposal at log `index` in its own MVCC transaction (its batch records
        the index); errors leave no change but the index."""
        self.applied_index = index
        try:
            if kind in ("publish", "noop"):
                txn = self.store.write(self._annotate)
                if kind == "publish":
                    key = b"client_urls/" + _UINT64.pack(request["member"])
                    txn.put_raw("cluster", key, msgpack.packb(request["client_urls"]))
                txn.end()
                return {}
            if kind == "compact":
                self.store.compact(request.get("revision", 0), self._annotate)
                return {"header": self.header(self.store.current_revision)}
            txn = self.store.write(self._annotate)
            try:
                response = self._apply_write(kind, request, txn)
            finally:
                for change in txn.end():
                    self.lessor.key_changed(change.kv.key, change.kv.lease)
            response["header"] = self.header(self.store.current_revision)
            return response
        except errors.EtcdError as error:
            return error
        except StorageError as error:
            return errors.from_storage(error)

    def _apply_write(self, kind: str, request: dict, txn: WriteTxn) -> dict:
        if kind == "put":
            return self.applier.put(request, txn)
        if kind == "delete_range":
            return self.applier.delete_range(request, txn)
        if kind == "txn":
            return self.applier.write_txn(request, txn)
        if kind == "lease_grant":
            lease = self.lessor.grant(request["ID"], request["TTL"], txn.batch)
            return {"header": {}, "ID": lease.id, "TTL": lease.ttl}
        if kind == "lease_revoke":
            # Every attached key goes in this one transaction: one revision for all.
            for key in self.lessor.revoke(request["ID"], txn.batch):
                txn.delete_range(key, None)
            return {}
        raise errors.EtcdError(13, f"etcdserver: unknown request kind {kind!r}")

    def restore_from(self, dump: list) -> None:
        """Replace the whole state with a snapshot received from the leader."""
        backend = self.backend
        identity = {("cluster", META_CLUSTER_ID), ("cluster", META_MEMBER_ID)}
        batch = backend.new_batch()
        for family, _rows in dump:
            for key, _value in backend.iterate(family):
                if (family, key) not in identity:
                    batch.delete(family, key)
        for family, rows in dump:
            for key, value in rows:
                if (family, key) not in identity:
                    batch.put(family, key, value)
        backend.write(batch)
        listeners = self.store.listeners
        self.store = MVCCStore(backend)
        self.store.listeners = listeners
        self._restore_leases()
        self.applier = Applier(self.store, self.lessor.exists)
        self.watch_hub.desync_all()
        self.applied_index = decode_int(backend.get("meta", META_CONSISTENT_INDEX), 0)

    def watch(self, spec: WatchSpec, watch_id: int = 0) -> Watch:
        """Open a watch; its changes queue up from now on (see app.server.watches)."""
        return open_watch(self.watch_hub, spec, watch_id)


def _new_lease_id() -> int:
    """A random positive int64: chosen by the proposer and carried in the proposal, so
    every member applies the same ID."""
    return int.from_bytes(os.urandom(8), "big") >> 1 or 1
