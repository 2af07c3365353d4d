"""OpenAPI components under etcd's own schema names.

Request schemas come from the same tables the decoder uses (app.schema); response
schemas are written here in etcd's JSON shape: int64 as strings, bytes as base64.
"""

from __future__ import annotations

from keyraft.app.schema import MESSAGES, Field

INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$", "example": "42"}
UINT64 = {
    "type": "string",
    "format": "uint64",
    "pattern": "^[0-9]+$",
    "example": "10276657743932975437",
}
UINT32 = {"type": "integer", "format": "uint32", "minimum": 0, "example": 2929687755}
BYTES = {"type": "string", "format": "byte", "example": "Zm9v"}
BOOL = {"type": "boolean"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict, example: object = None) -> dict:
    media: dict = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def request_body(schema_name: str, example: object, required: bool | None = False) -> dict:
    """An operation's JSON request body (`required` None leaves the key out)."""
    body = {"content": json_content(ref(schema_name), example)}
    return body if required is None else {"required": required, **body}


def json_response(description: str, schema: dict) -> dict:
    return {"description": description, "content": json_content(schema)}


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


def _object(description: str, properties: dict) -> dict:
    return {"type": "object", "description": description, "properties": properties}


def _responses() -> dict:
    header = ref("etcdserverpbResponseHeader")
    kv = ref("mvccpbKeyValue")
    return {
        "etcdserverpbResponseHeader": _object(
            "Identifies the answering member and the store's revision when it answered.",
            {
                "cluster_id": {**UINT64, "description": "the cluster's ID"},
                "member_id": {**UINT64, "description": "the answering member's ID"},
                "revision": {**INT64, "description": "the key-value store's revision"},
                "raft_term": {**UINT64, "description": "the Raft term"},
            },
        ),
        "mvccpbKeyValue": _object(
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
        "etcdserverpbRangeResponse": _object(
            "Keys found; zero values (no kvs, count 0, more false) are omitted.",
            {
                "header": header,
                "kvs": {"type": "array", "items": kv},
                "more": {**BOOL, "description": "more keys matched than `limit` returned"},
                "count": {**INT64, "description": "keys in the range"},
            },
        ),
        "etcdserverpbPutResponse": _object(
            "The write's revision, and the previous pair if asked.",
            {"header": header, "prev_kv": kv},
        ),
        "etcdserverpbDeleteRangeResponse": _object(
            "How many keys were deleted.",
            {
                "header": header,
                "deleted": INT64,
                "prev_kvs": {"type": "array", "items": kv},
            },
        ),
        "etcdserverpbResponseOp": _object(
            "The result of one transaction op; one field is set.",
            {
                "response_range": ref("etcdserverpbRangeResponse"),
                "response_put": ref("etcdserverpbPutResponse"),
                "response_delete_range": ref("etcdserverpbDeleteRangeResponse"),
                "response_txn": ref("etcdserverpbTxnResponse"),
            },
        ),
        "etcdserverpbTxnResponse": _object(
            "Which branch ran, and its ops' results.",
            {
                "header": header,
                "succeeded": {**BOOL, "description": "every compare held"},
                "responses": {"type": "array", "items": ref("etcdserverpbResponseOp")},
            },
        ),
        "etcdserverpbCompactionResponse": _object("Compaction done.", {"header": header}),
        "etcdserverpbStatusResponse": _object(
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
        "etcdserverpbMember": _object(
            "A member of the cluster.",
            {
                "ID": UINT64,
                "name": {"type": "string"},
                "peerURLs": {"type": "array", "items": {"type": "string"}},
                "clientURLs": {"type": "array", "items": {"type": "string"}},
                "isLearner": BOOL,
            },
        ),
        "etcdserverpbMemberListResponse": _object(
            "Every member.",
            {"header": header, "members": {"type": "array", "items": ref("etcdserverpbMember")}},
        ),
        "etcdserverpbDefragmentResponse": _object(
            "Done (etcd's answer carries no header).", {"header": header}
        ),
        "etcdserverpbHashResponse": _object(
            "The backend's hash (a number: etcd's is a uint32).", {"header": header, "hash": UINT32}
        ),
        "etcdserverpbHashKVResponse": _object(
            "The key-value history's hash, and the compact revision it starts from.",
            {"header": header, "hash": UINT32, "compact_revision": INT64},
        ),
        "etcdserverpbMemberAddResponse": _object(
            "The member added, and every member.",
            {
                "header": header,
                "member": ref("etcdserverpbMember"),
                "members": {"type": "array", "items": ref("etcdserverpbMember")},
            },
        ),
        **{
            f"etcdserverpb{name}Response": _object(
                "Every member, after the change.",
                {
                    "header": header,
                    "members": {"type": "array", "items": ref("etcdserverpbMember")},
                },
            )
            for name in ("MemberRemove", "MemberUpdate", "MemberPromote")
        },
        "etcdserverpbMoveLeaderResponse": _object(
            "Leadership moved (etcd 3.4 answers an empty object).", {"header": header}
        ),
        "etcdserverpbAlarmMember": _object(
            "An active alarm.",
            {
                "memberID": UINT64,
                "alarm": {"type": "string", "enum": ["NONE", "NOSPACE", "CORRUPT"]},
            },
        ),
        "etcdserverpbAlarmResponse": _object(
            "Active alarms.",
            {
                "header": header,
                "alarms": {"type": "array", "items": ref("etcdserverpbAlarmMember")},
            },
        ),
        "mvccpbEvent": _object(
            "One change: PUT (type omitted) or DELETE, with the new and optionally the previous pair.",
            {
                "type": {"type": "string", "enum": ["PUT", "DELETE"], "default": "PUT"},
                "kv": kv,
                "prev_kv": kv,
            },
        ),
        "etcdserverpbWatchResponse": _object(
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
        "etcdserverpbLeaseGrantResponse": _object(
            "The granted lease.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "the granted TTL in seconds"},
                "error": {"type": "string"},
            },
        ),
        "etcdserverpbLeaseRevokeResponse": _object("Lease revoked.", {"header": header}),
        "v3lockpbLockResponse": _object(
            "The lock is held while this key exists.",
            {"header": header, "key": {**BYTES, "description": "the ownership key, base64"}},
        ),
        "v3lockpbUnlockResponse": _object("The ownership key is gone.", {"header": header}),
        "v3electionpbCampaignResponse": _object(
            "The caller leads.", {"header": header, "leader": ref("v3electionpbLeaderKey")}
        ),
        "v3electionpbProclaimResponse": _object("The value is announced.", {"header": header}),
        "v3electionpbLeaderResponse": _object(
            "The leader's key-value.", {"header": header, "kv": kv}
        ),
        "v3electionpbResignResponse": _object("The leader stepped down.", {"header": header}),
        "etcdserverpbLeaseKeepAliveResponse": _object(
            "One keepalive answer; TTL absent (0) means the lease is gone.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "the renewed TTL in seconds"},
            },
        ),
        "etcdserverpbLeaseTimeToLiveResponse": _object(
            "How long a lease has left; TTL -1 means it does not exist.",
            {
                "header": header,
                "ID": {**INT64, "description": "the lease ID"},
                "TTL": {**INT64, "description": "seconds left"},
                "grantedTTL": {**INT64, "description": "the TTL it was granted"},
                "keys": {"type": "array", "items": BYTES},
            },
        ),
        "etcdserverpbLeaseStatus": _object("A lease.", {"ID": INT64}),
        "etcdserverpbLeaseLeasesResponse": _object(
            "Every lease.",
            {
                "header": header,
                "leases": {"type": "array", "items": ref("etcdserverpbLeaseStatus")},
            },
        ),
        **_auth_responses(header),
        **_stream_lines(),
        **_face_schemas(),
        "etcdserverpbSnapshotResponse": _object(
            "A chunk of the backend; the last one's blob is the SHA-256 of all before.",
            {
                "header": header,
                "remaining_bytes": {**UINT64, "description": "bytes left after this chunk"},
                "blob": BYTES,
            },
        ),
        "runtimeStreamErrorBody": _object(
            "A gateway stream's error, answered before (or instead of) any result line.",
            {"error": ref("runtimeStreamError")},
        ),
        "runtimeStreamError": _object(
            "An error in the middle of a stream.",
            {
                "grpc_code": {"type": "integer", "format": "int32"},
                "http_code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "http_status": {"type": "string"},
            },
        ),
        "runtimeError": _object(
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
        verb: _object("Done.", {"header": header})
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
        "etcdserverpbAuthStatusResponse": _object(
            "Whether auth is enabled (absent = no), and the auth store's revision.",
            {
                "header": header,
                "enabled": BOOL,
                "authRevision": {**UINT64, "description": "bumped by every auth change"},
            },
        ),
        "etcdserverpbAuthenticateResponse": _object(
            "A token for the Authorization header of later requests.",
            {"header": header, "token": {"type": "string", "example": "ZkbDqGZmkWoUYRPQ.23"}},
        ),
        "etcdserverpbAuthUserGetResponse": _object(
            "The user's roles.", {"header": header, "roles": names}
        ),
        "etcdserverpbAuthUserListResponse": _object(
            "Every user, by name.", {"header": header, "users": names}
        ),
        "etcdserverpbAuthRoleGetResponse": _object(
            "The role's permissions, sorted by key.",
            {"header": header, "perm": {"type": "array", "items": ref("authpbPermission")}},
        ),
        "etcdserverpbAuthRoleListResponse": _object(
            "Every role, by name.", {"header": header, "roles": names}
        ),
    }


def _stream_lines() -> dict:
    """The line of each gateway stream: a result, or the error that ends the stream."""
    lines = {
        "etcdserverpbWatchStreamResult": "etcdserverpbWatchResponse",
        "etcdserverpbLeaseKeepAliveStreamResult": "etcdserverpbLeaseKeepAliveResponse",
        "etcdserverpbSnapshotStreamResult": "etcdserverpbSnapshotResponse",
        "v3electionpbLeaderStreamResult": "v3electionpbLeaderResponse",
    }
    return {
        line: _object(
            "One line of the stream: a result, or the error that ends it.",
            {"result": ref(result), "error": ref("runtimeStreamError")},
        )
        for line, result in lines.items()
    }


def _face_schemas() -> dict:
    """/health, /version, and the plain-text key forms of app.routes.keys."""
    text = {"type": "string"}
    return {
        "etcdHealth": _object(
            "Whether the member can serve (strings, as etcd writes them).",
            {"health": {"type": "string", "enum": ["true", "false"]}, "reason": text},
        ),
        "etcdVersion": _object(
            "The server's version and the cluster's minor version.",
            {
                "etcdserver": {**text, "example": "3.4.23"},
                "etcdcluster": {**text, "example": "3.4.0"},
            },
        ),
        "keyraftKeyValue": _object(
            "A key as text: `value`, or `value_b64` when the value is not UTF-8 (the same "
            "for `key`).",
            {
                "key": text,
                "key_b64": BYTES,
                "value": text,
                "value_b64": BYTES,
                "create_revision": {"type": "integer", "format": "int64"},
                "mod_revision": {"type": "integer", "format": "int64"},
                "version": {"type": "integer", "format": "int64"},
                "lease": {"type": "integer", "format": "int64"},
            },
        ),
        "keyraftKeyList": _object(
            "The keys under a prefix, in key order, and the revision they were read at.",
            {
                "kvs": {"type": "array", "items": ref("keyraftKeyValue")},
                "count": {"type": "integer", "format": "int64"},
                "more": BOOL,
                "revision": {"type": "integer", "format": "int64"},
            },
        ),
        "keyraftKeyWrite": _object(
            "The revision of a put or delete, and how many keys a delete removed.",
            {
                "revision": {"type": "integer", "format": "int64"},
                "deleted": {"type": "integer", "format": "int64"},
            },
        ),
    }


def stream_response(description: str, line_schema: str) -> dict:
    """A gateway stream's 200: one JSON object per line, sent as keyraft sends it
    (`application/json`, chunked), until the stream ends."""
    return {
        "description": description + " (a stream: one JSON object per line)",
        "content": {"application/json": {"schema": ref(line_schema)}},
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
        name: _object(
            message.description,
            {item.name: _field_schema(item) for item in message.fields},
        )
        for name, message in MESSAGES.items()
    }
    schemas.update(_responses())
    return dict(sorted(schemas.items()))
