"""The Cluster service (member add, remove, update, promote) and leadership moves.

Each membership request runs etcd 3.4's checks before proposing (--strict-reconfig-check,
on by default: an add or a removal must not leave fewer started voters than a quorum,
every voter must have been connected for a health interval; a learner is promoted only
once its log is within 10% of the leader's), then proposes one Raft conf change and
answers when this member applies it (`members.MemberTable` checks it again at apply,
in log order). Raft itself admits one pending conf change at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol
from urllib.parse import urlsplit

from keyraft.app.server import errors
from keyraft.app.server.auth.store import AuthInfo, AuthStore
from keyraft.app.server.members import MemberChange, MemberTable, encode_change
from keyraft.app.server.membership import Member, new_member_id
from keyraft.app.server.requests import (
    MemberAdd,
    MemberPromote,
    MemberRemove,
    MemberUpdate,
    MoveLeader,
)
from keyraft.app.server.waits import Waits
from keyraft.raft.io.clock import Clock
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.transport import PeerNetwork
from keyraft.raft.messages import ConfChange, ConfChangeType

log = logging.getLogger("keyraft.cluster")

HEALTH_INTERVAL_S = 5.0  # etcd's HealthInterval
LEARNER_READY_FRACTION = 0.9  # etcd's readyPercent
TRANSFER_POLL_S = 0.02
URL_SCHEMES = ("http", "https", "unix", "unixs")


class ServerView(Protocol):
    """What the service needs of the server."""

    driver: RaftDriver
    transport: PeerNetwork
    waits: Waits
    clock: Clock
    leader: int
    request_timeout: float
    retry_interval: float  # how long before a membership change is proposed again

    @property
    def member_id(self) -> int: ...

    @property
    def auth_store(self) -> AuthStore: ...

    @property
    def table(self) -> MemberTable: ...

    def members_json(self) -> list[dict]: ...

    def new_request_id(self) -> int: ...

    async def promote_on_leader(self, member_id: int) -> list[dict]: ...


def peer_urls(urls: tuple[str, ...]) -> list[str]:
    """Checked and sorted, as etcd's types.NewURLs: http(s) or unix(s), host:port, no path."""
    checked = []
    for url in urls:
        url = url.strip()
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise errors.InvalidPeerURLs from None
        if parts.scheme not in URL_SCHEMES or not parts.hostname or port is None or parts.path:
            raise errors.InvalidPeerURLs
        checked.append(url)
    if not checked:
        raise errors.InvalidPeerURLs
    return sorted(checked)


def member_json(member: Member, client_urls: list[str]) -> dict:
    return {
        "ID": member.id,
        "name": member.name,
        "peerURLs": member.peer_urls,
        "clientURLs": client_urls,
        "isLearner": member.is_learner,
    }


class ClusterService:
    def __init__(self, server: ServerView, strict_reconfig_check: bool = True) -> None:
        self.server = server
        self.strict = strict_reconfig_check

    # ---- the RPCs --------------------------------------------------------------------

    async def member_add(self, request: MemberAdd, info: AuthInfo | None = None) -> dict:
        urls = peer_urls(request.peerURLs)  # etcd's gateway checks them before auth
        self._admin(info)
        member_id = new_member_id(urls, int(time.time()))
        if self.strict:
            if not request.isLearner and not self._ready_to_add_voter():
                raise errors.NotEnoughStartedMembers
            if not self._all_voters_connected():
                raise errors.Unhealthy
        kind = ConfChangeType.ADD_LEARNER_NODE if request.isLearner else ConfChangeType.ADD_NODE
        await self._configure(kind, member_id, MemberChange(0, tuple(urls), request.isLearner))
        added = {"ID": member_id, "peerURLs": urls, "isLearner": request.isLearner}
        return {"header": {}, "member": added, "members": self.server.members_json()}

    async def member_remove(self, request: MemberRemove, info: AuthInfo | None = None) -> dict:
        self._admin(info)
        member_id = request.ID
        if self.strict:
            self._check_remove(member_id)
        server = self.server
        if member_id == server.member_id and server.leader == member_id:
            # Hand over first: the remaining voters need no election timeout to go on.
            successor = self._most_caught_up_voter()
            if successor is not None:
                await self.transfer_leadership(successor)
        await self._configure(ConfChangeType.REMOVE_NODE, member_id, MemberChange())
        return {"header": {}, "members": self.server.members_json()}

    async def member_update(self, request: MemberUpdate, info: AuthInfo | None = None) -> dict:
        self._admin(info)
        change = MemberChange(0, tuple(request.peerURLs))
        await self._configure(ConfChangeType.UPDATE_NODE, request.ID, change)
        return {"header": {}, "members": self.server.members_json()}

    async def member_promote(self, request: MemberPromote, info: AuthInfo | None = None) -> dict:
        self._admin(info)
        member_id = request.ID
        server = self.server
        if server.leader != server.member_id:
            # Only the leader knows whether a learner caught up: etcd asks it over the
            # peer port, where members need no user's token; its member list answers.
            return {"header": {}, "members": await server.promote_on_leader(member_id)}
        await self.promote_as_leader(member_id)
        return {"header": {}, "members": server.members_json()}

    async def promote_as_leader(self, member_id: int) -> None:
        """Promote a caught-up learner; asked of the leader (by a client or by a member
        on a client's behalf)."""
        server = self.server
        if server.leader != server.member_id:
            raise errors.NotLeader
        self._check_learner_ready(member_id)
        if self.strict and not self._ready_to_promote():
            raise errors.NotEnoughStartedMembers
        change = MemberChange(0, (), False, True)
        await self._configure(ConfChangeType.ADD_NODE, member_id, change)

    async def move_leader(self, request: MoveLeader, info: AuthInfo | None = None) -> dict:
        """Hand leadership to a voter (etcd's MoveLeader: asked of the leader only)."""
        self._admin(info)
        server = self.server
        if server.leader != server.member_id:
            raise errors.NotLeader
        await self.transfer_leadership(request.targetID)
        return {}

    async def transfer_leadership(self, target: int, timeout: float | None = None) -> None:
        server = self.server
        member = server.table.members.get(target)
        if member is None or member.is_learner:
            raise errors.BadLeaderTransferee
        wait = server.request_timeout if timeout is None else timeout
        deadline = server.clock.now() + wait
        server.driver.transfer_leader(target)
        while server.leader != target:
            if server.clock.now() >= deadline:
                raise errors.LeaderTransferTimedOut
            await server.clock.sleep(TRANSFER_POLL_S)

    async def hand_over_before_stopping(self, timeout: float) -> None:
        """A leader that stops hands leadership to the voter connected longest, as etcd's
        Stop does: the others go on at once instead of waiting out an election timeout
        (a rolling restart costs no election). A failed handover only delays them."""
        server = self.server
        if server.leader != server.member_id:
            return
        connected = [
            (up, member.id)
            for member in self._voters()
            if member.id != server.member_id
            and (up := server.transport.connected_for(member.id)) is not None
        ]
        if not connected:
            return
        target = max(connected)[1]
        try:
            await self.transfer_leadership(target, timeout)
        except errors.ServerError as error:
            log.warning("stopping without handing leadership to %x: %s", target, error)
            return
        log.info("handed leadership to %x before stopping", target)

    def _most_caught_up_voter(self) -> int | None:
        server = self.server
        progress = server.driver.node.status().progress
        voters = [
            (p.match, node_id)
            for node_id, p in progress.items()
            if node_id != server.member_id and not p.is_learner
        ]
        return max(voters)[1] if voters else None

    # ---- etcd's checks -----------------------------------------------------------------

    def _admin(self, info: AuthInfo | None) -> None:
        if info is not None:
            self.server.auth_store.check_admin(info)

    def _voters(self) -> list[Member]:
        return [m for m in self.server.table.members.values() if not m.is_learner]

    def _ready_to_add_voter(self) -> bool:
        voters = self._voters()
        started = sum(1 for m in voters if m.name)
        members = len(voters) + 1
        if started == 1 and members == 2:
            return True  # growing a one-member cluster
        return started >= members // 2 + 1

    def _ready_to_promote(self) -> bool:
        voters = self._voters()
        started = 1 + sum(1 for m in voters if m.name)  # the learner counts as started
        return started >= (len(voters) + 1) // 2 + 1

    def _connected(self, member_id: int) -> bool:
        """Connected for at least a health interval (this member always is)."""
        server = self.server
        if member_id == server.member_id:
            return True
        up = server.transport.connected_for(member_id)
        return up is not None and up >= HEALTH_INTERVAL_S

    def _all_voters_connected(self) -> bool:
        return all(self._connected(m.id) for m in self._voters())

    def _check_remove(self, member_id: int) -> None:
        table = self.server.table.members
        removed = table.get(member_id)
        if removed is not None and removed.is_learner:
            return  # a learner counts toward no quorum
        remaining = [m for m in self._voters() if m.id != member_id]
        started = sum(1 for m in remaining if m.name)
        if started < len(remaining) // 2 + 1:
            raise errors.NotEnoughStartedMembers
        server = self.server
        if member_id != server.member_id and server.transport.connected_for(member_id) is None:
            return  # a member that is down is not part of the active quorum
        voters = self._voters()
        active = sum(1 for m in voters if self._connected(m.id))
        if active - 1 < 1 + (len(voters) - 1) // 2:
            raise errors.Unhealthy

    def _check_learner_ready(self, member_id: int) -> None:
        """Only the leader knows how far a learner is (etcd answers "not leader" elsewhere)."""
        status = self.server.driver.node.status()
        if not status.progress:
            raise errors.NotLeader
        progress = status.progress.get(member_id)
        if progress is None:
            return
        leader_match = status.progress[status.id].match
        if progress.match < leader_match * LEARNER_READY_FRACTION:
            raise errors.LearnerNotReady

    # ---- proposing -----------------------------------------------------------------------

    async def _configure(self, kind: ConfChangeType, member_id: int, change: MemberChange) -> None:
        """Propose the change and wait until this member applies it. Raft drops a change
        quietly (another one pending, a leader just elected that has not applied its
        first entry, a leader changing), so it is proposed again every retry interval;
        a copy applied twice is refused by the second apply's checks, and only the
        first outcome reaches the waiter."""
        server = self.server
        if member_id == 0:  # Raft refuses the proposal; etcd finds no such member
            raise errors.MemberNotFound
        request_id = server.new_request_id()
        context = encode_change(change._replace(request_id=request_id))
        waiting = server.waits.register(request_id)
        try:
            while not waiting.done():
                if not server.driver.propose_conf_change(ConfChange(kind, member_id, context)):
                    log.debug("membership change %s of %x dropped", kind.name, member_id)
                sleeper = asyncio.ensure_future(server.clock.sleep(server.retry_interval))
                try:
                    await asyncio.wait((waiting, sleeper), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
            await waiting
        finally:
            server.waits.forget(request_id)
