"""OpenAPI components under etcd's own schema names.

Request schemas come from the same tables the decoder uses (app.schema); response
schemas are written here in etcd's JSON shape: int64 as strings, bytes as base64.
"""

from __future__ import annotations

from keyraft.app.openapi_face import face_components
from keyraft.app.openapi_primitives import (
    BOOL,
    BYTES,
    INT64,
    UINT32,
    UINT64,
    object_schema,
    ref,
)
from keyraft.app.schema import MESSAGES, Field


def _field_schema(item: Field) -> dict:
    if item.kind == "message":
        schema = ref(item.message or "")
    elif item.kind == "enum":
        assert item.enum is not None
        schema = {
            "type": "string",
            "enum": list(item.enum.values),
            "default": next(iter(item.enum.values)),
        }
    else:
        schema = dict(
            {"bytes": BYTES, "int64": INT64, "uint64": UINT64, "bool": BOOL}.get(
                item.kind, {"type": "string"}
            )
        )
    if item.repeated:
        schema = {"type": "array", "items": schema}
    if item.description:
        schema = (
            {**schema, "description": item.description}
            if "$ref" not in schema
            else {
                "allOf": [schema],
                "description": item.description,
            }
        )
    return schema


def _responses() -> dict:
    header = ref("etcdserverpbResponseHeader")
    kv = ref("mvccpbKeyValue")
    return {
        "etcdserverpbResponseHeader": object_schema(
            "Identifies the answering member and the store's revision when it answered.",
            {
                "cluster_id": {**UINT64, "description": "the cluster's ID"},
                "member_id": {**UINT64, "description": "the answering member's ID"},
                "revision": {**INT64, "description": "the key-value store's revision"},
                "raft_term": {**UINT64, "description": "the Raft term"},
            },
        ),
        "mvccpbKeyValue": object_schema(
            "One version of a key.",
            {
                "key": {**BYTES, "description": "the key, base64"},
                "create_revision": {**INT64, "description": "revision that created the key"},
                "mod_revision": {**INT64, "description": "revision of the last change"},
                "version": {**INT64, "description": "changes since creation (1 = new)"},
                "value": {**BYTES, "description": "the value, base64"},
                "lease": {**INT64, "description": "the attached lease (absent = none)"},
            },
        ),
        "etcdserverpbRangeResponse": object_schema(
            "Keys found; zero values (no kvs, count 0, more false) are omitted.",
            {
                "header": header,
                "kvs": {"type": "array", "items": kv},
                "more": {**BOOL, "description": "more keys matched than `limit` returned"},
                "count": {**INT64, "description": "keys in the range"},
            },
        ),
        "etcdserverpbPutResponse": object_schema(
            "The write's revision, and the previous pair if asked.",
            {"header": header, "prev_kv": kv},
        ),
        "etcdserverpbDeleteRangeResponse": object_schema(
            "How many keys were deleted.",
            {
                "header": header,
                "deleted": INT64,
                "prev_kvs": {"type": "array", "items": kv},
            },
        ),
        "etcdserverpbResponseOp": object_schema(
            "The result of one transaction op; one field is set.",
            {
                "response_range": ref("etcdserverpbRangeResponse"),
                "response_put": ref("etcdserverpbPutResponse"),
                "response_delete_range": ref("etcdserverpbDeleteRangeResponse"),
                "response_txn": ref("etcdserverpbTxnResponse"),
            },
        ),
        "etcdserverpbTxnResponse": object_schema(
            "Which branch ran, and its ops' results.",
            {
                "header": header,
                "succeeded": {**BOOL, "description": "every compare held"},
                "responses": {"type": "array", "items": ref("etcdserverpbResponseOp")},
            },
        ),
        "etcdserverpbCompactionResponse": object_schema("Compaction done.", {"header": header}),
        "etcdserverpbStatusResponse": object_schema(
            "This member's status.",
            {
                "header": header,
                "version": {"type": "string", "example": "3.4.23"},
                "dbSize": INT64,
                "leader": UINT64,
                "raftIndex": UINT64,
                "raftTerm": UINT64,
                "raftAppliedIndex": UINT64,
                "errors": {"type": "array", "items": {"type": "string"}},
                "dbSizeInUse": INT64,
                "isLearner": BOOL,
            },
        ),
        "etcdserverpbMember": object_schema(
            "A member of the cluster.",
            {
                "ID": UINT64,
                "name": {"type": "string"},
                "peerURLs": {"type": "array", "items": {"type": "string"}},
                "clientURLs": {"type": "array", "items": {"type": "string"}},
                "isLearner": BOOL,
            },
        ),
        "etcdserverpbMemberListResponse": object_schema(
            "Every member.",
            {"header": header, "members": {"type": "array", "items": ref("etcdserverpbMember")}},
        ),
        "etcdserverpbDefragmentResponse": object_schema(
            "Done (etcd's answer carries no header).", {"header": header}
        ),
        "etcdserverpbHashResponse": object_schema(
            "The backend's hash (a number: etcd's is a uint32).", {"header": header, "hash": UINT32}
        ),
        "etcdserverpbHashKVResponse": object_schema(
            "The key-value history's hash, and the compact revision it starts from.",
            {"header": header, "hash": UINT32, "compact_revision": INT64},
        ),
        "etcdserverpbMemberAddResponse": object_schema(
            "The member added, and every member.",
            {
                "header": header,
                "member": ref("etcdserverpbMember"),
                "members": {"type": "array", "items": ref("etcdserverpbMember")},
            },
        ),
        **{
            f"etcdserverpb{name}Response": object_schema(
                "Every member, after the change.",
                {
                    "header": header,
                    "members": {"type": "array", "items": ref("etcdserverpbMember")},
                },
            )
            for name in ("MemberRemove", "MemberUpdate", "MemberPromote")
        },
        "etcdserverpbMoveLeaderResponse": object_schema(
            "Leadership moved (etcd 3.4 answers an empty object).", {"header": header}
        ),
        "etcdserverpbAlarmMember": object_schema(
            "An active alarm.",
            {
                "memberID": UINT64,
                "alarm": {"type": "string", "enum": ["NONE", "NOSPACE", "CORRUPT"]},
            },
        ),
        "etcdserverpbAlarmResponse": object_schema(
            "Active alarms.",
            {
                "header": header,
                "alarms": {"type": "array", "items": ref("etcdserverpbAlarmMember")},
            },
        ),
        "mvccpbEvent": object_schema(
            "One change: PUT (type omitted) or DELETE, with the new and optionally the previous pair.",
            {
                "type": {"type": "string", "enum": ["PUT", "DELETE"], "default": "PUT"},
                "kv": kv,
                "prev_kv": kv,
            },
        ),
        "etcdserverpbWatchResponse": object_schema(
            "One message of a watch stream.",
            {
                "header": header,
                "watch_id": INT64,
                "created": BOOL,
                "canceled": BOOL,
                "compact_revision": {
                    **INT64,
                    "description": "set when the start revision was compacted",
                },
                "cancel_reason": {"type": "string"},
                "fragment": BOOL,
                "events": {"type": "array", "items": ref("mvccpbEvent")},
            },
        ),
        "etcdserverpbLeaseGrantResponse": object_schema(
            "The granted lease.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "the granted TTL in seconds"},
                "error": {"type": "string"},
            },
        ),
        "etcdserverpbLeaseRevokeResponse": object_schema("Lease revoked.", {"header": header}),
        "v3lockpbLockResponse": object_schema(
            "The lock is held while this key exists.",
            {"header": header, "key": {**BYTES, "description": "the ownership key, base64"}},
        ),
        "v3lockpbUnlockResponse": object_schema("The ownership key is gone.", {"header": header}),
        "v3electionpbCampaignResponse": object_schema(
            "The caller leads.", {"header": header, "leader": ref("v3electionpbLeaderKey")}
        ),
        "v3electionpbProclaimResponse": object_schema(
            "The value is announced.", {"header": header}
        ),
        "v3electionpbLeaderResponse": object_schema(
            "The leader's key-value.", {"header": header, "kv": kv}
        ),
        "v3electionpbResignResponse": object_schema("The leader stepped down.", {"header": header}),
        "etcdserverpbLeaseKeepAliveResponse": object_schema(
            "One keepalive answer; TTL absent (0) means the lease is gone.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "the renewed TTL in seconds"},
            },
        ),
        "etcdserverpbLeaseTimeToLiveResponse": object_schema(
            "How long a lease has left; TTL -1 means it does not exist.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "seconds left"},
                "grantedTTL": {**INT64, "description": "the TTL it was granted"},
                "keys": {"type": "array", "items": BYTES},
            },
        ),
        "etcdserverpbLeaseStatus": object_schema("A lease.", {"ID": INT64}),
        "etcdserverpbLeaseLeasesResponse": object_schema(
            "Every lease.",
            {
                "header": header,
                "leases": {"type": "array", "items": ref("etcdserverpbLeaseStatus")},
            },
        ),
        **_auth_responses(header),
        "runtimeStreamError": object_schema(
            "An error in the middle of a stream.",
            {
                "grpc_code": {"type": "integer", "format": "int32"},
                "http_code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "http_status": {"type": "string"},
            },
        ),
        "runtimeError": object_schema(
            "etcd's error body.",
            {
                "error": {"type": "string", "example": "etcdserver: key is not provided"},
                "message": {"type": "string", "example": "etcdserver: key is not provided"},
                "code": {
                    "type": "integer",
                    "format": "int32",
                    "example": 3,
                    "description": "the gRPC status code",
                },
            },
        ),
    }


def _auth_responses(header: dict) -> dict:
    names = {"type": "array", "items": {"type": "string"}}
    done = {
        verb: object_schema("Done.", {"header": header})
        for verb in (
            "AuthEnable",
            "AuthDisable",
            "AuthUserAdd",
            "AuthUserDelete",
            "AuthUserChangePassword",
            "AuthUserGrantRole",
            "AuthUserRevokeRole",
            "AuthRoleAdd",
            "AuthRoleDelete",
            "AuthRoleGrantPermission",
            "AuthRoleRevokePermission",
        )
    }
    return {
        **{f"etcdserverpb{verb}Response": schema for verb, schema in done.items()},
        "etcdserverpbAuthStatusResponse": object_schema(
            "Whether auth is enabled (absent = no), and the auth store's revision.",
            {
                "header": header,
                "enabled": BOOL,
                "authRevision": {**UINT64, "description": "bumped by every auth change"},
            },
        ),
        "etcdserverpbAuthenticateResponse": object_schema(
            "A token for the Authorization header of later requests.",
            {"header": header, "token": {"type": "string", "example": "ZkbDqGZmkWoUYRPQ.23"}},
        ),
        "etcdserverpbAuthUserGetResponse": object_schema(
            "The user's roles.", {"header": header, "roles": names}
        ),
        "etcdserverpbAuthUserListResponse": object_schema(
            "Every user, by name.", {"header": header, "users": names}
        ),
        "etcdserverpbAuthRoleGetResponse": object_schema(
            "The role's permissions, sorted by key.",
            {"header": header, "perm": {"type": "array", "items": ref("authpbPermission")}},
        ),
        "etcdserverpbAuthRoleListResponse": object_schema(
            "Every role, by name.", {"header": header, "roles": names}
        ),
    }


# etcd's swagger: the token travels raw in the Authorization header. It is applied to the
# operations etcd reads a token for, and needed only while auth is enabled.
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "A token from POST /v3/auth/authenticate, raw or as `Bearer <token>`; "
        "needed only while auth is enabled.",
    }
}
# Either the token or nothing: auth may be disabled (as it is by default).
SECURITY = [{"ApiKey": []}, {}]


def components() -> dict:
    schemas = {
        name: object_schema(
            message.description,
            {item.name: _field_schema(item) for item in message.fields},
        )
        for name, message in MESSAGES.items()
    }
    schemas.update(_responses())
    schemas.update(face_components())
    return dict(sorted(schemas.items()))
