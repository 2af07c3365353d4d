"""OpenAPI responses: which of etcd's errors each operation may answer, and the forms of
the event streams (SSE).

The statuses are grpc-gateway's for the gRPC codes the server raises (app.errors); a
unary error is `{"error", "message", "code"}` (runtimeError), a stream that fails before
its first line answers `{"error": runtimeStreamError}` with the error's status.
"""

from __future__ import annotations

from keyraft.app.gateway import Rpc
from keyraft.app.openapi_primitives import json_response, ref

# Why each status is answered (gRPC code in parentheses).
CAUSES = {
    400: "InvalidArgument (3) or OutOfRange (11): a body that is not the request, a missing "
    "key, a compacted or future revision, a failed authentication",
    401: "Unauthenticated (16): an invalid or expired token, while auth is enabled",
    403: "PermissionDenied (7): the token's user lacks the permission",
    404: "NotFound (5): no such lease or member",
    408: "Canceled (1): the request body did not arrive in time",
    412: "FailedPrecondition (9): the auth or cluster state does not allow it",
    429: "ResourceExhausted (8): the request is larger than --max-request-bytes allows, or "
    "the NOSPACE alarm is raised",
    500: "Unknown (2): as etcd's gateway answers lock and election errors, maintenance "
    "refusals and requests it cannot decode",
    503: "Unavailable (14): no leader, the request timed out, the member is stopping or a learner",
}

_ALWAYS = frozenset({400, 408, 429, 503})
_AUTHED = frozenset({401, 403})
# What each group of RPCs adds to the statuses every RPC may answer.
_BY_TAG = {
    "KV": {404},  # a put's lease that does not exist
    "Lease": {404, 412},
    "Cluster": {404, 412, 500},
    "Maintenance": {404, 412, 500},
    "Auth": {412, 500},
    "Lock": {500},
    "Election": {500},
}


def error_responses(statuses: set[int] | frozenset[int], schema: dict | None = None) -> dict:
    """OpenAPI responses for `statuses`, each with etcd's error body (or `schema`)."""
    body = schema or ref("runtimeError")
    return {str(status): json_response(CAUSES[status], body) for status in sorted(statuses)}


def rpc_statuses(rpc: Rpc) -> set[int]:
    """The error statuses a unary RPC may answer."""
    statuses = set(_ALWAYS) | _BY_TAG.get(rpc.tag, set())
    if rpc.authed:
        statuses |= _AUTHED
    return statuses


def stream_errors(statuses: set[int]) -> dict:
    """A gateway stream's errors: a first request it cannot decode has the unary body
    (500), a failure before the first line is a stream error with the error's status."""
    either = {"anyOf": [ref("runtimeError"), ref("runtimeStreamErrorBody")]}
    return error_responses(statuses, either)


def query_parameter(
    name: str, description: str, kind: str = "string", pattern: str | None = None
) -> list[dict]:
    """An SSE query parameter; `bytes` ones come as text (`name`) or base64 (`name_b64`)."""
    if kind == "bytes":
        return [
            *query_parameter(name, description + ", as text"),
            *query_parameter(name + "_b64", description + ", base64", pattern=BASE64),
        ]
    schema: dict = {"type": kind}
    if kind == "integer":
        schema.update(format="int64", minimum=0)
    if pattern is not None:
        schema["pattern"] = pattern
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }
    ]


def sse_responses(result: str, statuses: set[int]) -> dict:
    """An SSE stream's 200, and its errors before the stream starts."""
    return {
        "200": {
            "description": f"Server-sent events; each one's `data` is a {result} as JSON",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(statuses),
    }


BASE64 = "^[A-Za-z0-9+/]*={0,2}$"


def stream_response(description: str, line_schema: str) -> dict:
    """A gateway stream's 200: one JSON object per line, sent as keyraft sends it
    (`application/json`, chunked), until the stream ends."""
    return {
        "description": description + " (a stream: one JSON object per line)",
        "content": {"application/json": {"schema": ref(line_schema)}},
    }
