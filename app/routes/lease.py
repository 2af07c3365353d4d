"""POST /v3/lease/keepalive: etcd's gateway form of a bidirectional stream.

The request body is a stream of JSON objects; each one is answered, in order, by one
`{"result": {...}}` line flushed on its own, and the answer ends when the body does
(etcd's leaseKeepAlive returns at EOF). As in etcd, a first message that does not decode
is refused like a unary call (500, gRPC code 2); a later one just ends the stream.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from keyraft.app import codec, errors
from keyraft.app.openapi_primitives import request_body
from keyraft.app.openapi_responses import stream_errors, stream_response
from keyraft.app.openapi_schemas import SECURITY
from keyraft.app.schema import decode_message
from keyraft.app.server.errors import ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.leases import FORWARDED_HEADER
from keyraft.app.server.requests import LeaseKeepAlive, lease_keep_alive_from
from keyraft.app.stream_decoder import RequestDecoder, ValueTooLarge, too_large, value_limit
from keyraft.app.streams import LineWriter, Receive, Scope, Send, stream_route

router = APIRouter()


async def serve_keepalive(server: EtcdServer, scope: Scope, receive: Receive, send: Send) -> None:
    forwarded = any(name == FORWARDED_HEADER.encode() for name, _ in scope.get("headers", []))
    writer = LineWriter(send)
    decoder = RequestDecoder(value_limit(server))
    body_done = False
    values: list[object] = []
    answered = 0
    while True:
        requests: list[LeaseKeepAlive] = []
        error: str | None = None
        for value in values:
            try:
                message = decode_message("etcdserverpbLeaseKeepAliveRequest", value)
                requests.append(lease_keep_alive_from(message))
            except errors.EtcdError as refused:
                error = refused.message
                break
        oversized = decoder.error if isinstance(decoder.error, ValueTooLarge) else None
        if error is None and decoder.error is not None and oversized is None:
            error = str(decoder.error)
        if error is not None and answered == 0 and not requests:
            await writer.refuse(error)
            return
        # Every request already here is renewed at once (a follower forwards them to
        # the leader together); the answers still go out in request order.
        outcomes = await asyncio.gather(
            *(server.lease_keep_alive(request, forwarded) for request in requests),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, ServerError):
                failure = errors.from_server(outcome)
                await writer.stream_error(failure)
                error = failure.message
                break
            if isinstance(outcome, BaseException):
                raise outcome
            await writer.result(codec.response_json(server, outcome))
            answered += 1
        if error is None and oversized is not None:
            await writer.stream_error(too_large(server, oversized.size))
            break
        if error is not None or body_done:
            break
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        values = await decoder.feed_in_steps(message.get("body", b""))
        body_done = not message.get("more_body", False)
        if body_done:
            values += decoder.finish()
    await writer.end()


stream_route(
    router,
    "/v3/lease/keepalive",
    serve_keepalive,
    name="keepalive",
    tags=["Lease"],
    operation_id="LeaseKeepAlive",
    summary="Keep leases alive (a stream of requests, one answer line each)",
    response_class=Response,
    openapi_extra={
        "requestBody": request_body(
            "etcdserverpbLeaseKeepAliveRequest", {"ID": "7587869204537853190"}
        ),
        "responses": {
            "200": stream_response(
                'One `{"result": LeaseKeepAliveResponse}` line per request object',
                "etcdserverpbLeaseKeepAliveStreamResult",
            ),
            **stream_errors({404, 429, 500, 503}),
        },
        "security": SECURITY,
    },
)
