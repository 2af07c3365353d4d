"""EtcdServer: the etcdserver role, knowing no HTTP.

A write is validated, registered in `Waits`, proposed through Raft and answered when this
member applies it (every member applies every entry; only the one holding the waiter
answers). A linearizable read waits for a ReadIndex round (`LinearizableReads`), a
serializable one is served locally. Failures are typed `ServerError`s; the face maps them
to etcd's codes and fills in the response headers.

The Raft driver calls this class through its StateMachine and RaftEvents protocols
(`apply`, `restore`, `on_soft_state`, ...): it forwards the state's part to the
`StateMachine` and completes the waiting requests and reads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from keyraft.app.server import errors, validate
from keyraft.app.server.alarms import QuotaCheck
from keyraft.app.server.apply import is_read_only, is_serializable
from keyraft.app.server.auth.guard import check_range, check_txn
from keyraft.app.server.auth.service import AuthService
from keyraft.app.server.auth.store import AuthInfo, AuthStore
from keyraft.app.server.auth.tokens import parse_auth_token
from keyraft.app.server.cluster import ClusterService, member_json
from keyraft.app.server.compactor import AutoCompactor, parse_retention
from keyraft.app.server.config import ETCD_SERVER_VERSION, ServerConfig
from keyraft.app.server.corruption import CorruptionMonitor, KVHash, PeerHashes
from keyraft.app.server.leases import LeaseKeeper, min_lease_ttl, new_lease_id
from keyraft.app.server.linearizable import LinearizableReads
from keyraft.app.server.maintenance import Maintenance
from keyraft.app.server.members import MemberTable
from keyraft.app.server.membership import Cluster, Member, cluster_from_config
from keyraft.app.server.peers import (
    PeerPort,
    ask_leader_to_promote,
    fetch_cluster,
    peer_receiver,
    peer_transport,
)
from keyraft.app.server.reads import SteppedReads
from keyraft.app.server.recovery import check_wal_dir, force_new_cluster
from keyraft.app.server.request_size import (
    PROPOSAL_ENCODING_MARGIN,
    PROTOBUF_PER_ENTRY_BYTE,
    RAFT_REQUEST_OVERHEAD,
    encoded_size,
)
from keyraft.app.server.requests import (
    Alarm,
    AlarmAction,
    AlarmType,
    Authed,
    Compact,
    DeleteRange,
    HashKV,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseRevoke,
    LeaseTimeToLive,
    Proposal,
    Publish,
    Put,
    Range,
    Txn,
    encode_proposal,
)
from keyraft.app.server.state_machine import MemberRemovedError, StateMachine
from keyraft.app.server.tls import client_context, forwarding_context, member_tls, uses_https
from keyraft.app.server.waits import Waits, cancel_on, wait_for_event
from keyraft.app.server.watches import Watch, WatchSpec, open_watch
from keyraft.raft.io.clock import Clock, SystemClock
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.peer_transport import CLUSTER_HEADER, FROM_HEADER
from keyraft.raft.io.transport import PeerNetwork
from keyraft.raft.messages import (
    NO_LEADER,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    ReadState,
    SoftState,
    StateRole,
)
from keyraft.storage.backend import Backend
from keyraft.storage.errors import StorageError
from keyraft.storage.lease import MAX_LEASE_TTL
from keyraft.storage.mvcc.watch import WatchHub

T = TypeVar("T")
log = logging.getLogger("keyraft.server")

PROPOSAL_SWEEP_S = 0.1
PUBLISH_RETRY_S = 0.2
# The state machine is RocksDB itself, so a Raft "snapshot" is only a sync and a log
# compaction: cheap enough to keep the in-memory log short even when --snapshot-count
# (etcd's default 100,000) is large.
LOG_COMPACTION_ENTRIES = 10_000
CATCH_UP_ENTRIES = 5_000
SLOW_APPLY_S = 0.1


class EtcdServer:
    def __init__(
        self,
        config: ServerConfig,
        *,
        clock: Clock | None = None,
        network: Callable[[RaftDriver], PeerNetwork] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`clock`, `network` (given the driver, the transport to its peers) and `rng`
        (Raft's election timeouts) default to the real ones; tests pass a fake clock and
        an in-memory network to run a whole cluster in one event loop."""
        self.config = config
        self.clock = clock or SystemClock()
        self.state = StateMachine(Backend(config.kv_dir), self.clock.now)
        try:
            # TLS settings with --auto-tls certificates made; the listeners' contexts are
            # the face's, the contexts for calls to other members are built here.
            self.client_tls, self.peer_tls = member_tls(config)
            cluster = self._identify(config)
            check_wal_dir(config, self.state)
            if config.force_new_cluster:
                force_new_cluster(config, self.state, cluster.local.id)
        except Exception:
            self.state.backend.close()
            raise
        self.member, self.cluster_id = cluster.local, cluster.id
        # Until the state machine knows the members (a joining member learns them from
        # the leader's snapshot), those the cluster told us about.
        self._known_members = cluster.members
        self.on_removed: Callable[[], None] = lambda: None
        self.removed = False
        # Set when the member begins to stop: its long-lived streams (watches, keepalives,
        # observes) end then, so that no client can hold a stopping member open.
        self.closing = asyncio.Event()
        self.learner = False
        election_timeout_s = config.election_timeout_ms / 1000
        self.request_timeout = 5.0 + 2 * election_timeout_s
        self.leader_wait = 3 * election_timeout_s
        self.handover_timeout = 2 * election_timeout_s  # see hand_over_leadership
        self.retry_interval = election_timeout_s
        self.leader = NO_LEADER
        self.term = 0
        self.quota = QuotaCheck(
            self.clock, config.quota_backend_bytes, self.state.backend.live_bytes
        )
        self.maintenance = Maintenance(
            self.state, self.quota, os.path.join(config.data_dir, "member")
        )
        # counters read by the face's metrics (etcd's names)
        self.leader_changes = 0
        self.proposals_failed = 0
        self.slow_applies = 0
        self._stopped = False
        self._leader_known = asyncio.Event()
        self._ids = itertools.count(int.from_bytes(os.urandom(6), "big") << 16)
        self._tasks: list[asyncio.Task] = []
        self.waits = Waits(self.clock, self.request_timeout)
        self.watch_hub = WatchHub(lambda: self.state.store)
        self.state.store.listeners.append(self.watch_hub.notify)
        joining = not self.state.members.members
        self.driver = RaftDriver(
            node_id=self.member.id,
            voters=() if joining else tuple(sorted(cluster.members)),
            wal_dir=config.member_wal_dir,
            state_machine=self,
            tick_seconds=config.heartbeat_interval_ms / 1000,
            election_ticks=max(2, config.election_timeout_ms // config.heartbeat_interval_ms),
            snapshot_count=min(config.snapshot_count, LOG_COMPACTION_ENTRIES),
            catch_up_entries=min(CATCH_UP_ENTRIES, max(1, config.snapshot_count // 2)),
            max_message_bytes=config.max_request_bytes,
            events=self,
            clock=self.clock,
            rng=rng,
        )
        self.term = self.driver.term
        self.reads = LinearizableReads(
            self.member.id,
            self.clock,
            self.request_timeout,
            self.driver.read_index,
            self._wait_for_leader,
            lambda: self.state.applied_index,
        )
        self.stepped_reads = SteppedReads(lambda: self.state.store, lambda: self.current_revision)
        self.leases = LeaseKeeper(
            self.state.lessor,
            self.clock,
            election_timeout_s,
            self.propose,
            self._leader_client_urls,
            forwarding_context(self.client_tls, self.peer_tls),
        )
        self.state.auth.tokens = parse_auth_token(
            config.auth_token, config.auth_token_ttl, self.clock.now
        )
        self.auth = AuthService(
            self.state.auth,
            self.propose,
            self.reads.barrier,
            lambda: self.current_revision,
            config.bcrypt_cost,
        )
        self.compactor = AutoCompactor(
            self.clock,
            config.auto_compaction_mode,
            parse_retention(config.auto_compaction_mode, config.auto_compaction_retention),
            lambda: self.current_revision,
            self.propose,
        )
        receiver = peer_receiver(
            config,
            cluster,
            lambda: self.members,
            lambda: self.state.members.removed,
            self.driver,
            self.state.restorable,
        )
        self.peer_receiver = PeerPort(
            receiver,
            self._members_with_urls,
            self.cluster_id,
            self._own_hash,
            self._promote_for_member,
        )
        # Name this member and its cluster on requests to peer ports, as its Raft streams do.
        self._peer_headers = {
            CLUSTER_HEADER: str(self.cluster_id),
            FROM_HEADER: str(self.member.id),
        }
        self.corruption = self._corruption_monitor(config, cluster)
        self._initialized = self.state.applied_index > 0  # started before, with data
        self.transport = (
            network(self.driver)
            if network
            else peer_transport(cluster, self.driver, self.peer_tls, self._removed_from_cluster)
        )
        self.cluster = ClusterService(self, config.strict_reconfig_check)

    def _corruption_monitor(self, config: ServerConfig, cluster: Cluster) -> CorruptionMonitor:
        urls = [url for member in cluster.members.values() for url in member.peer_urls]
        hashes = PeerHashes(
            client_context(self.peer_tls) if uses_https(urls) else True,
            self._peer_headers,
            self.request_timeout,
        )
        return CorruptionMonitor(
            config.corrupt_check_time_s,
            self.clock,
            self._own_hash,
            lambda: {m.id: m.peer_urls for m in self.members.values() if m.id != self.member.id},
            hashes.fetch,
            self.reads.barrier,
            self.propose,
        )

    async def check_initial_hashes(self) -> None:
        """--experimental-initial-corrupt-check, before the member serves: raises
        DataInconsistency. A member starting for the first time has nothing to check."""
        if self.config.initial_corrupt_check and self._initialized:
            await self.corruption.check_initial()

    async def _own_hash(self, revision: int = 0) -> KVHash:
        """This member's hashkv at `revision` (0: its current one)."""
        found = await self.maintenance.hash_kv(HashKV(revision))
        return KVHash.from_response(self.member.id, found)

    def _identify(self, config: ServerConfig) -> Cluster:
        """Who this member is in which cluster: from the data dir when it has members
        (the flags are then ignored, as etcd ignores them once it has a WAL), from the
        other members when joining (--initial-cluster-state existing), else from the
        flags (a new cluster, whose founders the data dir records)."""
        state = self.state
        stored_cluster, stored_member = state.identity()
        table = state.members
        if stored_member in table.removed:
            raise MemberRemovedError
        local = table.members.get(stored_member)
        own = sorted(config.initial_advertise_peer_urls)
        if local is not None and sorted(local.peer_urls) == own:
            local = Member(
                local.id,
                config.name,
                list(local.peer_urls),
                list(config.advertise_client_urls),
                local.is_learner,
            )
            return Cluster(local, dict(table.members), stored_cluster)
        if config.initial_cluster_state == "existing" and not table.members:
            cluster = fetch_cluster(config, self.peer_tls)
            state.claim(cluster.id, cluster.local.id, config.data_dir)
            return cluster
        cluster = cluster_from_config(config)
        state.claim(cluster.id, cluster.local.id, config.data_dir, list(cluster.members.values()))
        return cluster

    # ---- membership --------------------------------------------------------------------

    @property
    def members(self) -> dict[int, Member]:
        """The current members by ID (the peer receiver admits only these)."""
        return self.state.members.members or self._known_members

    @property
    def table(self) -> MemberTable:
        return self.state.members

    @property
    def member_id(self) -> int:
        return self.member.id

    @property
    def auth_store(self) -> AuthStore:
        return self.state.auth

    def is_learner(self) -> bool:
        member = self.members.get(self.member.id)
        return member is not None and member.is_learner

    def _members_with_urls(self) -> list[Member]:
        return [
            Member(m.id, m.name, m.peer_urls, self.client_urls(m.id), m.is_learner)
            for m in sorted(self.members.values(), key=lambda m: m.id)
        ]

    def members_json(self) -> list[dict]:
        return [member_json(m, m.client_urls) for m in self._members_with_urls()]

    def new_request_id(self) -> int:
        return next(self._ids)

    async def promote_on_leader(self, member_id: int) -> list[dict]:
        leader = self.members.get(self.leader)
        if leader is None:
            raise errors.NoLeader
        return await ask_leader_to_promote(
            leader.peer_urls,
            member_id,
            self._peer_headers,
            client_context(self.peer_tls) if uses_https(leader.peer_urls) else True,
            self.request_timeout,
        )

    async def _promote_for_member(self, member_id: int) -> list[dict]:
        await self.cluster.promote_as_leader(member_id)
        return self.members_json()

    def _follow_members(self) -> None:
        """Point the peer streams at the current members; note whether this one is a
        learner (the face then serves it only what etcd serves a learner)."""
        self.learner = self.is_learner()
        peers = {
            m.id: m.peer_urls[0]
            for m in self.members.values()
            if m.id != self.member.id and m.peer_urls  # an update may leave none
        }
        self.transport.set_peers(peers)

    def _removed_from_cluster(self) -> None:
        if not self.removed:
            self.removed = True
            log.warning("%s", errors.MemberRemoved.message)
            self.on_removed()

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._follow_members()
        self.transport.start()
        self.driver.start(self.transport)
        self._tasks = [
            asyncio.create_task(self._publish(), name="publish-member"),
            asyncio.create_task(self.waits.expire_forever(PROPOSAL_SWEEP_S), name="expire"),
            asyncio.create_task(self.compactor.run(), name="auto-compaction"),
            asyncio.create_task(self.corruption.run(), name="corruption-check"),
        ]
        await self.leases.start()

    async def hand_over_leadership(self) -> None:
        """Before a process stops its member: a leader hands leadership to a connected
        voter first (`ClusterService.hand_over_before_stopping`). Not part of `stop`: it
        waits on the member's clock, which a test's manual clock may never advance."""
        await self.cluster.hand_over_before_stopping(self.handover_timeout)

    async def stop(self) -> None:
        self._stopped = True
        await self.leases.stop()
        for task in self._tasks:
            task.cancel()
        await self.driver.stop()
        await self.transport.stop()
        self.waits.fail_all(errors.ServerStopped())
        self.reads.stop(errors.ServerStopped())
        await self.maintenance.drain()
        self.state.close()

    async def until_closing(self, work: Awaitable[T]) -> T:
        """`work`'s result; or, once the member begins to stop, `work` canceled and
        ServerStopped raised (a lock wait or a watch must not hold a stopping member)."""
        task = await cancel_on(work, self.closing.wait())
        if task.cancelled() and self.closing.is_set():
            raise errors.ServerStopped()
        return task.result()

    def close(self) -> None:
        """Release the data dir of a server that was never started."""
        self.driver.wal.close()
        self.state.close()

    async def _publish(self) -> None:
        """Tell the cluster this member's client URLs (member list shows them)."""
        request = Publish(self.member.id, tuple(self.member.client_urls), self.member.name)
        while True:
            try:
                await self.propose(request)
                return
            except errors.ServerError:
                await self.clock.sleep(PUBLISH_RETRY_S)

    # ---- what this member knows ----------------------------------------------------------

    @property
    def current_revision(self) -> int:
        return self.state.store.current_revision

    @property
    def compact_revision(self) -> int:
        return self.state.store.compact_revision

    @property
    def commit_index(self) -> int:
        return self.driver.commit

    def has_leader(self) -> bool:
        return self.leader != NO_LEADER

    def key_count(self) -> int:
        return len(self.state.store.index)

    def db_size(self) -> int:
        return self.state.backend.size_bytes()

    def client_urls(self, member: int) -> list[str]:
        if member == self.member.id:
            return self.member.client_urls
        return self.state.client_urls(member)

    # ---- KV ----------------------------------------------------------------------------

    # `info` is who asks, given only while auth is enabled (the face passes it then):
    # reads are checked here, writes at apply with the user their proposal carries.

    async def range(self, request: Range, info: AuthInfo | None = None) -> dict:
        validate.check_range(request)
        if not request.serializable:
            await self.reads.barrier()
        if info is not None:
            check_range(self.state.auth, info, request.key, request.range_end)
        return await self._read(self.stepped_reads.range(request))

    async def put(self, request: Put, info: AuthInfo | None = None) -> dict:
        validate.check_put(request)
        return await self.propose(request, info)

    async def delete_range(self, request: DeleteRange, info: AuthInfo | None = None) -> dict:
        validate.check_delete(request)
        return await self.propose(request, info)

    async def txn(self, request: Txn, info: AuthInfo | None = None) -> dict:
        validate.check_txn(request, self.config.max_txn_ops)
        if not is_read_only(request):
            return await self.propose(request, info)
        if not is_serializable(request):
            await self.reads.barrier()
        if info is not None:
            check_txn(self.state.auth, info, request)
        return await self._read(self.stepped_reads.txn(self.state.applier, request))

    async def compact(self, request: Compact, info: AuthInfo | None = None) -> dict:
        return await self.propose(request)  # etcd 3.4 lets any user compact

    @staticmethod
    async def _read(read: Awaitable[dict]) -> dict:
        try:
            return await read
        except StorageError as error:
            raise errors.from_storage(error) from None

    # ---- leases ------------------------------------------------------------------------

    async def lease_grant(self, request: LeaseGrant, info: AuthInfo | None = None) -> dict:
        if request.ttl > MAX_LEASE_TTL:
            raise errors.LeaseTTLTooLarge
        config = self.config
        ttl = max(
            request.ttl, min_lease_ttl(config.heartbeat_interval_ms, config.election_timeout_ms)
        )
        return await self.propose(LeaseGrant(ttl, request.lease_id or new_lease_id()))

    async def lease_revoke(self, request: LeaseRevoke, info: AuthInfo | None = None) -> dict:
        return await self.propose(request, info)

    async def lease_keep_alive(self, request: LeaseKeepAlive, forwarded: bool = False) -> dict:
        ttl = await self.leases.keep_alive(request.lease_id, forwarded)
        return {
            "header": {"revision": self.current_revision},
            "ID": request.lease_id,
            "TTL": ttl,
        }

    async def lease_time_to_live(self, request: LeaseTimeToLive) -> dict:
        """Only the leader knows how long a lease has left: followers ask it."""
        if not self.leases.leading:
            message = {"ID": request.lease_id, "keys": request.keys}
            answer = await self.leases.forward("/v3/lease/timetolive", message)
            revision = int(answer.get("header", {}).get("revision", 0))
            answer["header"] = {"revision": revision}
            return answer
        return {
            "header": {"revision": self.current_revision},
            **self.leases.time_to_live(request.lease_id, request.keys),
        }

    async def lease_leases(self, _request: object = None) -> dict:
        leases = [{"ID": lease.id} for lease in self.state.lessor.by_expiry()]
        return {"header": {"revision": self.current_revision}, "leases": leases}

    async def _leader_client_urls(self) -> list[str]:
        await self._wait_for_leader(self.clock.now() + self.leader_wait)
        return self.client_urls(self.leader)

    # ---- maintenance and cluster -------------------------------------------------------

    async def status(self, _request: object = None) -> dict:
        """etcd 3.4's StatusResponse (isLearner stays false: keyraft has no learners)."""
        backend = self.state.backend
        return {
            "header": {"revision": self.current_revision},
            "version": ETCD_SERVER_VERSION,  # as GET /version says (3.4.23, as etcd)
            "dbSize": backend.size_bytes(),
            "leader": self.leader,
            "raftIndex": self.driver.commit,
            "raftTerm": self.term,
            "raftAppliedIndex": self.state.applied_index,
            # etcd 3.4: "no leader", then every alarm raised
            "errors": ([errors.NoLeader.message] if self.leader == NO_LEADER else [])
            + self.state.alarms.texts(),
            "dbSizeInUse": backend.live_bytes(),
            "isLearner": self.is_learner(),
        }

    async def member_list(self, _request: object = None) -> dict:
        return {"header": {}, "members": self.members_json()}

    async def alarm(self, request: Alarm, info: AuthInfo | None = None) -> dict:
        """Every alarm action goes through the log (etcd 3.4 lets anyone use it)."""
        response = await self.propose(request)
        response.pop("header", None)  # etcd's AlarmResponse carries none
        return response

    # ---- proposals ---------------------------------------------------------------------

    async def propose(self, request: Proposal, info: AuthInfo | None = None) -> dict:
        """Propose `request` through Raft and return its applied result (or raise it);
        with `info`, apply checks that user's permissions for it."""
        if self._stopped:
            raise errors.ServerStopped
        request_id = next(self._ids)
        if info is None:
            entry = encode_proposal(request_id, request)
        else:
            entry = encode_proposal(request_id, Authed(info.user, info.revision, request))
        if self._too_large(request, entry):
            raise errors.RequestTooLarge
        if isinstance(request, Put | Txn | LeaseGrant) and self.quota.exceeded(len(entry)):
            await self._raise_nospace()
            raise errors.NoSpace
        try:
            if self.leader == NO_LEADER:
                await self._wait_for_leader(self.clock.now() + self.leader_wait)
            waiting = self.waits.register(request_id)
            try:
                self.driver.propose([entry])
                return await waiting
            finally:
                self.waits.forget(request_id)
        except (errors.NoLeader, errors.RequestTimedOut, errors.ServerStopped):
            self.proposals_failed += 1
            raise

    async def _raise_nospace(self) -> None:
        """Propose NOSPACE for this member unless it stands (etcd's quota check does)."""
        if (self.member.id, AlarmType.NOSPACE) in self.state.alarms.raised:
            return
        try:
            await self.propose(Alarm(AlarmAction.ACTIVATE, self.member.id, AlarmType.NOSPACE))
        except errors.ServerError as error:
            log.warning("could not raise NOSPACE: %s", error)

    def _too_large(self, request: Proposal, entry: bytes) -> bool:
        """etcd's limit is on the protobuf size. Protobuf is never more than 11 times our
        log entry (a negative int: 1 byte of msgpack, 11 of protobuf), so the exact size is
        only worth computing for large entries (tests/server/test_request_size.py)."""
        limit = self.config.max_request_bytes - RAFT_REQUEST_OVERHEAD
        if len(entry) > self.config.max_request_bytes + PROPOSAL_ENCODING_MARGIN:
            return True  # peers would refuse the frame carrying it
        return PROTOBUF_PER_ENTRY_BYTE * len(entry) > limit and encoded_size(request) > limit

    async def _wait_for_leader(self, deadline: float) -> None:
        while self.leader == NO_LEADER:
            self._leader_known.clear()
            remaining = deadline - self.clock.now()
            if not await wait_for_event(self.clock, self._leader_known, remaining):
                raise errors.NoLeader

    # ---- called by the Raft driver -----------------------------------------------------

    def applied_index(self) -> int:
        return self.state.applied_index

    def apply(self, entries: list[Entry]) -> None:
        started = time.perf_counter()
        for request_id, outcome in self.state.apply(entries):
            self.waits.trigger(request_id, outcome)
        if time.perf_counter() - started > SLOW_APPLY_S:
            self.slow_applies += 1  # etcd counts applies over 100 ms ("took too long")
        self.reads.on_applied()

    def apply_conf_change(self, entry: Entry) -> ConfChange | None:
        change, outcome = self.state.apply_conf_change(entry)
        if outcome is not None:
            self.waits.trigger(*outcome)
        if change is not None:
            self._follow_members()
            if change.type == ConfChangeType.REMOVE_NODE and change.node_id == self.member.id:
                self._removed_from_cluster()
        return change

    def conf_state(self) -> ConfState:
        return self.state.conf_state()

    def make_durable(self) -> None:
        self.state.make_durable()

    def snapshot_data(self) -> bytes:
        return self.state.snapshot_data()

    def restore(self, data: bytes) -> None:
        self.state.restore(data)
        self.watch_hub.desync_all()
        self._follow_members()
        if self.member.id in self.state.members.removed:
            self._removed_from_cluster()

    def on_soft_state(self, soft_state: SoftState, term: int) -> None:
        if soft_state.leader != self.leader:
            log.info("leader is now %x (term %d)", soft_state.leader, term)
            if soft_state.leader != NO_LEADER:
                self.leader_changes += 1
        self.leader = soft_state.leader
        self.term = term
        self.leases.set_leading(soft_state.role == StateRole.LEADER)
        self.compactor.leading = soft_state.role == StateRole.LEADER
        self.corruption.leading = soft_state.role == StateRole.LEADER
        if self.leader != NO_LEADER:
            self._leader_known.set()

    def on_read_states(self, read_states: list[ReadState]) -> None:
        self.reads.on_read_states(read_states)

    # ---- watches -----------------------------------------------------------------------

    def check_watch(self, token: str | None, key: bytes, range_end: bytes) -> None:
        """Raise unless the token's user may read what a watch asks for (call it only
        while auth is enabled)."""
        check_range(self.state.auth, self.auth.info(token), key, range_end)

    def watch(self, spec: WatchSpec, watch_id: int = 0) -> Watch:
        """Open a watch; its changes queue up from now on (see app.server.watches)."""
        return open_watch(self.watch_hub, spec, watch_id)
