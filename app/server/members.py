"""The cluster's members as replicated state: who they are, kept in the state machine's
backend (the "cluster" family, so in snapshots too) and changed only by applying a
committed Raft conf change, in the same batch as the applied index.

A conf change entry carries, as its context, the request id that waits for it and the
member it concerns (`MemberChange`); applying it checks it against the table as etcd's
`ValidateConfigurationChange` does, so a change that became invalid while it was in
flight is refused identically on every member, and Raft never sees it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

import msgpack

from keyraft.app.server import errors
from keyraft.app.server.membership import Member
from keyraft.raft.messages import ConfChangeType, ConfState
from keyraft.storage.backend import Backend, RocksBatch

FAMILY = "cluster"
MEMBER_PREFIX = b"member/"
REMOVED_PREFIX = b"removed/"
MAX_LEARNERS = 1  # etcd 3.4's maxLearners
_ID = struct.Struct(">Q")


class MemberChange(NamedTuple):
    """The context of a conf change entry: who waits for it, and the member's new
    attributes (peer URLs for an add or an update, the learner flag for an add)."""

    request_id: int = 0
    peer_urls: tuple[str, ...] = ()
    is_learner: bool = False
    promote: bool = False


def encode_change(change: MemberChange) -> bytes:
    return msgpack.packb(
        [change.request_id, list(change.peer_urls), change.is_learner, change.promote]
    )


def decode_change(data: bytes) -> MemberChange | None:
    """The context of a conf change, or None if it is not one this version wrote."""
    try:
        fields = msgpack.unpackb(data, raw=False)
    except Exception:  # msgpack raises several unrelated types
        return None
    if not (
        isinstance(fields, list)
        and len(fields) == 4
        and type(fields[0]) is int
        and isinstance(fields[1], list)
        and all(type(url) is str for url in fields[1])
        and type(fields[2]) is bool
        and type(fields[3]) is bool
    ):
        return None
    return MemberChange(fields[0], tuple(fields[1]), fields[2], fields[3])


class MemberTable:
    """The members and the removed IDs, mirrored in memory from the backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.members: dict[int, Member] = {}
        self.removed: set[int] = set()
        self.load()

    def load(self) -> None:
        """Read the table again (at start, and after a snapshot replaced the backend)."""
        self.members = {}
        for key, value in self._scan(MEMBER_PREFIX):
            (member_id,) = _ID.unpack(key[len(MEMBER_PREFIX) :])
            name, peer_urls, is_learner = msgpack.unpackb(value, raw=False)
            self.members[member_id] = Member(member_id, name, peer_urls, [], is_learner)
        self.removed = {
            _ID.unpack(key[len(REMOVED_PREFIX) :])[0] for key, _ in self._scan(REMOVED_PREFIX)
        }

    def _scan(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        end = prefix[:-1] + bytes((prefix[-1] + 1,))
        return self.backend.iterate(FAMILY, prefix, end)

    def conf_state(self) -> ConfState:
        voters = sorted(m.id for m in self.members.values() if not m.is_learner)
        learners = sorted(m.id for m in self.members.values() if m.is_learner)
        return ConfState(tuple(voters), tuple(learners))

    def seed(self, members: Iterable[Member], batch: RocksBatch) -> None:
        """The founding members (identical on every founding member)."""
        for member in members:
            self._put(member, batch)

    def set_name(self, member_id: int, name: str, batch: RocksBatch) -> None:
        member = self.members.get(member_id)
        if member is not None and name and member.name != name:
            member.name = name
            self._put(member, batch)

    def check(self, kind: ConfChangeType, member_id: int, change: MemberChange) -> None:
        """Raise what etcd answers for a change that does not fit the table."""
        members = self.members
        if member_id in self.removed:
            raise errors.MemberNotFound
        if kind in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE):
            if change.promote:
                if member_id not in members:
                    raise errors.MemberNotFound
                if not members[member_id].is_learner:
                    raise errors.MemberNotLearner
                return
            if member_id in members:
                raise errors.MemberIDExists
            self._check_urls(change.peer_urls, member_id)
            learners = sum(1 for member in members.values() if member.is_learner)
            if change.is_learner and learners + 1 > MAX_LEARNERS:
                raise errors.TooManyLearners
        elif kind == ConfChangeType.REMOVE_NODE:
            if member_id not in members:
                raise errors.MemberNotFound
        elif kind == ConfChangeType.UPDATE_NODE:
            if member_id not in members:
                raise errors.MemberNotFound
            self._check_urls(change.peer_urls, member_id)

    def _check_urls(self, urls: Iterable[str], member_id: int) -> None:
        taken = {
            url
            for member in self.members.values()
            if member.id != member_id
            for url in member.peer_urls
        }
        if taken.intersection(urls):
            raise errors.PeerURLExists

    def apply(
        self, kind: ConfChangeType, member_id: int, change: MemberChange, batch: RocksBatch
    ) -> None:
        """Make a checked change, in `batch`."""
        if kind in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE):
            if change.promote:
                member = self.members[member_id]
                member.is_learner = False
            else:
                member = Member(member_id, "", list(change.peer_urls), [], change.is_learner)
                self.members[member_id] = member
            self._put(member, batch)
        elif kind == ConfChangeType.REMOVE_NODE:
            del self.members[member_id]
            self.removed.add(member_id)
            batch.delete(FAMILY, MEMBER_PREFIX + _ID.pack(member_id))
            batch.put(FAMILY, REMOVED_PREFIX + _ID.pack(member_id), b"")
        elif kind == ConfChangeType.UPDATE_NODE:
            member = self.members[member_id]
            member.peer_urls = list(change.peer_urls)
            self._put(member, batch)

    @staticmethod
    def _put(member: Member, batch: RocksBatch) -> None:
        value = msgpack.packb([member.name, list(member.peer_urls), member.is_learner])
        batch.put(FAMILY, MEMBER_PREFIX + _ID.pack(member.id), value)
