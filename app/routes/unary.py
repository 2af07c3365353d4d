"""FastAPI routes for every unary RPC of the gateway table (KV, maintenance, cluster).

Each route documents its etcd request and response schema and hands the raw body to the
shared dispatcher, so validation and errors are etcd's, not FastAPI's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from keyraft.app.asgi import BodyTooLarge, dispatch_while_connected, read_body
from keyraft.app.gateway import RPCS, Rpc, body_cap, operation_id, oversized_body
from keyraft.app.openapi_primitives import json_response, ref, request_body
from keyraft.app.openapi_responses import error_responses, rpc_statuses
from keyraft.app.openapi_schemas import SECURITY

router = APIRouter()
AUTHENTICATE = "/v3/auth/authenticate"

LEADER_KEY = {
    "name": "bXktZWxlY3Rpb24=",
    "key": "bXktZWxlY3Rpb24vNjk0ZDg2ZDZkYTlhYzUwNg==",
    "rev": "5",
    "lease": "7587869204537853190",
}
# Request examples for the document: keys and values are base64 ("foo" is "Zm9v").
EXAMPLES = {
    "/v3/kv/range": {"key": "Zm9v", "range_end": "Zm9w", "limit": "10"},
    "/v3/kv/put": {"key": "Zm9v", "value": "YmFy", "prev_kv": True},
    "/v3/kv/deleterange": {"key": "Zm9v", "prev_kv": True},
    "/v3/kv/txn": {
        "compare": [{"key": "Zm9v", "target": "VERSION", "result": "EQUAL", "version": "0"}],
        "success": [{"request_put": {"key": "Zm9v", "value": "YmFy"}}],
        "failure": [{"request_range": {"key": "Zm9v"}}],
    },
    "/v3/kv/compaction": {"revision": "5", "physical": True},
    "/v3/maintenance/status": {},
    "/v3/maintenance/alarm": {"action": "GET"},
    "/v3/maintenance/defragment": {},
    "/v3/maintenance/hash": {},
    "/v3/maintenance/hashkv": {"revision": "5"},
    "/v3/cluster/member/list": {},
    "/v3/cluster/member/add": {"peerURLs": ["http://10.0.0.4:2380"], "isLearner": True},
    "/v3/cluster/member/remove": {"ID": "13803658152347727308"},
    "/v3/cluster/member/update": {
        "ID": "13803658152347727308",
        "peerURLs": ["http://10.0.0.5:2380"],
    },
    "/v3/cluster/member/promote": {"ID": "13803658152347727308"},
    "/v3/maintenance/transfer-leadership": {"targetID": "13803658152347727308"},
    "/v3/lease/grant": {"TTL": "60"},
    "/v3/lease/revoke": {"ID": "7587869204537853190"},
    "/v3/lease/timetolive": {"ID": "7587869204537853190", "keys": True},
    "/v3/lease/leases": {},
    "/v3/auth/enable": {},
    "/v3/auth/disable": {},
    "/v3/auth/status": {},
    "/v3/auth/authenticate": {"name": "root", "password": "secret"},
    "/v3/auth/user/add": {"name": "alice", "password": "secret"},
    "/v3/auth/user/get": {"name": "alice"},
    "/v3/auth/user/list": {},
    "/v3/auth/user/delete": {"name": "alice"},
    "/v3/auth/user/changepw": {"name": "alice", "password": "new secret"},
    "/v3/auth/user/grant": {"user": "alice", "role": "reader"},
    "/v3/auth/user/revoke": {"name": "alice", "role": "reader"},
    "/v3/auth/role/add": {"name": "reader"},
    "/v3/auth/role/get": {"role": "reader"},
    "/v3/auth/role/list": {},
    "/v3/auth/role/delete": {"role": "reader"},
    "/v3/auth/role/grant": {
        "name": "reader",
        "perm": {"permType": "READ", "key": "Zm9v", "range_end": "Zm9w"},
    },
    "/v3/auth/role/revoke": {"role": "reader", "key": "Zm9v", "range_end": "Zm9w"},
    "/v3/lock/lock": {"name": "bXktbG9jaw==", "lease": "7587869204537853190"},
    "/v3/lock/unlock": {"key": "bXktbG9jay82OTRkODZkNmRhOWFjNTA2"},
    "/v3/election/campaign": {
        "name": "bXktZWxlY3Rpb24=",
        "lease": "7587869204537853190",
        "value": "bm9kZS0x",
    },
    "/v3/election/proclaim": {"leader": LEADER_KEY, "value": "bm9kZS0x"},
    "/v3/election/leader": {"name": "bXktZWxlY3Rpb24="},
    "/v3/election/resign": {"leader": LEADER_KEY},
}


def _handler(rpc: Rpc):
    async def handle(request: Request) -> Response:
        server = request.app.state.server
        try:
            body = await read_body(request.receive, body_cap(server))
            _answered, (status, payload) = await dispatch_while_connected(
                server, rpc, body, request.scope, request.receive
            )
        except BodyTooLarge as error:
            status, payload = oversized_body(server, error.length)
        return Response(payload, status_code=status, media_type="application/json")

    handle.__name__ = rpc.path.strip("/").replace("/", "_")
    return handle


for _rpc in RPCS.values():
    router.add_api_route(
        _rpc.path,
        _handler(_rpc),
        methods=["POST"],
        summary=_rpc.summary,
        tags=[_rpc.tag],
        operation_id=operation_id(_rpc),
        response_class=Response,
        openapi_extra={
            "requestBody": request_body(
                _rpc.request_schema, EXAMPLES[_rpc.path.replace("/v3/kv/lease/", "/v3/lease/")]
            ),
            "responses": {
                "200": json_response("OK", ref(_rpc.response_schema)),
                **error_responses(rpc_statuses(_rpc)),
            },
            # Authenticate reads a token (a bad one is refused) but needs none.
            **({"security": SECURITY} if _rpc.authed and _rpc.path != AUTHENTICATE else {}),
        },
    )
