"""EtcdServer: turns validated requests into proposals, waits until they are applied and
durable, and answers; serves reads at the newest durable revision.

Writes are group-committed: every request that arrives while the previous group is being
synced joins the next group, which is applied in arrival order (one MVCC transaction and
one revision each) and made durable with a single fsync. Each transaction's batch carries
the applied index ("consistent index") it produced, so restart never replays or skips one.
Until Raft sits underneath, "propose" means "append to the next group".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app import errors
from app.config import ETCD_SERVER_VERSION, ServerConfig
from app.server import validate
from app.server.apply import Applier, execute_range, is_read_only
from app.server.membership import Member, cluster_id, member_id
from app.server.request_size import RAFT_REQUEST_OVERHEAD, encoded_size
from storage.backend import Backend, RocksBatch
from storage.errors import StorageError
from storage.mvcc.store import MVCCStore, RangeOptions, decode_int, encode_int

log = logging.getLogger("keyraft.server")

META_CONSISTENT_INDEX = b"consistent_index"
META_CLUSTER_ID = b"cluster_id"
META_MEMBER_ID = b"member_id"


_UINT64 = struct.Struct(">Q")


class DataDirMismatch(Exception):
    """The data dir was created for another member or cluster."""


RAFT_TERM = 1
QUOTA_CHECK_INTERVAL_S = 1.0


@dataclass(slots=True)
class _Proposal:
    kind: str
    request: dict
    future: asyncio.Future = field(repr=False)


class EtcdServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.backend = Backend(config.kv_dir)
        self.store = MVCCStore(self.backend)
        self.applier = Applier(self.store, self._lease_exists)
        peer_urls = config.initial_advertise_peer_urls
        self.member = Member(
            member_id(peer_urls, config.initial_cluster_token),
            config.name,
            list(peer_urls),
            list(config.advertise_client_urls),
        )
        self.cluster_id = cluster_id([self.member.id])
        self._bootstrap_or_check_identity()
        self.applied_index = decode_int(self.backend.get("meta", META_CONSISTENT_INDEX), 0)
        self.read_revision = self.store.current_revision
        self.alarms: list[tuple[int, int]] = []
        self._queue: list[_Proposal] = []
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task | None = None
        self._stopped = False
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
            batch.put("meta", META_CONSISTENT_INDEX, encode_int(1))
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
        self._committer = asyncio.create_task(self._commit_loop(), name="commit-loop")

    async def stop(self) -> None:
        self._stopped = True
        if self._committer is not None:
            self._wakeup.set()
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        for proposal in self._queue:
            if not proposal.future.done():
                proposal.future.set_exception(errors.server_stopped())
        self._queue.clear()
        self.backend.sync()
        self.backend.close()

    # ---- identity ----------------------------------------------------------------------

    def header(self, revision: int | None = None) -> dict:
        return {
            "cluster_id": self.cluster_id,
            "member_id": self.member.id,
            "revision": self.read_revision if revision is None else revision,
            "raft_term": RAFT_TERM,
        }

    # ---- KV ----------------------------------------------------------------------------

    async def range(self, request: dict) -> dict:
        validate.check_range(request)
        revision = self.read_revision
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
            revision = self.read_revision
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

    # ---- maintenance -------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "header": self.header(),
            "version": ETCD_SERVER_VERSION,
            "dbSize": self.backend.size_bytes(),
            "leader": self.member.id,
            "raftIndex": self.applied_index,
            "raftTerm": RAFT_TERM,
            "raftAppliedIndex": self.applied_index,
            "dbSizeInUse": self.backend.live_bytes(),
        }

    def member_list(self) -> dict:
        member = self.member
        header = self.header()
        del header["revision"]
        return {
            "header": header,
            "members": [
                {
                    "ID": member.id,
                    "name": member.name,
                    "peerURLs": member.peer_urls,
                    "clientURLs": member.client_urls,
                }
            ],
        }

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
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Proposal(kind, request, future))
        self._wakeup.set()
        return await future

    def _over_quota(self) -> bool:
        now = time.monotonic()
        if now - self._quota_checked_at > QUOTA_CHECK_INTERVAL_S:
            self._quota_checked_at = now
            self._backend_bytes = self.backend.live_bytes()
            if self._backend_bytes > self.config.quota_backend_bytes and not self.alarms:
                self.alarms.append((self.member.id, 1))
        return bool(self.alarms)

    async def _commit_loop(self) -> None:
        while not self._stopped:
            await self._wakeup.wait()
            self._wakeup.clear()
            group, self._queue = self._queue, []
            if not group:
                continue
            outcomes: list[tuple[_Proposal, dict | Exception]] = []
            unsynced = False
            for proposal in group:
                if proposal.kind == "compact" and unsynced:
                    # Compaction may only cut history every reader can already see.
                    await asyncio.to_thread(self.backend.sync)
                    self.read_revision = self.store.current_revision
                    unsynced = False
                outcomes.append((proposal, self._apply(proposal)))
                unsynced = True
            await asyncio.to_thread(self.backend.sync)
            self.read_revision = self.store.current_revision
            for proposal, outcome in outcomes:
                if proposal.future.done():
                    continue
                if isinstance(outcome, Exception):
                    proposal.future.set_exception(outcome)
                else:
                    proposal.future.set_result(outcome)

    def _annotate(self, batch: RocksBatch) -> None:
        batch.put("meta", META_CONSISTENT_INDEX, encode_int(self.applied_index))

    def _apply(self, proposal: _Proposal) -> dict | Exception:
        """Apply one proposal in its own MVCC transaction; errors leave no change."""
        self.applied_index += 1
        request = proposal.request
        try:
            if proposal.kind == "compact":
                self.store.compact(request.get("revision", 0), self._annotate)
                return {"header": self.header(self.store.current_revision)}
            txn = self.store.write(self._annotate)
            try:
                if proposal.kind == "put":
                    response = self.applier.put(request, txn)
                elif proposal.kind == "delete_range":
                    response = self.applier.delete_range(request, txn)
                else:
                    response = self.applier.write_txn(request, txn)
            finally:
                txn.end()
            response["header"] = self.header(self.store.current_revision)
            return response
        except errors.EtcdError as error:
            return error
        except StorageError as error:
            return errors.from_storage(error)

    def _lease_exists(self, lease_id: int) -> bool:
        return False
