"""POST /v3/watch as etcd's gateway streams it, and GET /v3/watch/sse for browsers.

The gateway form reads a stream of JSON request objects from the request body (create,
cancel, progress) and answers with newline-delimited `{"result": ...}` messages, each
flushed on its own. Like etcd, the response stays open after the request body ends (so
`curl -d` can watch), and closing the connection cancels the stream's watches.
The first message decides the status: a request that fails before anything was sent is
answered 500 with etcd's error body (gRPC code 2), as etcd's gateway does; once the
stream is under way a bad request ends the reading of requests (etcd's gateway stops
sending them), while the watches go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from keyraft.app import codec, errors, watch_codec
from keyraft.app.errors import rpc_reason
from keyraft.app.gojson import decode_base64
from keyraft.app.keys import prefix_end
from keyraft.app.openapi_primitives import request_body
from keyraft.app.openapi_responses import (
    query_parameter,
    sse_responses,
    stream_errors,
    stream_response,
)
from keyraft.app.openapi_schemas import SECURITY
from keyraft.app.schema import decode_message
from keyraft.app.server.apply import range_end
from keyraft.app.server.errors import ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.watches import Watch, WatchSpec
from keyraft.app.stream_decoder import RequestDecoder, ValueTooLarge, too_large, value_limit
from keyraft.app.streams import (
    LineWriter,
    Receive,
    Scope,
    Send,
    sse_message,
    stream_route,
    while_serving,
)
from keyraft.app.tokens import Headers, sse_token, token_of

router = APIRouter()
FILTERS = "^((NOPUT|NODELETE)(,(NOPUT|NODELETE))*)?$"
DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"


def watch_spec(create: dict) -> WatchSpec:
    """A decoded WatchCreateRequest as the server's WatchSpec."""
    filters = set(create.get("filters", []))
    return WatchSpec(
        key=create.get("key") or b"\x00",
        end=range_end(create.get("range_end", b"")),
        start_revision=create.get("start_revision", 0),
        prev_kv=bool(create.get("prev_kv")),
        no_put=0 in filters,
        no_delete=1 in filters,
    )


class WatchStream:
    def __init__(self, server: EtcdServer, writer: LineWriter, headers: Headers = ()) -> None:
        self.server = server
        self.writer = writer
        self.headers = headers
        self.events = watch_codec.cache_for(server)
        self.watches: dict[int, Watch] = {}
        self.fragmented: set[int] = set()  # watches created with `fragment`
        self.tasks: set[asyncio.Task] = set()
        self.next_id = 0

    def header(self, revision: int | None = None) -> dict:
        return watch_codec.server_header(self.server, revision)

    async def handle(self, message: object) -> None:
        request = decode_message("etcdserverpbWatchRequest", message)
        if "create_request" in request:
            await self.create(request["create_request"])
        elif "cancel_request" in request:
            watch_id = request["cancel_request"].get("watch_id", 0)
            watch = self.watches.pop(watch_id, None)
            self.fragmented.discard(watch_id)
            if watch is not None:
                watch.cancel()
                await self.writer.result(
                    watch_codec.response(self.header(), watch_id, canceled=True)
                )
        elif "progress_request" in request:
            await self.writer.result(watch_codec.response(self.header(), -1))

    async def create(self, create: dict) -> None:
        watch_id = create.get("watch_id", 0)
        if watch_id == 0:
            while self.next_id in self.watches:
                self.next_id += 1
            watch_id = self.next_id
            self.next_id += 1
        elif watch_id in self.watches:
            await self.writer.result(
                watch_codec.response(
                    self.header(), -1, created=True, canceled=True, cancel_reason=DUPLICATE_ID
                )
            )
            return
        if self.server.state.auth.enabled and not await self._permitted(create):
            return
        # Opened before it is announced, so no change between the two is missed.
        watch = self.server.watch(watch_spec(create), watch_id)
        self.watches[watch_id] = watch
        if create.get("fragment"):
            self.fragmented.add(watch_id)
        await self.writer.result(watch_codec.response(self.header(), watch_id, created=True))
        self._spawn(self.pump(watch))
        if create.get("progress_notify"):
            self._spawn(self.progress(watch))

    async def _permitted(self, create: dict) -> bool:
        """etcd refuses a watch the user may not read with a created-and-canceled answer
        (watch id -1) whose reason is the gRPC error, and the stream goes on."""
        try:
            token = token_of(self.headers)
            self.server.check_watch(token, create.get("key", b""), create.get("range_end", b""))
        except ServerError as error:
            refused = watch_codec.response(
                self.header(), -1, created=True, canceled=True, cancel_reason=rpc_reason(error)
            )
            await self.writer.result(refused)
            return False
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def pump(self, watch: Watch) -> None:
        while batch := await watch.next_batch():
            header = self.header(watch.batch_revision)
            events = await self.events.events(watch, batch)
            if watch.watch_id in self.fragmented:
                limit = self.server.config.grpc_limit_bytes
                for piece in watch_codec.fragments(header, watch.watch_id, events, limit):
                    await self.writer.result(piece)
            else:
                await self.writer.result(
                    watch_codec.response(header, watch.watch_id, events=events)
                )
        if watch.compact_revision or watch.cancel_reason:
            await self.writer.result(
                watch_codec.response(
                    self.header(0),
                    watch.watch_id,
                    canceled=True,
                    compact_revision=watch.compact_revision,
                    cancel_reason=watch.cancel_reason,
                )
            )
            self.watches.pop(watch.watch_id, None)
            self.fragmented.discard(watch.watch_id)

    async def progress(self, watch: Watch) -> None:
        interval = self.server.config.watch_progress_notify_interval_s
        while not watch.canceled:
            await asyncio.sleep(interval)
            if watch.idle:
                await self.writer.result(watch_codec.response(self.header(), watch.watch_id))

    async def run(self, receive: Receive) -> None:
        decoder = RequestDecoder(value_limit(self.server))
        reading = True
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                if not reading:
                    continue
                values = await decoder.feed_in_steps(message.get("body", b""))
                if not message.get("more_body", False):
                    values += decoder.finish()
                    reading = False
                for value in values:
                    try:
                        await self.handle(value)
                    except errors.EtcdError as error:
                        if await self._refused(error.message):
                            return
                        reading = False
                        break
                else:
                    if isinstance(decoder.error, ValueTooLarge):
                        await self.writer.stream_error(too_large(self.server, decoder.error.size))
                        return
                    if decoder.error is not None:
                        if await self._refused(str(decoder.error)):
                            return
                        reading = False
        finally:
            for watch in self.watches.values():
                watch.cancel()
            for task in list(self.tasks):
                task.cancel()
            if self.writer.started:
                await self.writer.end()

    async def _refused(self, message: str) -> bool:
        """A request that cannot be served: before anything was sent it is the whole
        answer (True: the stream is over); later etcd drops it and reads no more."""
        if self.writer.started:
            return False
        await self.writer.refuse(message)
        return True


async def serve_watch(server: EtcdServer, scope: Scope, receive: Receive, send: Send) -> None:
    await WatchStream(server, LineWriter(send), scope["headers"]).run(receive)


stream_route(
    router,
    "/v3/watch",
    serve_watch,
    name="watch_route",
    tags=["Watch"],
    operation_id="Watch",
    summary="Watch keys (a stream of newline-delimited JSON messages)",
    description=(
        "The body is a stream of WatchRequest objects (create, cancel, progress); the "
        "answer stays open after the body ends, and closing the connection cancels the "
        "stream's watches."
    ),
    openapi_extra={
        "requestBody": request_body(
            "etcdserverpbWatchRequest",
            {"create_request": {"key": "Zm9v", "prev_kv": True}},
            required=None,
        ),
        "responses": {
            "200": stream_response(
                'One `{"result": WatchResponse}` per line, as events happen',
                "etcdserverpbWatchStreamResult",
            ),
            **stream_errors({429, 500, 503}),
        },
        "security": SECURITY,
    },
)


def query_bytes(params: dict, name: str) -> bytes | None:
    if params.get(name) is not None:
        return params[name].encode()
    encoded = params.get(name + "_b64")
    if encoded is not None:
        try:
            return decode_base64(encoded)
        except ValueError as error:
            raise errors.invalid(f"{name}_b64: {error}") from None
    return None


def sse_spec(params: dict, last_event_id: str | None) -> WatchSpec:
    key = query_bytes(params, "key")
    if not key:
        raise errors.key_not_provided()
    create: dict = {"key": key, "prev_kv": params.get("prev_kv") in ("true", "1")}
    end = query_bytes(params, "range_end")
    if params.get("prefix") in ("true", "1"):
        end = prefix_end(key)
    elif params.get("from_key") in ("true", "1"):
        end = b"\x00"
    if end:
        create["range_end"] = end
    filters = [item for item in params.get("filters", "").split(",") if item]
    names = {"NOPUT": 0, "NODELETE": 1}
    if any(item not in names for item in filters):
        raise errors.invalid(
            f"filters: unknown filter in {params.get('filters')!r} (NOPUT, NODELETE)"
        )
    create["filters"] = [names[item] for item in filters]
    try:
        start = int(params.get("start_revision", "0"))
        if last_event_id:
            start = int(last_event_id) + 1
    except ValueError:
        raise errors.invalid(
            "start_revision and Last-Event-ID must be revisions (integers)"
        ) from None
    create["start_revision"] = start
    return watch_spec(create)


async def sse_events(server: EtcdServer, spec: WatchSpec) -> AsyncIterator[dict]:
    """The watch opens when the response starts, and closes with it."""
    watch = server.watch(spec)
    cache = watch_codec.cache_for(server)
    pending: asyncio.Future | None = None
    try:
        created = watch_codec.response(watch_codec.server_header(server), created=True)
        # A watch from "now" starts after the header's revision: as the event's id, a
        # reconnect before any change resumes there instead of at a later "now".
        since = None if spec.start_revision else int(created["header"]["revision"])
        yield sse_message(created, event="created", id=since)
        interval = server.config.sse_progress_interval_s
        while True:
            # Not wait_for: a timeout must not cancel a catch-up half read (it would start
            # over, and one longer than the interval would never finish).
            pending = asyncio.ensure_future(watch.next_batch())
            while not (await asyncio.wait({pending}, timeout=interval))[0]:
                progress = watch_codec.response(watch_codec.server_header(server))
                yield sse_message(progress, event="progress")
            batch = pending.result()
            if not batch:
                break
            for revision, changes in batch:
                events = await cache.events(watch, [(revision, changes)])
                header = watch_codec.server_header(server, revision)
                yield sse_message(watch_codec.response(header, events=events), id=revision)
        if watch.compact_revision or watch.cancel_reason:
            canceled = watch_codec.response(
                watch_codec.server_header(server, 0),
                canceled=True,
                compact_revision=watch.compact_revision,
                cancel_reason=watch.cancel_reason,
            )
            yield sse_message(canceled, event="canceled")
    finally:
        if pending is not None:
            pending.cancel()
        watch.cancel()


@router.get(
    "/v3/watch/sse",
    tags=["Watch"],
    operation_id="WatchSSE",
    summary="Watch as server-sent events (for EventSource and curl)",
    response_class=Response,
    openapi_extra={
        "parameters": [
            *query_parameter("key", "the key (or the range's start)", "bytes"),
            *query_parameter("range_end", "the range's end, exclusive", "bytes"),
            *query_parameter("prefix", "`true`: every key with `key` as prefix", "boolean"),
            *query_parameter("from_key", "`true`: every key from `key` on", "boolean"),
            *query_parameter("start_revision", "the revision to start from", "integer"),
            *query_parameter("prev_kv", "`true`: events carry the previous pair", "boolean"),
            *query_parameter("filters", "comma-separated: `NOPUT`, `NODELETE`", pattern=FILTERS),
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "set by a reconnecting EventSource: resume after this revision",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
        ],
        "responses": sse_responses("WatchResponse", {400, 401, 403}),
        "security": SECURITY,
    },
    description=(
        "Query parameters: `key` (plain text) or `key_b64` (base64); `range_end` / "
        "`range_end_b64`, or `prefix=true`, or `from_key=true`; `start_revision`; "
        "`prev_kv=true`; `filters=NOPUT,NODELETE`. Each message's `id` is its revision, so "
        "an EventSource that reconnects with `Last-Event-ID` resumes without a gap or a "
        "duplicate; without `start_revision`, the `created` event's `id` is the revision the "
        "watch starts after. `created`, `progress` (when idle) and `canceled` events frame the stream. "
        "With auth on, the token goes in the `Authorization` header or, for EventSource "
        "(which cannot set headers), in the `token` query parameter."
    ),
)
async def watch_sse(request: Request):
    server: EtcdServer = request.app.state.server
    try:
        params = dict(request.query_params)
        spec = sse_spec(params, request.headers.get("last-event-id"))
        if server.state.auth.enabled:
            end = b"" if spec.end is None else spec.end or b"\x00"
            server.check_watch(sse_token(request.scope["headers"], params), spec.key, end)
    except (errors.EtcdError, ServerError) as error:
        error = errors.as_etcd(error)
        body = codec.encode_error(error)
        return Response(body, status_code=error.http_status, media_type="application/json")
    return EventSourceResponse(while_serving(server, sse_events(server, spec)), ping=15)
