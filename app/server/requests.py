"""Typed requests: what a client (or the server itself) asks, as immutable records.

Field names are etcd's proto names, so a decoded request message builds its record
directly. They are NamedTuples rather than frozen dataclasses because building one is on
every request's path: a frozen dataclass of RangeRequest's 13 fields costs 4.1 us to
construct, a NamedTuple 1.2 us (measured); both are immutable, typed and `match`-able,
and equality here also compares the type, as a dataclass's would. A request that changes state travels through the Raft log in the one codec
below (`encode_proposal` / `decode_proposal`), and is applied by a `match` over these
classes: a new kind of request, or a renamed field, breaks at import time rather than
after it is committed on every member.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, NamedTuple

import msgpack

# ---- etcd's enums (requests carry their numbers; these name them) ------------------------


class SortOrder(IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class Int32(int):
    """A proto int32 or uint32 in an answer: etcd's JSON writes those as numbers."""


class AlarmType(IntEnum):
    NONE = 0
    NOSPACE = 1
    CORRUPT = 2


class AlarmAction(IntEnum):
    GET = 0
    ACTIVATE = 1
    DEACTIVATE = 2


# ---- KV --------------------------------------------------------------------------------


class Range(NamedTuple):
    key: bytes = b""
    range_end: bytes = b""  # b"" one key; b"\0" every key >= key; else [key, range_end)
    limit: int = 0
    revision: int = 0
    sort_order: int = 0  # SortOrder
    sort_target: int = 0  # SortTarget
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


class Put(NamedTuple):
    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


class DeleteRange(NamedTuple):
    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False


class Compare(NamedTuple):
    result: int = 0  # CompareResult
    target: int = 0  # CompareTarget
    key: bytes = b""
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0
    range_end: bytes = b""


class Txn(NamedTuple):
    compare: tuple[Compare, ...] = ()
    success: tuple[Op, ...] = ()
    failure: tuple[Op, ...] = ()


# An op of a transaction; None stands for an op with no request set (etcd refuses it).
Op = Range | Put | DeleteRange | Txn | None


class Compact(NamedTuple):
    revision: int = 0
    physical: bool = False


# ---- leases ----------------------------------------------------------------------------


class LeaseGrant(NamedTuple):
    ttl: int = 0
    lease_id: int = 0  # 0: the server picks one (before proposing, so all members agree)


class LeaseRevoke(NamedTuple):
    lease_id: int = 0


class LeaseKeepAlive(NamedTuple):
    lease_id: int = 0


class LeaseTimeToLive(NamedTuple):
    lease_id: int = 0
    keys: bool = False


# ---- lock and election (etcd's v3lock and v3election services) --------------------------
# Served over the KV API as etcd's embedded clientv3/concurrency does; never proposed.


class LockRequest(NamedTuple):
    name: bytes = b""
    lease: int = 0  # 0: the server grants a 60 s lease, as etcd's session does


class UnlockRequest(NamedTuple):
    key: bytes = b""


class LeaderKey(NamedTuple):
    """Who leads an election: the key a campaign created, and its create revision."""

    name: bytes = b""
    key: bytes = b""
    rev: int = 0
    lease: int = 0


class CampaignRequest(NamedTuple):
    name: bytes = b""
    lease: int = 0
    value: bytes = b""


class ProclaimRequest(NamedTuple):
    leader: LeaderKey | None = None
    value: bytes = b""


class LeaderRequest(NamedTuple):
    name: bytes = b""


class ResignRequest(NamedTuple):
    leader: LeaderKey | None = None


# ---- cluster ---------------------------------------------------------------------------


class Publish(NamedTuple):
    """A member announces its name and client URLs (member list shows them; a member
    that published is "started", which the membership checks count)."""

    member_id: int = 0
    client_urls: tuple[str, ...] = ()
    name: str = ""


class MemberAdd(NamedTuple):
    peerURLs: tuple[str, ...] = ()  # noqa: N815 - etcd's proto names
    isLearner: bool = False  # noqa: N815


class MemberRemove(NamedTuple):
    ID: int = 0  # noqa: N815


class MemberUpdate(NamedTuple):
    ID: int = 0  # noqa: N815
    peerURLs: tuple[str, ...] = ()  # noqa: N815


class MemberPromote(NamedTuple):
    ID: int = 0  # noqa: N815


class MoveLeader(NamedTuple):
    targetID: int = 0  # noqa: N815


class HashKV(NamedTuple):
    revision: int = 0  # 0: the current revision


class Alarm(NamedTuple):
    """List, raise or clear an alarm: every action goes through the log, as in etcd."""

    action: int = 0  # AlarmAction
    member_id: int = 0
    alarm: int = 0  # AlarmType


# ---- auth ------------------------------------------------------------------------------
# Client requests carrying a password (`UserAddRequest`, `ChangePasswordRequest`,
# `Authenticate`) never enter the log: the server hashes or checks the password first and
# proposes what it found (etcd's CVE-2021-28235 fix keeps passwords out of the log too).


class PermType(IntEnum):
    READ = 0
    WRITE = 1
    READWRITE = 2


class AuthEnable(NamedTuple):
    pass


class AuthDisable(NamedTuple):
    pass


class AuthStatus(NamedTuple):
    pass


class Authenticate(NamedTuple):
    name: str = ""
    password: str = ""


class AuthenticateAs(NamedTuple):
    """A checked password's outcome: every member registers the simple token."""

    name: str = ""
    simple_token: str = ""  # 16 random letters ("" with JWT); the index is appended


class UserAddRequest(NamedTuple):
    name: str = ""
    password: str = ""
    no_password: bool = False


class UserAdd(NamedTuple):
    name: str = ""
    hashed_password: bytes = b""
    no_password: bool = False


class UserGet(NamedTuple):
    name: str = ""


class UserList(NamedTuple):
    pass


class UserDelete(NamedTuple):
    name: str = ""


class ChangePasswordRequest(NamedTuple):
    name: str = ""
    password: str = ""


class UserChangePassword(NamedTuple):
    name: str = ""
    hashed_password: bytes = b""


class UserGrantRole(NamedTuple):
    user: str = ""
    role: str = ""


class UserRevokeRole(NamedTuple):
    name: str = ""
    role: str = ""


class RoleAdd(NamedTuple):
    name: str = ""


class RoleGet(NamedTuple):
    role: str = ""


class RoleList(NamedTuple):
    pass


class RoleDelete(NamedTuple):
    role: str = ""


NO_PERMISSION = -1  # a grant request without a permission


class RoleGrantPermission(NamedTuple):
    name: str = ""
    perm_type: int = NO_PERMISSION  # PermType
    key: bytes = b""
    range_end: bytes = b""


class RoleRevokePermission(NamedTuple):
    role: str = ""
    key: bytes = b""
    range_end: bytes = b""


AuthChange = (
    AuthEnable
    | AuthDisable
    | UserAdd
    | UserDelete
    | UserChangePassword
    | UserGrantRole
    | UserRevokeRole
    | RoleAdd
    | RoleDelete
    | RoleGrantPermission
    | RoleRevokePermission
)


class Authed(NamedTuple):
    """A proposal made while auth was enabled: who asked, and the auth revision their
    permissions were read at, so apply checks them atomically on every member."""

    user: str
    revision: int
    request: Proposal


Proposal = (
    Put
    | DeleteRange
    | Txn
    | Compact
    | LeaseGrant
    | LeaseRevoke
    | Publish
    | Alarm
    | AuthenticateAs
    | AuthChange
    | Authed
)


# ---- from decoded request messages (proto field names) ----------------------------------


def range_from(message: dict) -> Range:
    return Range(**message)


def put_from(message: dict) -> Put:
    return Put(**message)


def delete_range_from(message: dict) -> DeleteRange:
    return DeleteRange(**message)


def compare_from(message: dict) -> Compare:
    return Compare(**message)


def _op_from(message: dict) -> Op:
    # The first request set wins, in the proto's field order.
    if "request_range" in message:
        return Range(**message["request_range"])
    if "request_put" in message:
        return Put(**message["request_put"])
    if "request_delete_range" in message:
        return DeleteRange(**message["request_delete_range"])
    if "request_txn" in message:
        return txn_from(message["request_txn"])
    return None


def txn_from(message: dict) -> Txn:
    return Txn(
        tuple(Compare(**compare) for compare in message.get("compare", ())),
        tuple(_op_from(op) for op in message.get("success", ())),
        tuple(_op_from(op) for op in message.get("failure", ())),
    )


def compact_from(message: dict) -> Compact:
    return Compact(**message)


def lease_grant_from(message: dict) -> LeaseGrant:
    return LeaseGrant(message.get("TTL", 0), message.get("ID", 0))


def lease_revoke_from(message: dict) -> LeaseRevoke:
    return LeaseRevoke(message.get("ID", 0))


def lease_keep_alive_from(message: dict) -> LeaseKeepAlive:
    return LeaseKeepAlive(message.get("ID", 0))


def lease_time_to_live_from(message: dict) -> LeaseTimeToLive:
    return LeaseTimeToLive(message.get("ID", 0), message.get("keys", False))


def hash_kv_from(message: dict) -> HashKV:
    return HashKV(message.get("revision", 0))


def alarm_from(message: dict) -> Alarm:
    return Alarm(message.get("action", 0), message.get("memberID", 0), message.get("alarm", 0))


def user_add_from(message: dict) -> UserAddRequest:
    options = message.get("options", {})
    return UserAddRequest(
        message.get("name", ""), message.get("password", ""), options.get("no_password", False)
    )


def role_grant_from(message: dict) -> RoleGrantPermission:
    if "perm" not in message:
        return RoleGrantPermission(message.get("name", ""))
    perm = message["perm"]
    return RoleGrantPermission(
        message.get("name", ""),
        perm.get("permType", 0),
        perm.get("key", b""),
        perm.get("range_end", b""),
    )


def lock_from(message: dict) -> LockRequest:
    return LockRequest(**message)


def unlock_from(message: dict) -> UnlockRequest:
    return UnlockRequest(**message)


def campaign_from(message: dict) -> CampaignRequest:
    return CampaignRequest(**message)


def _leader_key(message: dict) -> LeaderKey | None:
    return LeaderKey(**message["leader"]) if "leader" in message else None


def proclaim_from(message: dict) -> ProclaimRequest:
    return ProclaimRequest(_leader_key(message), message.get("value", b""))


def leader_from(message: dict) -> LeaderRequest:
    return LeaderRequest(**message)


def resign_from(message: dict) -> ResignRequest:
    return ResignRequest(_leader_key(message))


def cluster_from(cls: type) -> Callable[[dict], Any]:
    """The builder of a Cluster service request (repeated fields as tuples)."""
    return lambda message: cls(
        **{name: tuple(v) if isinstance(v, list) else v for name, v in message.items()}
    )


def auth_from(cls: type) -> Callable[[dict], Any]:
    """The builder of an auth request whose fields are the message's own."""
    return lambda message: cls(**message)


# ---- the Raft log codec ------------------------------------------------------------------
#
# An entry is msgpack [request_id, [tag, field, ...]] with fields in declaration order;
# a transaction's compares and ops nest the same way (an empty op is nil). Decoding checks
# every field's type, so a malformed entry is refused the same way on every member.


class MalformedProposal(ValueError):
    """A log entry that is not a proposal this version knows."""

    def __init__(self, why: str, request_id: int = 0) -> None:
        super().__init__(why)
        self.request_id = request_id


_TAGS: dict[type, int] = {
    Put: 1,
    DeleteRange: 2,
    Txn: 3,
    Compact: 4,
    LeaseGrant: 5,
    LeaseRevoke: 6,
    Publish: 7,
    Range: 8,  # only inside a transaction
    AuthenticateAs: 9,
    AuthEnable: 10,
    AuthDisable: 11,
    UserAdd: 12,
    UserDelete: 13,
    UserChangePassword: 14,
    UserGrantRole: 15,
    UserRevokeRole: 16,
    RoleAdd: 17,
    RoleDelete: 18,
    RoleGrantPermission: 19,
    RoleRevokePermission: 20,
    Authed: 21,
    Alarm: 22,
}
_BY_TAG = {tag: cls for cls, tag in _TAGS.items()}
# class -> the type of each of its fields (every field has a default of its type, and
# enum fields default to plain ints), for the classes made of scalars only
_TYPES: dict[type, tuple[type, ...]] = {
    cls: tuple(type(default) for default in cls._field_defaults.values())  # type: ignore[attr-defined]
    for cls in (Range, Put, DeleteRange, Compare, Compact, LeaseGrant, LeaseRevoke)
    + (AuthenticateAs, AuthEnable, AuthDisable, UserAdd, UserDelete, UserChangePassword)
    + (UserGrantRole, UserRevokeRole, RoleAdd, RoleDelete, RoleGrantPermission)
    + (RoleRevokePermission, Alarm)
}


_PROPOSALS = frozenset(_TAGS) - {Range}
# One packer for every proposal: `msgpack.packb` builds a Packer per call (~1 us). Its
# pack() runs whole under the GIL (plain values, no Python callbacks), so sharing is safe.
_PACKER = msgpack.Packer(use_bin_type=True)


def encode_proposal(request_id: int, request: Proposal) -> bytes:
    """The log entry of a proposal; anything else is refused here, before it is proposed
    (a read has no business in the log)."""
    if type(request) not in _PROPOSALS:
        raise MalformedProposal(f"{type(request).__name__} is not a proposal", request_id)
    return _PACKER.pack([request_id, _to_wire(request)])


def decode_proposal(data: bytes) -> tuple[int, Proposal]:
    """(request id, request); raises MalformedProposal for anything else."""
    try:
        decoded = msgpack.unpackb(data, raw=False)
    except Exception as error:  # msgpack raises several unrelated types
        raise MalformedProposal(f"not msgpack: {error}") from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and type(decoded[0]) is int):
        raise MalformedProposal("not [request id, request]")
    request_id, wire = decoded
    try:
        request = _from_wire(wire, top=True)
    except MalformedProposal as error:
        raise MalformedProposal(str(error), request_id) from None
    return request_id, request  # type: ignore[return-value]


def _to_wire(request: Any) -> list | None:
    if request is None:
        return None
    cls = type(request)
    if cls is Authed:
        return [_TAGS[Authed], request.user, request.revision, _to_wire(request.request)]
    if cls is Txn:
        return [
            _TAGS[Txn],
            request.compare,
            [_to_wire(op) for op in request.success],
            [_to_wire(op) for op in request.failure],
        ]
    return [_TAGS[cls], *request]  # msgpack writes the tuples inside as arrays


def _from_wire(wire: object, top: bool = False) -> Any:
    if wire is None and not top:
        return None
    if not isinstance(wire, list) or not wire or type(wire[0]) is not int:
        raise MalformedProposal("not a tagged request")
    cls = _BY_TAG.get(wire[0])
    if cls is None or (top and cls is Range):
        raise MalformedProposal(f"unknown request tag {wire[0]}")
    if cls is Txn:
        if len(wire) != 4 or not all(isinstance(part, list) for part in wire[1:]):
            raise MalformedProposal("malformed txn")
        return Txn(
            tuple(_scalars(Compare, item) for item in wire[1]),
            tuple(_from_wire(op) for op in wire[2]),
            tuple(_from_wire(op) for op in wire[3]),
        )
    if cls is Authed:
        if len(wire) != 4 or type(wire[1]) is not str or type(wire[2]) is not int:
            raise MalformedProposal("malformed authed request")
        inner = _from_wire(wire[3], top=True)
        if type(inner) is Authed:
            raise MalformedProposal("nested authed request")
        return Authed(wire[1], wire[2], inner)
    if cls is Publish:  # [tag, id, urls] before names were published
        if len(wire) not in (3, 4) or type(wire[1]) is not int or not isinstance(wire[2], list):
            raise MalformedProposal("malformed publish")
        name = wire[3] if len(wire) == 4 else ""
        if not all(isinstance(url, str) for url in wire[2]) or type(name) is not str:
            raise MalformedProposal("malformed publish")
        return Publish(wire[1], tuple(wire[2]), name)
    return _scalars(cls, wire[1:])


def _scalars(cls: type, values: object) -> Any:
    if type(values) is not list or tuple(map(type, values)) != _TYPES[cls]:
        raise MalformedProposal(f"malformed {cls.__name__}: {values!r:.200}")
    return cls._make(values)  # type: ignore[attr-defined]


def _same_type_equal(self: tuple, other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[arg-type]


def _same_type_not_equal(self: tuple, other: object) -> bool:
    return not _same_type_equal(self, other)


# A request equals only a request of its own type (a bare NamedTuple would equal any tuple
# with the same values: LeaseRevoke(5) == LeaseKeepAlive(5)).
for _cls in (
    *_TAGS,
    LeaseKeepAlive,
    LeaseTimeToLive,
    HashKV,
    AuthStatus,
    Authenticate,
    UserAddRequest,
    ChangePasswordRequest,
    UserGet,
    UserList,
    RoleGet,
    RoleList,
    MemberAdd,
    MemberRemove,
    MemberUpdate,
    MemberPromote,
    MoveLeader,
):
    _cls.__eq__ = _same_type_equal  # type: ignore[method-assign]
    _cls.__ne__ = _same_type_not_equal  # type: ignore[method-assign]
    _cls.__hash__ = tuple.__hash__  # type: ignore[method-assign]
