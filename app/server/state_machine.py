"""The replicated state machine: backend, MVCC store, lessor, auth store and the
consistent index.

The Raft driver hands it committed entries in log order; each proposal is applied in its
own MVCC transaction whose batch also records the entry's index (the "consistent index"),
so a restart never applies an entry twice or skips one. Apply is deterministic: it reads
no clock and no random number, and an entry that cannot be applied (malformed, or refused
by a check) yields the same error result on every member, never a crash. While auth is
enabled, every proposal is checked here against the user and auth revision it carries
(`Authed`), in log order with the auth changes themselves.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import msgpack

from keyraft.app.server import errors
from keyraft.app.server.alarms import AlarmStore
from keyraft.app.server.apply import Applier
from keyraft.app.server.auth.guard import check_proposal
from keyraft.app.server.auth.store import NOBODY, AuthInfo, AuthStore
from keyraft.app.server.members import MemberTable, decode_change
from keyraft.app.server.membership import Member
from keyraft.app.server.requests import (
    Alarm,
    AuthChange,
    Authed,
    AuthenticateAs,
    Compact,
    DeleteRange,
    LeaseGrant,
    LeaseRevoke,
    MalformedProposal,
    Proposal,
    Publish,
    Put,
    Txn,
    decode_proposal,
)
from keyraft.raft.codec import decode_conf_change
from keyraft.raft.errors import CodecError
from keyraft.raft.messages import ConfChange, ConfChangeType, ConfState, Entry
from keyraft.storage.backend import Backend
from keyraft.storage.errors import StorageError
from keyraft.storage.lease import Lessor
from keyraft.storage.mvcc.store import MVCCStore, Note, WriteTxn, decode_int, encode_int

log = logging.getLogger("keyraft.state")

META_CONSISTENT_INDEX = b"consistent_index"
META_CLUSTER_ID = b"cluster_id"
META_MEMBER_ID = b"member_id"
CLIENT_URLS_PREFIX = b"client_urls/"
SNAPSHOT_FAMILIES = ("kv", "meta", "lease", "cluster", "auth")
_IDENTITY = {("cluster", META_CLUSTER_ID), ("cluster", META_MEMBER_ID)}
_UINT64 = struct.Struct(">Q")

# What applying one entry gave: (request id, response dict or the error to answer).
Applied = tuple[int, "dict | errors.ServerError"]


class DataDirMismatch(Exception):
    """The data dir was created for another member or cluster."""


class MemberRemovedError(DataDirMismatch):
    """The data dir's member was removed from its cluster: it never serves again."""

    def __init__(self) -> None:
        super().__init__(errors.MemberRemoved.message)


class StateMachine:
    def __init__(self, backend: Backend, lease_clock: Callable[[], float] | None = None) -> None:
        self.backend = backend
        self.store = MVCCStore(backend)
        self.lessor = Lessor(lease_clock) if lease_clock is not None else Lessor()
        self._restore_leases()
        self.applier = Applier(self.store, self.lessor.exists)
        self.auth = AuthStore(backend)
        self.alarms = AlarmStore(backend)
        self.members = MemberTable(backend)
        self.applied_index = decode_int(backend.get("meta", META_CONSISTENT_INDEX), 0)

    # ---- identity ----------------------------------------------------------------------

    def claim(
        self, cluster_id: int, member_id: int, data_dir: str, founders: list[Member] = ()
    ) -> None:
        """A new data dir records whose member it is, and the founding members (a joining
        member has none: they arrive with the leader's snapshot); an existing one must
        belong to this member of this cluster."""
        stored_cluster = self.backend.get("cluster", META_CLUSTER_ID)
        if stored_cluster is None:
            batch = self.backend.new_batch()
            batch.put("cluster", META_CLUSTER_ID, _UINT64.pack(cluster_id))
            batch.put("cluster", META_MEMBER_ID, _UINT64.pack(member_id))
            self.members.seed(founders, batch)
            self.backend.write(batch)
            self.backend.sync()
            self.members.load()
            return
        old_cluster, old_member = self.identity()
        if old_cluster != cluster_id or old_member != member_id:
            raise DataDirMismatch(
                f"data dir {data_dir} belongs to member {old_member:x} of "
                f"cluster {old_cluster:x}, not to member "
                f"{member_id:x} of cluster {cluster_id:x} (check --name, "
                "--initial-advertise-peer-urls and --initial-cluster-token)"
            )
        if founders and not self.members.members:  # a data dir from before membership
            batch = self.backend.new_batch()
            self.members.seed(founders, batch)
            self.backend.write(batch)
            self.members.load()

    def identity(self) -> tuple[int, int]:
        """(cluster ID, member ID) this data dir belongs to; (0, 0) for a new one."""
        stored_cluster = self.backend.get("cluster", META_CLUSTER_ID) or bytes(8)
        stored_member = self.backend.get("cluster", META_MEMBER_ID) or bytes(8)
        return _UINT64.unpack(stored_cluster)[0], _UINT64.unpack(stored_member)[0]

    def conf_state(self) -> ConfState:
        return self.members.conf_state()

    def client_urls(self, member_id: int) -> list[str]:
        """The client URLs a member published (empty until it has)."""
        stored = self.backend.get("cluster", CLIENT_URLS_PREFIX + _UINT64.pack(member_id))
        return msgpack.unpackb(stored) if stored else []

    # ---- apply -------------------------------------------------------------------------

    def apply(self, entries: list[Entry]) -> list[Applied]:
        """Apply committed entries above the applied index, as one backend write; the
        outcome of every proposal, by request id."""
        outcomes: list[Applied] = []
        self.store.begin_group()
        try:
            for entry in entries:
                if entry.index <= self.applied_index:
                    continue
                if not entry.data:  # a new leader's empty entry, or a conf change
                    self._apply_noop(entry.index)
                    continue
                try:
                    request_id, request = decode_proposal(entry.data)
                except MalformedProposal as error:
                    log.error("entry %d is not a proposal: %s", entry.index, error)
                    self._apply_noop(entry.index)
                    outcomes.append((error.request_id, errors.MalformedRequest()))
                    continue
                outcomes.append((request_id, self.apply_request(entry.index, request)))
        finally:
            self.store.end_group()
        return outcomes

    def apply_request(self, index: int, request: Proposal) -> dict | errors.ServerError:
        """Apply one proposal at log `index` in its own MVCC transaction (its batch records
        the index); a refused one changes nothing but the index."""
        self.applied_index = index
        if type(request) is Authed:
            info, request = AuthInfo(request.user, request.revision), request.request
        else:
            info = NOBODY
        try:
            # An unwrapped revoke comes from the leader's lease expiry (etcd's runs as root).
            if self.auth.enabled and not (info is NOBODY and type(request) is LeaseRevoke):
                check_proposal(self.auth, info, request, self._lease_keys)
        except errors.ServerError as error:
            self._apply_noop(index)
            return error
        refusal = self.alarms.refusal(request)
        if refusal is not None:
            self._apply_noop(index)
            return refusal
        try:
            if isinstance(request, Compact):
                self.store.compact(request.revision, self._index_note())
                return {"header": {"revision": self.store.current_revision}}
            txn = self.store.write(self._index_note())
            try:
                response = self._apply_write(request, txn)
            finally:
                for change in txn.end():
                    self.lessor.key_changed(change.kv.key, change.kv.lease)
            response["header"] = {"revision": self.store.current_revision}
            return response
        except errors.ServerError as error:
            return error
        except StorageError as error:
            return errors.from_storage(error)

    def _apply_write(self, request: Proposal, txn: WriteTxn) -> dict:
        match request:
            case Put():
                return self.applier.put(request, txn)
            case DeleteRange():
                return self.applier.delete_range(request, txn)
            case Txn():
                return self.applier.write_txn(request, txn)
            case LeaseGrant():
                lease = self.lessor.grant(request.lease_id, request.ttl, txn.batch)
                return {"header": {}, "ID": lease.id, "TTL": lease.ttl}
            case LeaseRevoke():
                # Every attached key goes in this one transaction: one revision for all.
                for key in self.lessor.revoke(request.lease_id, txn.batch):
                    txn.delete_range(key, None)
                return {}
            case Publish():
                if request.member_id in self.members.removed:
                    return {}  # removed while its publish was in flight
                key = CLIENT_URLS_PREFIX + _UINT64.pack(request.member_id)
                txn.put_raw("cluster", key, msgpack.packb(list(request.client_urls)))
                self.members.set_name(request.member_id, request.name, txn.batch)
                return {}
            case Alarm():
                return self.alarms.apply(request, txn.batch)
            case AuthenticateAs():
                return self.auth.authenticate(request, self.applied_index)
            case _ if isinstance(request, AuthChange):
                return self.auth.apply(request, txn.batch)
        raise errors.MalformedRequest  # pragma: no cover - decode_proposal admits no other

    def apply_conf_change(self, entry: Entry) -> tuple[ConfChange | None, Applied | None]:
        """Apply a conf change entry to the member table, in one batch with its index:
        (the change Raft must make, or None; the outcome for its waiter, if any)."""
        if entry.index <= self.applied_index:
            return None, None
        try:
            change = decode_conf_change(entry.data)
        except CodecError:
            change = None
        context = decode_change(change.context) if change is not None else None
        if change is None or context is None:
            log.error("entry %d is not a membership change this version knows", entry.index)
            self._apply_noop(entry.index)
            return None, None
        try:
            self.members.check(change.type, change.node_id, context)
        except errors.ServerError as error:
            self._apply_noop(entry.index)
            return None, (context.request_id, error)
        self.applied_index = entry.index
        self.store.begin_group()
        try:
            txn = self.store.write(self._index_note())
            self.members.apply(change.type, change.node_id, context, txn.batch)
            if change.type == ConfChangeType.REMOVE_NODE:
                txn.batch.delete("cluster", CLIENT_URLS_PREFIX + _UINT64.pack(change.node_id))
            txn.end()
        finally:
            self.store.end_group()
        return change, (context.request_id, {})

    def _lease_keys(self, lease_id: int) -> list[bytes]:
        lease = self.lessor.leases.get(lease_id)
        return sorted(lease.keys) if lease is not None else []

    def _apply_noop(self, index: int) -> None:
        self.applied_index = index
        self.store.write(self._index_note()).end()

    def _index_note(self) -> Note:
        return META_CONSISTENT_INDEX, encode_int(self.applied_index)

    # ---- durability and snapshots ------------------------------------------------------

    def make_durable(self) -> None:
        self.backend.sync()

    def snapshot_data(self) -> bytes:
        backend = self.backend
        dump = [
            [family, [[key, value] for key, value in backend.iterate(family)]]
            for family in SNAPSHOT_FAMILIES
        ]
        return msgpack.packb(dump, use_bin_type=True)

    @staticmethod
    def restorable(data: bytes) -> bool:
        """Whether `data` is a dump `restore` can take: checked before a snapshot from a
        peer is handed to Raft, since a failed install stops the member."""
        try:
            dump = msgpack.unpackb(data, raw=False)
        except Exception:  # msgpack raises several unrelated types
            return False
        if not isinstance(dump, list):
            return False
        for item in dump:
            if not (isinstance(item, list) and len(item) == 2 and item[0] in SNAPSHOT_FAMILIES):
                return False
            rows = item[1]
            if not isinstance(rows, list) or not all(
                isinstance(row, list)
                and len(row) == 2
                and type(row[0]) is bytes
                and type(row[1]) is bytes
                for row in rows
            ):
                return False
        return True

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot from the leader, in place: the store,
        lessor and applier objects stay, so nothing holding them goes stale. The
        member's own identity is kept."""
        dump = msgpack.unpackb(data, raw=False)
        self.store.read_deferred()  # answers still to read need the history going away
        backend = self.backend
        batch = backend.new_batch()
        for family in SNAPSHOT_FAMILIES:
            for key, _value in backend.iterate(family):
                if (family, key) not in _IDENTITY:
                    batch.delete(family, key)
        for family, rows in dump:
            for key, value in rows:
                if (family, key) not in _IDENTITY:
                    batch.put(family, key, value)
        backend.write(batch)
        self.store.reload()
        self._restore_leases()
        self.auth.load()
        self.alarms.load()
        self.members.load()
        self.applied_index = decode_int(backend.get("meta", META_CONSISTENT_INDEX), 0)

    def _restore_leases(self) -> None:
        self.lessor.restore(self.backend, self.store.index.live_leases())

    def close(self) -> None:
        self.backend.sync()
        self.backend.close()
