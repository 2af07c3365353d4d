"""The unary gateway: POST /v3/<service>/<verb> with a JSON body -> JSON answer.

One dispatcher serves every unary RPC, for the FastAPI routes and the ASGI fast path
alike, so both answer byte for byte the same. While auth is enabled it reads the request's
token (etcd's gateway passes `Authorization` and `Grpc-Metadata-Token`) and hands the
server who asks; while it is disabled, that costs one attribute test.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from keyraft.app import codec, errors, metrics
from keyraft.app.schema import decode_request
from keyraft.app.server import election, lock, requests
from keyraft.app.server.auth.service import AuthService
from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.cluster import ClusterService
from keyraft.app.server.errors import NotSupportedForLearner, PassedOn, ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.maintenance import Maintenance
from keyraft.app.server.request_size import encoded_size
from keyraft.app.tokens import Headers, token_of

log = logging.getLogger("keyraft.gateway")

# Bodies up to this are decoded on the event loop (at worst ~0.1 s of scanning when
# malformed); larger ones in a worker thread.
DECODE_ON_LOOP_BYTES = 64 * 1024


def _untyped(message: dict) -> dict:
    """For RPCs whose request carries nothing the server uses yet."""
    return message


@dataclass(frozen=True, slots=True)
class Rpc:
    path: str
    request_schema: str
    response_schema: str
    build: Callable[[dict], Any]  # decoded request message -> the server's typed request
    # the EtcdServer method serving it: (server, request[, who asks while auth is enabled])
    serve: Callable[..., Awaitable[dict]]
    summary: str
    tag: str
    authed: bool = True  # False: etcd 3.4 reads no token for it (status, member list, ...)
    waits: bool = False  # True: may wait without end (lock, campaign); a client gone cancels it
    # True: etcd serves it through its embedded client (lock, election), which hands every
    # error on as a plain one: gRPC code Unknown, whatever the error (measured on 3.4.23)
    embedded: bool = False


def _with_alias(rpc: Rpc, alias: str) -> tuple[Rpc, Rpc]:
    """etcd serves some lease RPCs under /v3/kv/lease/... as well (etcd3gw uses them)."""
    return rpc, replace(rpc, path=alias)


_LEASE_RPCS = (
    Rpc(
        "/v3/lease/grant",
        "etcdserverpbLeaseGrantRequest",
        "etcdserverpbLeaseGrantResponse",
        requests.lease_grant_from,
        EtcdServer.lease_grant,
        "Grant a lease",
        "Lease",
    ),
    *_with_alias(
        Rpc(
            "/v3/lease/revoke",
            "etcdserverpbLeaseRevokeRequest",
            "etcdserverpbLeaseRevokeResponse",
            requests.lease_revoke_from,
            EtcdServer.lease_revoke,
            "Revoke a lease and delete its keys",
            "Lease",
        ),
        "/v3/kv/lease/revoke",
    ),
    *_with_alias(
        Rpc(
            "/v3/lease/timetolive",
            "etcdserverpbLeaseTimeToLiveRequest",
            "etcdserverpbLeaseTimeToLiveResponse",
            requests.lease_time_to_live_from,
            EtcdServer.lease_time_to_live,
            "How long a lease has left",
            "Lease",
            authed=False,
        ),
        "/v3/kv/lease/timetolive",
    ),
    *_with_alias(
        Rpc(
            "/v3/lease/leases",
            "etcdserverpbLeaseLeasesRequest",
            "etcdserverpbLeaseLeasesResponse",
            _untyped,
            EtcdServer.lease_leases,
            "List leases",
            "Lease",
            authed=False,
        ),
        "/v3/kv/lease/leases",
    ),
)


MaintenanceMethod = Callable[[Maintenance, Any, AuthInfo | None], Awaitable[dict]]


def _maintenance(method: MaintenanceMethod) -> Callable[..., Awaitable[dict]]:
    """`method` of the server's Maintenance, served like an EtcdServer method."""

    async def serve(server: EtcdServer, request: Any, info: AuthInfo | None = None) -> dict:
        return await method(server.maintenance, request, info)

    serve.__name__ = method.__name__
    return serve


AuthMethod = Callable[[AuthService, Any, AuthInfo | None], Awaitable[dict]]


def _auth(method: AuthMethod) -> Callable[..., Awaitable[dict]]:
    """`method` of the server's AuthService, served like an EtcdServer method."""

    async def serve(server: EtcdServer, request: Any, info: AuthInfo | None = None) -> dict:
        return await method(server.auth, request, info)

    serve.__name__ = method.__name__
    return serve


def _auth_rpc(
    verb: str, name: str, build: Callable[[dict], Any], method: AuthMethod, summary: str
) -> Rpc:
    return Rpc(
        f"/v3/auth/{verb}",
        f"etcdserverpb{name}Request",
        f"etcdserverpb{name}Response",
        build,
        _auth(method),
        summary,
        "Auth",
    )


ClusterMethod = Callable[[ClusterService, Any, AuthInfo | None], Awaitable[dict]]


def _cluster(method: ClusterMethod) -> Callable[..., Awaitable[dict]]:
    """`method` of the server's ClusterService, served like an EtcdServer method."""

    async def serve(server: EtcdServer, request: Any, info: AuthInfo | None = None) -> dict:
        return await method(server.cluster, request, info)

    serve.__name__ = method.__name__
    return serve


def _member_rpc(verb: str, cls: type, method: ClusterMethod, summary: str) -> Rpc:
    name = cls.__name__
    return Rpc(
        f"/v3/cluster/member/{verb}",
        f"etcdserverpb{name}Request",
        f"etcdserverpb{name}Response",
        requests.cluster_from(cls),
        _cluster(method),
        summary,
        "Cluster",
    )


_CLUSTER_RPCS = (
    _member_rpc("add", requests.MemberAdd, ClusterService.member_add, "Add a member"),
    _member_rpc("remove", requests.MemberRemove, ClusterService.member_remove, "Remove a member"),
    _member_rpc(
        "update", requests.MemberUpdate, ClusterService.member_update, "Change a member's peer URLs"
    ),
    _member_rpc(
        "promote", requests.MemberPromote, ClusterService.member_promote, "Make a learner a voter"
    ),
    Rpc(
        "/v3/maintenance/transfer-leadership",
        "etcdserverpbMoveLeaderRequest",
        "etcdserverpbMoveLeaderResponse",
        requests.cluster_from(requests.MoveLeader),
        _cluster(ClusterService.move_leader),
        "Hand leadership to another voter (ask the leader)",
        "Maintenance",
    ),
)


_AUTH_RPCS = (
    _auth_rpc(
        "enable",
        "AuthEnable",
        requests.auth_from(requests.AuthEnable),
        AuthService.enable,
        "Enable authentication (a root user with the root role must exist)",
    ),
    _auth_rpc(
        "disable",
        "AuthDisable",
        requests.auth_from(requests.AuthDisable),
        AuthService.disable,
        "Disable authentication",
    ),
    _auth_rpc(
        "status",
        "AuthStatus",
        requests.auth_from(requests.AuthStatus),
        AuthService.status,
        "Whether authentication is enabled, and the auth revision (etcd 3.5)",
    ),
    _auth_rpc(
        "authenticate",
        "Authenticate",
        requests.auth_from(requests.Authenticate),
        AuthService.authenticate,
        "Get a token for a user name and password",
    ),
    _auth_rpc(
        "user/add", "AuthUserAdd", requests.user_add_from, AuthService.user_add, "Add a user"
    ),
    _auth_rpc(
        "user/get",
        "AuthUserGet",
        requests.auth_from(requests.UserGet),
        AuthService.user_get,
        "A user's roles",
    ),
    _auth_rpc(
        "user/list",
        "AuthUserList",
        requests.auth_from(requests.UserList),
        AuthService.user_list,
        "List the users",
    ),
    _auth_rpc(
        "user/delete",
        "AuthUserDelete",
        requests.auth_from(requests.UserDelete),
        AuthService.user_delete,
        "Delete a user",
    ),
    _auth_rpc(
        "user/changepw",
        "AuthUserChangePassword",
        requests.auth_from(requests.ChangePasswordRequest),
        AuthService.user_change_password,
        "Change a user's password",
    ),
    _auth_rpc(
        "user/grant",
        "AuthUserGrantRole",
        requests.auth_from(requests.UserGrantRole),
        AuthService.user_grant,
        "Grant a role to a user",
    ),
    _auth_rpc(
        "user/revoke",
        "AuthUserRevokeRole",
        requests.auth_from(requests.UserRevokeRole),
        AuthService.user_revoke,
        "Revoke a role from a user",
    ),
    _auth_rpc(
        "role/add",
        "AuthRoleAdd",
        requests.auth_from(requests.RoleAdd),
        AuthService.role_add,
        "Add a role",
    ),
    _auth_rpc(
        "role/get",
        "AuthRoleGet",
        requests.auth_from(requests.RoleGet),
        AuthService.role_get,
        "A role's permissions",
    ),
    _auth_rpc(
        "role/list",
        "AuthRoleList",
        requests.auth_from(requests.RoleList),
        AuthService.role_list,
        "List the roles",
    ),
    _auth_rpc(
        "role/delete",
        "AuthRoleDelete",
        requests.auth_from(requests.RoleDelete),
        AuthService.role_delete,
        "Delete a role",
    ),
    _auth_rpc(
        "role/grant",
        "AuthRoleGrantPermission",
        requests.role_grant_from,
        AuthService.role_grant,
        "Grant a permission on a key or range to a role",
    ),
    _auth_rpc(
        "role/revoke",
        "AuthRoleRevokePermission",
        requests.auth_from(requests.RoleRevokePermission),
        AuthService.role_revoke,
        "Revoke a permission from a role",
    ),
)

_LOCK_RPCS = (
    Rpc(
        "/v3/lock/lock",
        "v3lockpbLockRequest",
        "v3lockpbLockResponse",
        requests.lock_from,
        lock.lock,
        "Wait for a named lock; answers with the ownership key (held while it exists)",
        "Lock",
        waits=True,
        embedded=True,
    ),
    Rpc(
        "/v3/lock/unlock",
        "v3lockpbUnlockRequest",
        "v3lockpbUnlockResponse",
        requests.unlock_from,
        lock.unlock,
        "Release a lock: delete its ownership key",
        "Lock",
        embedded=True,
    ),
)


def _election_rpc(
    verb: str, name: str, build: Callable[[dict], Any], serve: Callable, summary: str
) -> Rpc:
    return Rpc(
        f"/v3/election/{verb}",
        f"v3electionpb{name}Request",
        f"v3electionpb{name}Response",
        build,
        serve,
        summary,
        "Election",
        waits=verb == "campaign",
        embedded=True,
    )


_ELECTION_RPCS = (
    _election_rpc(
        "campaign",
        "Campaign",
        requests.campaign_from,
        election.campaign,
        "Wait to lead an election; answers with the leader key",
    ),
    _election_rpc(
        "proclaim",
        "Proclaim",
        requests.proclaim_from,
        election.proclaim,
        "The leader announces a new value",
    ),
    _election_rpc("leader", "Leader", requests.leader_from, election.leader, "The current leader"),
    _election_rpc(
        "resign", "Resign", requests.resign_from, election.resign, "The leader steps down"
    ),
)

RPCS: dict[str, Rpc] = {
    rpc.path: rpc
    for rpc in (
        Rpc(
            "/v3/kv/range",
            "etcdserverpbRangeRequest",
            "etcdserverpbRangeResponse",
            requests.range_from,
            EtcdServer.range,
            "Get keys in a range",
            "KV",
        ),
        Rpc(
            "/v3/kv/put",
            "etcdserverpbPutRequest",
            "etcdserverpbPutResponse",
            requests.put_from,
            EtcdServer.put,
            "Put a key",
            "KV",
        ),
        Rpc(
            "/v3/kv/deleterange",
            "etcdserverpbDeleteRangeRequest",
            "etcdserverpbDeleteRangeResponse",
            requests.delete_range_from,
            EtcdServer.delete_range,
            "Delete keys in a range",
            "KV",
        ),
        Rpc(
            "/v3/kv/txn",
            "etcdserverpbTxnRequest",
            "etcdserverpbTxnResponse",
            requests.txn_from,
            EtcdServer.txn,
            "Run a transaction",
            "KV",
        ),
        Rpc(
            "/v3/kv/compaction",
            "etcdserverpbCompactionRequest",
            "etcdserverpbCompactionResponse",
            requests.compact_from,
            EtcdServer.compact,
            "Compact the key-value history",
            "KV",
        ),
        Rpc(
            "/v3/maintenance/status",
            "etcdserverpbStatusRequest",
            "etcdserverpbStatusResponse",
            _untyped,
            EtcdServer.status,
            "Status of this member",
            "Maintenance",
            authed=False,
        ),
        Rpc(
            "/v3/maintenance/alarm",
            "etcdserverpbAlarmRequest",
            "etcdserverpbAlarmResponse",
            requests.alarm_from,
            EtcdServer.alarm,
            "List, raise or clear alarms",
            "Maintenance",
            authed=False,
        ),
        Rpc(
            "/v3/maintenance/defragment",
            "etcdserverpbDefragmentRequest",
            "etcdserverpbDefragmentResponse",
            _untyped,
            _maintenance(Maintenance.defragment),
            "Give back the space of deleted history (this member only; root)",
            "Maintenance",
        ),
        Rpc(
            "/v3/maintenance/hash",
            "etcdserverpbHashRequest",
            "etcdserverpbHashResponse",
            _untyped,
            _maintenance(Maintenance.hash),
            "Hash of this member's whole backend (root)",
            "Maintenance",
        ),
        Rpc(
            "/v3/maintenance/hashkv",
            "etcdserverpbHashKVRequest",
            "etcdserverpbHashKVResponse",
            requests.hash_kv_from,
            _maintenance(Maintenance.hash_kv),
            "Hash of the key-value history up to a revision (etcd 3.5's path; root)",
            "Maintenance",
        ),
        Rpc(
            "/v3/cluster/member/list",
            "etcdserverpbMemberListRequest",
            "etcdserverpbMemberListResponse",
            _untyped,
            EtcdServer.member_list,
            "List the members",
            "Cluster",
            authed=False,
        ),
        *_CLUSTER_RPCS,
        *_LEASE_RPCS,
        *_AUTH_RPCS,
        *_LOCK_RPCS,
        *_ELECTION_RPCS,
    )
}

# A server stream (a line per leader change), served by app/routes/election.py.
OBSERVE = _election_rpc(
    "observe",
    "Leader",
    requests.leader_from,
    election.observe,
    "Follow an election's leader (a stream of newline-delimited JSON messages)",
)


# etcd's swagger names its operations after the RPC; where that is not the request's name
# with its package and "Request" taken off, here is etcd's name.
_OPERATION_IDS = {"etcdserverpbCompactionRequest": "Compact"}
_ALIASES = ("/v3/kv/lease/",)  # etcd's swagger suffixes these operations with "2"


def operation_id(rpc: Rpc) -> str:
    """etcd's operationId for an RPC (`Range`, `Put`, `UserAdd`, `LeaseRevoke2`, ...)."""
    name = _OPERATION_IDS.get(rpc.request_schema)
    if name is None:
        name = rpc.request_schema.removesuffix("Request")
        for package in ("etcdserverpb", "v3lockpb", "v3electionpb"):
            name = name.removeprefix(package)
        if name.startswith(("AuthUser", "AuthRole")):
            name = name.removeprefix("Auth")
    return name + "2" if rpc.path.startswith(_ALIASES) else name


def canonical_path(path: str) -> str:
    """etcd 3.4 serves /v3beta/... as /v3/..."""
    if path.startswith("/v3beta/"):
        return "/v3/" + path[len("/v3beta/") :]
    return path


async def decode(rpc: Rpc, body: bytes) -> dict:
    """The request message of a body. A body orjson refuses goes through a pure-Python
    scanner for Go's exact error, which costs about 2 s a megabyte: a large body is decoded
    in a worker thread, so the event loop (and Raft's ticks on it) keeps running."""
    if len(body) <= DECODE_ON_LOOP_BYTES:
        return decode_request(rpc.request_schema, body)
    return await asyncio.to_thread(decode_request, rpc.request_schema, body)


async def typed_request(
    server: EtcdServer, rpc: Rpc, body: bytes, headers: Headers
) -> tuple[Any, AuthInfo | None]:
    """A body's typed request, and who asks while auth is enabled (None otherwise);
    raises etcd's error for a body it cannot be."""
    request = await decode(rpc, body)
    limit = server.config.grpc_limit_bytes
    # A request's protobuf form is never more than twice its JSON text (the worst
    # case, a negative int64 under a two-letter name, is 11 bytes for 7), so the
    # exact size is only worth computing for large bodies.
    if 2 * len(body) > limit and (size := encoded_size(request)) > limit:
        raise errors.message_too_large(size, limit)
    if server.learner and not _serves_learners(rpc, request):
        raise NotSupportedForLearner
    info = server.auth.info(token_of(headers)) if server.state.auth.enabled and rpc.authed else None
    return rpc.build(request), info


async def dispatch(
    server: EtcdServer, rpc: Rpc, body: bytes, headers: Headers = ()
) -> tuple[int, bytes]:
    """Answer one unary RPC: (HTTP status, JSON body). Never raises. `headers` are the
    request's (ASGI: lowercase names, bytes), for its auth token."""
    started = time.perf_counter()
    code = 0
    try:
        request, info = await typed_request(server, rpc, body, headers)
        serving = (
            rpc.serve(server, request, info) if info is not None else rpc.serve(server, request)
        )
        response = await (server.until_closing(serving) if rpc.waits else serving)
        return 200, await codec.encode_response_stepped(server, response)
    except (errors.EtcdError, ServerError) as failure:
        if rpc.embedded and isinstance(failure, ServerError):
            failure = PassedOn(failure)
        error = errors.as_etcd(failure)
        code = error.code
        return error.http_status, codec.encode_error(error)
    except Exception:  # a bug must still answer in etcd's shape, and be logged
        log.exception("internal error serving %s", rpc.path)
        error = errors.EtcdError(errors.INTERNAL, "etcdserver: internal error")
        code = error.code
        return 500, codec.encode_error(error)
    finally:
        metrics.REQUESTS.observe(rpc, code, time.perf_counter() - started)


def _serves_learners(rpc: Rpc, request: dict) -> bool:
    """What etcd 3.4 serves on a learner: its status, and serializable ranges."""
    if rpc.path == "/v3/kv/range":
        return bool(request.get("serializable"))
    return rpc.path == "/v3/maintenance/status"


def oversized_body(server: EtcdServer, length: int) -> tuple[int, bytes]:
    """Answer for a body too big to even decode (estimated decoded size)."""
    error = errors.message_too_large(length * 3 // 4, server.config.grpc_limit_bytes)
    return error.http_status, codec.encode_error(error)


def body_cap(server: EtcdServer) -> int:
    """Bodies up to this are decoded to report the exact encoded size, as etcd does;
    longer ones are refused unread with an estimate (base64 is 4/3 of the bytes)."""
    return server.config.grpc_limit_bytes * 4
