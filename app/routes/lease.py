"""POST /v3/lease/keepalive: etcd's gateway form of a bidirectional stream.

The request body is a stream of JSON objects; each one is answered, in order, by one
`{"result": {...}}` line flushed on its own, and the answer ends when the body does
(etcd's leaseKeepAlive returns at EOF). As in etcd, a first message that does not decode
is refused like a unary call (500, gRPC code 2); a later one just ends the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from keyraft.app import codec, errors
from keyraft.app.gojson import GoSyntaxError, next_value
from keyraft.app.openapi_schemas import json_response, ref, request_body
from keyraft.app.schema import decode_message
from keyraft.app.server.errors import ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.leases import FORWARDED_HEADER
from keyraft.app.server.requests import LeaseKeepAlive, lease_keep_alive_from

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

router = APIRouter()
JSON_HEADERS = [(b"content-type", b"application/json")]
UNKNOWN = 2


class _Stream:
    """The response side: headers go out with the first line (or at the end)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def start(self, status: int = 200, extra: list | None = None) -> None:
        if not self.started:
            self.started = True
            headers = [*JSON_HEADERS, *(extra or [])]
            await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def line(self, payload: bytes) -> None:
        await self.start()
        await self.send({"type": "http.response.body", "body": payload, "more_body": True})

    async def end(self) -> None:
        await self.start()
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def refuse(self, error: errors.EtcdError, status: int) -> None:
        body = codec.encode_error(error)
        await self.start(status, [(b"content-length", str(len(body)).encode())])
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


def _stream_error(error: errors.EtcdError) -> bytes:
    """grpc-gateway's mid-stream error (runtime.StreamError; empty details omitted),
    written without the line delimiter, as its handleForwardResponseStreamError does."""
    body = {
        "error": {
            "grpc_code": error.code,
            "http_code": error.http_status,
            "message": error.message,
            "http_status": HTTPStatus(error.http_status).phrase,
        }
    }
    return orjson.dumps(body)


async def serve_keepalive(server: EtcdServer, scope: dict, receive: Receive, send: Send) -> None:
    forwarded = any(name == FORWARDED_HEADER.encode() for name, _ in scope.get("headers", []))
    stream = _Stream(send)
    buffer = b""
    body_done = False
    answered = 0
    while True:
        keepalives, buffer, error = _split(buffer, body_done)
        if error is not None and answered == 0 and not keepalives:
            await stream.refuse(errors.EtcdError(UNKNOWN, error), 500)
            return
        # Every request already here is renewed at once (a follower forwards them to
        # the leader together); the answers still go out in request order.
        outcomes = await asyncio.gather(
            *(server.lease_keep_alive(request, forwarded) for request in keepalives),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, ServerError):
                outcome = errors.from_server(outcome)
                if not stream.started:
                    await stream.start(outcome.http_status)
                await stream.line(_stream_error(outcome))
                error = outcome.message
                break
            if isinstance(outcome, BaseException):
                raise outcome
            await stream.line(
                orjson.dumps({"result": codec.response_json(server, outcome)}) + b"\n"
            )
            answered += 1
        if error is not None or body_done:
            break
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        buffer += message.get("body", b"")
        body_done = not message.get("more_body", False)
    await stream.end()


def _split(buffer: bytes, body_done: bool) -> tuple[list[LeaseKeepAlive], bytes, str | None]:
    """The complete requests at the front of `buffer`, what is left, and the error that
    ends the stream (a value that is not a keepalive request), if any."""
    requests: list[LeaseKeepAlive] = []
    while True:
        try:
            found = next_value(buffer)
        except GoSyntaxError as error:
            if not body_done and str(error) == "unexpected EOF":
                return requests, buffer, None
            return requests, b"", str(error)
        if found is None:
            return requests, buffer, None
        value, end = found
        buffer = buffer[end:]
        try:
            message = decode_message("etcdserverpbLeaseKeepAliveRequest", value)
            requests.append(lease_keep_alive_from(message))
        except errors.EtcdError as error:
            return requests, b"", error.message


class KeepAliveResponse(Response):
    """Hands the raw ASGI channel to `serve_keepalive` (a stream in both directions)."""

    def __init__(self, server: EtcdServer) -> None:
        super().__init__()
        self.server = server

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        await serve_keepalive(self.server, scope, receive, send)


@router.post(
    "/v3/lease/keepalive",
    tags=["Lease"],
    summary="Keep leases alive (a stream of requests, one answer line each)",
    response_class=Response,
    openapi_extra={
        "requestBody": request_body(
            "etcdserverpbLeaseKeepAliveRequest", {"ID": "7587869204537853190"}
        ),
        "responses": {
            "200": json_response(
                'One `{"result": ...}` line per request object',
                {
                    "type": "object",
                    "properties": {
                        "result": ref("etcdserverpbLeaseKeepAliveResponse"),
                        "error": ref("runtimeStreamError"),
                    },
                },
            )
        },
    },
)
async def keepalive(request: Request) -> Response:
    return KeepAliveResponse(request.app.state.server)
