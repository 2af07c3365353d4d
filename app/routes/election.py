"""POST /v3/election/observe as etcd's gateway streams it, and GET .../observe/sse.

Observe is a server stream: one LeaderRequest in the body (decoded, and refused, as a
unary call's is: etcd answers 400 for a body it cannot read), then a `{"result":
LeaderResponse}` line for the current leader and for each change of leadership or value,
until the client goes away (which ends the server's watches). An error (permission
denied, say) ends the stream without a line, as etcd's observer stops on one. The SSE
form serves the same stream to browsers, the election's name in the query.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from keyraft.app import codec, errors
from keyraft.app.gateway import OBSERVE, body_cap, oversized_body, typed_request
from keyraft.app.openapi_primitives import request_body
from keyraft.app.openapi_responses import (
    error_responses,
    query_parameter,
    sse_responses,
    stream_errors,
    stream_response,
)
from keyraft.app.openapi_schemas import SECURITY
from keyraft.app.routes.watch import query_bytes
from keyraft.app.server import election
from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.errors import ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import LeaderRequest
from keyraft.app.streams import (
    BodyTooLarge,
    LineWriter,
    Receive,
    Scope,
    Send,
    read_body,
    sse_message,
    stream_route,
    until_disconnected,
    while_serving,
)
from keyraft.app.tokens import sse_token

router = APIRouter()


def leaders(server: EtcdServer, request: LeaderRequest, info: AuthInfo | None) -> AsyncIterator:
    """The observe stream's LeaderResponses in etcd's JSON form."""

    async def each() -> AsyncIterator[dict]:
        async for response in election.observe(server, request, info):
            yield codec.response_json(server, response)

    return each()


async def serve_observe(server: EtcdServer, scope: Scope, receive: Receive, send: Send) -> None:
    writer = LineWriter(send)
    try:
        body = await read_body(receive, body_cap(server))
        request, info = await typed_request(server, OBSERVE, body, scope["headers"])
    except BodyTooLarge as error:
        await _answer(send, *oversized_body(server, error.length))
        return
    except errors.EtcdError as error:  # a body that is no LeaderRequest: 400, as etcd
        await _answer(send, error.http_status, codec.encode_error(error))
        return
    except ServerError:  # etcd's observer just stops on any error (measured: 200, no line)
        await writer.end()
        return

    async def stream() -> None:
        with contextlib.suppress(ServerError):
            async for response in leaders(server, request, info):
                await writer.result(response)

    await until_disconnected(receive, stream())
    await writer.end()


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


stream_route(
    router,
    "/v3/election/observe",
    serve_observe,
    name="election_observe_route",
    tags=["Election"],
    operation_id="Observe",
    summary=OBSERVE.summary,
    description=(
        "The body is one LeaderRequest; the answer is a line for the current leader (once "
        "there is one) and one for each new leader or proclaimed value, until the client "
        "closes the connection."
    ),
    openapi_extra={
        "requestBody": request_body(OBSERVE.request_schema, {"name": "bXktZWxlY3Rpb24="}),
        "responses": {
            "200": stream_response(
                'One `{"result": LeaderResponse}` per line, as leaders change',
                "v3electionpbLeaderStreamResult",
            ),
            **error_responses({400}),
            **stream_errors({429, 503}),
        },
        "security": SECURITY,
    },
)


@router.get(
    "/v3/election/observe/sse",
    tags=["Election"],
    operation_id="ObserveSSE",
    summary="Follow an election's leader as server-sent events (for EventSource and curl)",
    response_class=Response,
    openapi_extra={
        "parameters": query_parameter("name", "the election's name", "bytes"),
        "responses": sse_responses("LeaderResponse", {400, 401}),
        "security": SECURITY,
    },
    description=(
        "Query parameters: `name` (plain text) or `name_b64` (base64). Each event carries a "
        "LeaderResponse as JSON; its `id` is the revision it reports. With auth on, the "
        "token goes in the `Authorization` header or in the `token` query parameter."
    ),
)
async def observe_sse(request: Request):
    server: EtcdServer = request.app.state.server
    try:
        params = dict(request.query_params)
        name = query_bytes(params, "name") or b""
        info = None
        if server.state.auth.enabled:
            info = server.auth.info(sse_token(request.scope["headers"], params))
    except (errors.EtcdError, ServerError) as failure:
        error = errors.as_etcd(failure)
        body = codec.encode_error(error)
        return Response(body, status_code=error.http_status, media_type="application/json")

    async def events() -> AsyncIterator[dict]:
        try:
            async for response in leaders(server, LeaderRequest(name), info):
                yield sse_message(response, id=int(response["header"]["revision"]))
        except ServerError as failure:
            error = errors.as_etcd(failure)
            yield sse_message({"error": error.message, "code": error.code}, event="error")

    return EventSourceResponse(while_serving(server, events()), ping=15)
