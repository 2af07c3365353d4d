"""The unary gateway: POST /v3/<service>/<verb> with a JSON body -> JSON answer.

One dispatcher serves every unary RPC, for the FastAPI routes and the ASGI fast path
alike, so both answer byte for byte the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from app import codec, errors
from app.schema import decode_request
from app.server.etcdserver import EtcdServer
from app.server.request_size import encoded_size

log = logging.getLogger("keyraft.gateway")

JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Rpc:
    path: str
    request_schema: str
    response_schema: str
    call: Callable[[EtcdServer, dict], Awaitable[dict] | dict]
    summary: str
    tag: str


async def _range(server: EtcdServer, request: dict) -> dict:
    return await server.range(request)


async def _put(server: EtcdServer, request: dict) -> dict:
    return await server.put(request)


async def _delete(server: EtcdServer, request: dict) -> dict:
    return await server.delete_range(request)


async def _txn(server: EtcdServer, request: dict) -> dict:
    return await server.txn(request)


async def _compact(server: EtcdServer, request: dict) -> dict:
    return await server.compact(request)


async def _status(server: EtcdServer, request: dict) -> dict:
    return server.status()


async def _member_list(server: EtcdServer, request: dict) -> dict:
    return server.member_list()


async def _alarm(server: EtcdServer, request: dict) -> dict:
    return server.alarm(request)


async def _lease_grant(server: EtcdServer, request: dict) -> dict:
    return await server.lease_grant(request)


async def _lease_revoke(server: EtcdServer, request: dict) -> dict:
    return await server.lease_revoke(request)


async def _lease_time_to_live(server: EtcdServer, request: dict) -> dict:
    return await server.lease_time_to_live(request)


async def _lease_leases(server: EtcdServer, request: dict) -> dict:
    return server.lease_leases(request)


def _with_alias(rpc: Rpc, alias: str) -> tuple[Rpc, Rpc]:
    """etcd serves some lease RPCs under /v3/kv/lease/... as well (etcd3gw uses them)."""
    return rpc, replace(rpc, path=alias)


_LEASE_RPCS = (
    Rpc(
        "/v3/lease/grant",
        "etcdserverpbLeaseGrantRequest",
        "etcdserverpbLeaseGrantResponse",
        _lease_grant,
        "Grant a lease",
        "Lease",
    ),
    *_with_alias(
        Rpc(
            "/v3/lease/revoke",
            "etcdserverpbLeaseRevokeRequest",
            "etcdserverpbLeaseRevokeResponse",
            _lease_revoke,
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
            _lease_time_to_live,
            "How long a lease has left",
            "Lease",
        ),
        "/v3/kv/lease/timetolive",
    ),
    *_with_alias(
        Rpc(
            "/v3/lease/leases",
            "etcdserverpbLeaseLeasesRequest",
            "etcdserverpbLeaseLeasesResponse",
            _lease_leases,
            "List leases",
            "Lease",
        ),
        "/v3/kv/lease/leases",
    ),
)

RPCS: dict[str, Rpc] = {
    rpc.path: rpc
    for rpc in (
        Rpc(
            "/v3/kv/range",
            "etcdserverpbRangeRequest",
            "etcdserverpbRangeResponse",
            _range,
            "Get keys in a range",
            "KV",
        ),
        Rpc(
            "/v3/kv/put",
            "etcdserverpbPutRequest",
            "etcdserverpbPutResponse",
            _put,
            "Put a key",
            "KV",
        ),
        Rpc(
            "/v3/kv/deleterange",
            "etcdserverpbDeleteRangeRequest",
            "etcdserverpbDeleteRangeResponse",
            _delete,
            "Delete keys in a range",
            "KV",
        ),
        Rpc(
            "/v3/kv/txn",
            "etcdserverpbTxnRequest",
            "etcdserverpbTxnResponse",
            _txn,
            "Run a transaction",
            "KV",
        ),
        Rpc(
            "/v3/kv/compaction",
            "etcdserverpbCompactionRequest",
            "etcdserverpbCompactionResponse",
            _compact,
            "Compact the key-value history",
            "KV",
        ),
        Rpc(
            "/v3/maintenance/status",
            "etcdserverpbStatusRequest",
            "etcdserverpbStatusResponse",
            _status,
            "Status of this member",
            "Maintenance",
        ),
        Rpc(
            "/v3/maintenance/alarm",
            "etcdserverpbAlarmRequest",
            "etcdserverpbAlarmResponse",
            _alarm,
            "List, raise or clear alarms",
            "Maintenance",
        ),
        Rpc(
            "/v3/cluster/member/list",
            "etcdserverpbMemberListRequest",
            "etcdserverpbMemberListResponse",
            _member_list,
            "List the members",
            "Cluster",
        ),
        *_LEASE_RPCS,
    )
}


def canonical_path(path: str) -> str:
    """etcd 3.4 serves /v3beta/... as /v3/..."""
    if path.startswith("/v3beta/"):
        return "/v3/" + path[len("/v3beta/") :]
    return path


async def dispatch(server: EtcdServer, rpc: Rpc, body: bytes) -> tuple[int, bytes]:
    """Answer one unary RPC: (HTTP status, JSON body). Never raises."""
    try:
        request = decode_request(rpc.request_schema, body)
        limit = server.config.grpc_limit_bytes
        size = encoded_size(request)
        if size > limit:
            raise errors.message_too_large(size, limit)
        response = await rpc.call(server, request)
        return 200, codec.encode(response)
    except errors.EtcdError as error:
        return error.http_status, codec.encode_error(error)
    except Exception:  # a bug must still answer in etcd's shape, and be logged
        log.exception("internal error serving %s", rpc.path)
        error = errors.EtcdError(13, "etcdserver: internal error")
        return 500, codec.encode_error(error)


def oversized_body(server: EtcdServer, length: int) -> tuple[int, bytes]:
    """Answer for a body too big to even decode (estimated decoded size)."""
    error = errors.message_too_large(length * 3 // 4, server.config.grpc_limit_bytes)
    return error.http_status, codec.encode_error(error)


def body_cap(server: EtcdServer) -> int:
    """Bodies up to this are decoded to report the exact encoded size, as etcd does;
    longer ones are refused unread with an estimate (base64 is 4/3 of the bytes)."""
    return server.config.grpc_limit_bytes * 4
