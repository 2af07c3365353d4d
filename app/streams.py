"""etcd's gateway streams: `{"result": ...}` lines out, served on the raw ASGI channel.

Watch and lease keepalive are gRPC bidirectional streams that etcd's gateway serves over
one HTTP request: the body is a sequence of JSON values (decoded by `stream_decoder`), the
answer a line per message, each flushed as its own chunk. Both are served the same way
here: a `StreamRoute` hands the raw ASGI channel to a stream handler (it must read and
write concurrently), FastAPI documents it, and the ASGI front may dispatch the same
handler without FastAPI's router on its fast path. Election observe (a server stream:
one request, then lines) is served the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sse_starlette.sse import AppStatus
from starlette.types import Receive, Scope, Send

from keyraft.app import codec, errors
from keyraft.app.server.errors import NotSupportedForLearner, ServerStopped
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.waits import cancel_on

StreamHandler = Callable[[EtcdServer, Scope, Receive, Send], Awaitable[None]]

UNKNOWN = 2  # gRPC code of a request the gateway could not decode

# ---- request side ---------------------------------------------------------------------


class BodyTooLarge(Exception):
    def __init__(self, length: int) -> None:
        self.length = length


async def read_body(receive: Receive, cap: int) -> bytes:
    """Read a request body, refusing (without buffering) more than `cap` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > cap:
            while message.get("more_body", False):
                message = await receive()
                total += len(message.get("body", b""))
            raise BodyTooLarge(total)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


T = TypeVar("T")


async def until_disconnected(receive: Receive, work: Awaitable[T]) -> tuple[bool, T | None]:
    """(True, `work`'s result), or (False, None) once the client went away first: `work`
    is canceled then, as gRPC cancels a call's context (a waiting lock leaves the queue).
    Call it once the request body has been read: what `receive` gives then is the end."""
    task = await cancel_on(work, _disconnect(receive))
    if task.cancelled():
        return False, None
    return True, task.result()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# ---- response side ---------------------------------------------------------------------


def stream_error_body(error: errors.EtcdError) -> bytes:
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


def result_line(result: object) -> bytes:
    return orjson.dumps({"result": result}) + b"\n"


def sse_message(result: object, event: str | None = None, id: int | None = None) -> dict:
    """A server-sent event carrying `result` as JSON (sse-starlette frames it)."""
    message: dict = {"data": orjson.dumps(result).decode()}
    if event is not None:
        message["event"] = event
    if id is not None:
        message["id"] = str(id)
    return message


class LineWriter:
    """The answer of a gateway stream: the status and headers go out with the first
    line, each line is its own chunk; several tasks may write (lines stay whole)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.started = False
        self.ended = False

    async def _start(self, status: int, extra: list | None = None) -> None:
        self.started = True
        headers = [(b"content-type", b"application/json"), *(extra or [])]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def result(self, result: object) -> None:
        """One `{"result": ...}` line (`result` in etcd's JSON form)."""
        await self.line(result_line(result))

    async def line(self, payload: bytes) -> None:
        async with self._lock:
            if self.ended:
                return
            if not self.started:
                await self._start(200)
            await self._send({"type": "http.response.body", "body": payload, "more_body": True})

    async def stream_error(self, error: errors.EtcdError) -> None:
        """The error chunk that ends a stream; before any line it also sets the status."""
        async with self._lock:
            if self.ended:
                return
            if not self.started:
                await self._start(error.http_status)
            payload = stream_error_body(error)
            await self._send({"type": "http.response.body", "body": payload, "more_body": True})

    async def refuse(self, message: str) -> None:
        """Before anything was sent, a request the gateway cannot decode is the whole
        answer: 500 with etcd's error body, gRPC code 2, as for a unary call."""
        body = codec.encode_error(errors.EtcdError(UNKNOWN, message))
        async with self._lock:
            if self.started:
                return
            self.ended = True
            await self._start(500, [(b"content-length", str(len(body)).encode())])
            await self._send({"type": "http.response.body", "body": body})

    async def end(self) -> None:
        """End the answer (sending the headers first if nothing was); harmless when the
        client is already gone or the answer already ended."""
        async with self._lock:
            if self.ended:
                return
            self.ended = True
            with contextlib.suppress(Exception):
                if not self.started:
                    await self._start(200)
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})


# Event streams end through `while_serving` when the member stops, completing their
# answer; sse-starlette's own exit watcher would race it and cut them mid-answer (its
# cancel leaves the chunked body unfinished), so it is turned off.
AppStatus.disable_automatic_graceful_drain()


async def while_serving(server: EtcdServer, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """`events` until they end or the member begins to stop: an event stream (SSE) must
    end cleanly then, not hold the stopping member open."""
    try:
        while True:
            try:
                yield await server.until_closing(anext(events))
            except (StopAsyncIteration, ServerStopped):
                return
    finally:
        await events.aclose()


# ---- routing ---------------------------------------------------------------------------


async def serve_stream(
    handler: StreamHandler, server: EtcdServer, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run a stream handler until it ends or the member begins to stop; a learner serves
    no stream (etcd's stream interceptor)."""
    if server.learner:
        writer = LineWriter(send)
        await writer.stream_error(errors.from_server(NotSupportedForLearner()))
        await writer.end()
        return
    started = False

    async def send_noting_start(message: dict) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await server.until_closing(handler(server, scope, receive, send_noting_start))
    except ServerStopped:  # the member is stopping: the stream ends where it stands
        with contextlib.suppress(Exception):
            if not started:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Stream(Response):
    """FastAPI's route contract is request -> response; this response runs a stream
    handler on the ASGI channel it is given."""

    def __init__(self, handler: StreamHandler, server: EtcdServer) -> None:
        super().__init__()
        self.handler = handler
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_stream(self.handler, self.server, scope, receive, send)


class StreamRoute(APIRoute):
    """A POST route served by a stream handler on the raw ASGI channel (it must read
    requests and write answers concurrently), routed and documented by FastAPI like any
    route. Its endpoint is its request handler as is: no dependencies, no body model."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        return self.endpoint


def stream_route(
    router: APIRouter, path: str, handler: StreamHandler, *, name: str, **documentation: object
) -> None:
    """Declare `path` as a gateway stream served by `handler`, documented by FastAPI."""

    async def endpoint(request: Request) -> Response:
        return _Stream(handler, request.app.state.server)

    endpoint.__name__ = endpoint.__qualname__ = name
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        route_class_override=StreamRoute,
        **documentation,  # type: ignore[arg-type]
    )
