"""OpenAPI components keyraft adds to etcd's: the lines of the gateway streams, the
bodies of /health and /version, and the plain-text key forms (app.routes.keys)."""

from __future__ import annotations

from keyraft.app.openapi_primitives import BOOL, BYTES, UINT64, object_schema, ref


def face_components() -> dict:
    return {
        **_stream_lines(),
        **_face_schemas(),
        "etcdserverpbSnapshotResponse": object_schema(
            "A chunk of the backend; the last one's blob is the SHA-256 of all before.",
            {
                "header": ref("etcdserverpbResponseHeader"),
                "remaining_bytes": {**UINT64, "description": "bytes left after this chunk"},
                "blob": BYTES,
            },
        ),
        "runtimeStreamErrorBody": object_schema(
            "A gateway stream's error, answered before (or instead of) any result line.",
            {"error": ref("runtimeStreamError")},
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
        line: object_schema(
            "One line of the stream: a result, or the error that ends it.",
            {"result": ref(result), "error": ref("runtimeStreamError")},
        )
        for line, result in lines.items()
    }


def _face_schemas() -> dict:
    """/health, /version, and the plain-text key forms of app.routes.keys."""
    text = {"type": "string"}
    return {
        "etcdHealth": object_schema(
            "Whether the member can serve (strings, as etcd writes them).",
            {"health": {"type": "string", "enum": ["true", "false"]}, "reason": text},
        ),
        "etcdVersion": object_schema(
            "The server's version and the cluster's minor version.",
            {
                "etcdserver": {**text, "example": "3.4.23"},
                "etcdcluster": {**text, "example": "3.4.0"},
            },
        ),
        "keyraftKeyValue": object_schema(
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
        "keyraftKeyList": object_schema(
            "The keys under a prefix, in key order, and the revision they were read at.",
            {
                "kvs": {"type": "array", "items": ref("keyraftKeyValue")},
                "count": {"type": "integer", "format": "int64"},
                "more": BOOL,
                "revision": {"type": "integer", "format": "int64"},
            },
        ),
        "keyraftKeyWrite": object_schema(
            "The revision of a put or delete, and how many keys a delete removed.",
            {
                "revision": {"type": "integer", "format": "int64"},
                "deleted": {"type": "integer", "format": "int64"},
            },
        ),
    }
