"""POST /v3/watch as etcd's gateway streams it, and GET /v3/watch/sse for browsers.

The gateway form reads a stream of JSON request objects from the request body (create,
cancel, progress) and answers with newline-delimited `{"result": ...}` messages, each
flushed on its own. Like etcd, the response stays open after the request body ends (so
`curl -d` can watch), and closing the connection cancels the stream's watches.
The first message decides the status: a request that fails before anything was sent is
answered 500 with etcd's error body (gRPC code 2), as etcd's gateway does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from keyraft.app import codec, errors, watch_codec
from keyraft.app.asgi import COMMON_HEADERS
from keyraft.app.gojson import GoSyntaxError, decode_base64, parse_body
from keyraft.app.keys import prefix_end
from keyraft.app.openapi_schemas import json_response, ref, request_body
from keyraft.app.schema import decode_message
from keyraft.app.server.apply import range_end
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.storage.mvcc.watch import Watcher

router = APIRouter()
_DECODER = json.JSONDecoder()
DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"


def _watcher(create: dict, watch_id: int) -> tuple[Watcher, int]:
    key = create.get("key") or b"\x00"
    filters = set(create.get("filters", []))
    watcher = Watcher(
        key=key,
        end=range_end(create.get("range_end", b"")),
        next_revision=0,
        watch_id=watch_id,
        no_put=0 in filters,
        no_delete=1 in filters,
        prev_kv=bool(create.get("prev_kv")),
    )
    return watcher, create.get("start_revision", 0)


class WatchStream:
    def __init__(self, server: EtcdServer, send: Callable) -> None:
        self.server = server
        self.hub = server.watch_hub
        self._send = send
        self._lock = asyncio.Lock()
        self.started = False
        self.watchers: dict[int, Watcher] = {}
        self.tasks: set[asyncio.Task] = set()
        self.next_id = 0

    async def write(self, result: dict) -> None:
        async with self._lock:
            if not self.started:
                self.started = True
                headers = [*COMMON_HEADERS, (b"content-type", b"application/json")]
                await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._send(
                {"type": "http.response.body", "body": watch_codec.line(result), "more_body": True}
            )

    async def fail(self, error: errors.EtcdError) -> None:
        """Before anything was sent, a failure is the whole (500) answer."""
        body = orjson.dumps({"error": error.message, "message": error.message, "code": 2})
        headers = [
            *COMMON_HEADERS,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        async with self._lock:
            self.started = True
            await self._send({"type": "http.response.start", "status": 500, "headers": headers})
            await self._send({"type": "http.response.body", "body": body})

    async def handle(self, message: object) -> None:
        request = decode_message("etcdserverpbWatchRequest", message)
        if "create_request" in request:
            await self.create(request["create_request"])
        elif "cancel_request" in request:
            watch_id = request["cancel_request"].get("watch_id", 0)
            watcher = self.watchers.pop(watch_id, None)
            if watcher is not None:
                self.hub.remove(watcher)
                await self.write(
                    watch_codec.response(
                        codec.header(self.server, self.server.current_revision),
                        watch_id,
                        canceled=True,
                    )
                )
        elif "progress_request" in request:
            await self.write(
                watch_codec.response(codec.header(self.server, self.server.current_revision), -1)
            )

    async def create(self, create: dict) -> None:
        watch_id = create.get("watch_id", 0)
        if watch_id == 0:
            while self.next_id in self.watchers:
                self.next_id += 1
            watch_id = self.next_id
            self.next_id += 1
        elif watch_id in self.watchers:
            await self.write(
                watch_codec.response(
                    codec.header(self.server, self.server.current_revision),
                    -1,
                    created=True,
                    canceled=True,
                    cancel_reason=DUPLICATE_ID,
                )
            )
            return
        watcher, start = _watcher(create, watch_id)
        self.watchers[watch_id] = watcher
        await self.write(
            watch_codec.response(
                codec.header(self.server, self.server.current_revision), watch_id, created=True
            )
        )
        self.hub.add(watcher, start)
        task = asyncio.create_task(self.pump(watcher))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if create.get("progress_notify"):
            progress = asyncio.create_task(self.progress(watcher))
            self.tasks.add(progress)
            progress.add_done_callback(self.tasks.discard)

    async def pump(self, watcher: Watcher) -> None:
        while True:
            batch = await self.hub.next_batch(watcher)
            if not batch:
                break
            header = codec.header(self.server, watcher.batch_revision)
            events = watch_codec.events_of(self.hub, watcher, batch)
            await self.write(watch_codec.response(header, watcher.watch_id, events=events))
        if watcher.compact_revision or watcher.cancel_reason:
            header = codec.header(self.server, 0)
            await self.write(
                watch_codec.response(
                    header,
                    watcher.watch_id,
                    canceled=True,
                    compact_revision=watcher.compact_revision,
                    cancel_reason=watcher.cancel_reason,
                )
            )
            self.watchers.pop(watcher.watch_id, None)

    async def progress(self, watcher: Watcher) -> None:
        interval = self.server.config.watch_progress_notify_interval_s
        while not watcher.canceled:
            await asyncio.sleep(interval)
            if watcher.synced and not watcher.queued and not watcher.canceled:
                await self.write(
                    watch_codec.response(
                        codec.header(self.server, self.server.current_revision), watcher.watch_id
                    )
                )

    async def run(self, receive: Callable) -> None:
        text = ""
        body_done = False
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                if body_done:
                    continue
                text += message.get("body", b"").decode("utf-8", errors="replace")
                body_done = not message.get("more_body", False)
                text = await self._consume(text, body_done)
                if text is None:
                    return
        finally:
            for watcher in self.watchers.values():
                self.hub.remove(watcher)
            for task in list(self.tasks):
                task.cancel()
            if self.started:
                with contextlib.suppress(Exception):
                    await self._send(
                        {"type": "http.response.body", "body": b"", "more_body": False}
                    )

    async def _consume(self, text: str, body_done: bool) -> str | None:
        """Handle every complete request object in `text`; return what is left, or None
        when the stream failed."""
        position = 0
        while True:
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
            if position >= len(text):
                return ""
            try:
                value, position = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError:
                rest = text[position:]
                try:
                    parse_body(rest.encode())
                except GoSyntaxError as error:
                    if str(error) != "unexpected EOF" or body_done:
                        return await self._error(errors.invalid(str(error)))
                return rest
            try:
                await self.handle(value)
            except errors.EtcdError as error:
                return await self._error(error)

    async def _error(self, error: errors.EtcdError) -> str | None:
        if not self.started:
            await self.fail(error)
            return None
        return ""  # etcd drops a bad message once the stream is under way


async def serve_watch(server: EtcdServer, receive: Callable, send: Callable) -> None:
    await WatchStream(server, send).run(receive)


@router.post(
    "/v3/watch",
    tags=["Watch"],
    summary="Watch keys (a stream of newline-delimited JSON messages)",
    openapi_extra={
        "requestBody": request_body(
            "etcdserverpbWatchRequest",
            {"create_request": {"key": "Zm9v", "prev_kv": True}},
            required=None,
        ),
        "responses": {
            "200": json_response(
                'One `{"result": WatchResponse}` per line, as events happen',
                ref("etcdserverpbWatchStreamResult"),
            )
        },
    },
)
async def watch_route(request: Request) -> None:  # pragma: no cover - served by the ASGI front
    """Documented here; the ASGI front serves it (it must read and write concurrently)."""


def _query_bytes(params: dict, name: str) -> bytes | None:
    if params.get(name) is not None:
        return params[name].encode()
    encoded = params.get(name + "_b64")
    if encoded is not None:
        try:
            return decode_base64(encoded)
        except ValueError as error:
            raise errors.invalid(f"{name}_b64: {error}") from None
    return None


def sse_watcher(params: dict, last_event_id: str | None) -> tuple[Watcher, int]:
    key = _query_bytes(params, "key")
    if not key:
        raise errors.key_not_provided()
    create: dict = {"key": key, "prev_kv": params.get("prev_kv") in ("true", "1")}
    end = _query_bytes(params, "range_end")
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
    return _watcher(create, 0)


async def sse_events(server: EtcdServer, watcher: Watcher, start: int) -> AsyncIterator[dict]:
    hub = server.watch_hub
    hub.add(watcher, start)
    try:
        created = watch_codec.response(codec.header(server, server.current_revision), created=True)
        yield {"event": "created", "data": orjson.dumps(created).decode()}
        interval = server.config.sse_progress_interval_s
        while True:
            try:
                batch = await asyncio.wait_for(hub.next_batch(watcher), interval)
            except TimeoutError:
                progress = watch_codec.response(codec.header(server, server.current_revision))
                yield {"event": "progress", "data": orjson.dumps(progress).decode()}
                continue
            if not batch:
                break
            for revision, changes in batch:
                events = watch_codec.events_of(hub, watcher, [(revision, changes)])
                result = watch_codec.response(codec.header(server, revision), events=events)
                yield {"id": str(revision), "data": orjson.dumps(result).decode()}
        if watcher.compact_revision or watcher.cancel_reason:
            canceled = watch_codec.response(
                codec.header(server, 0),
                canceled=True,
                compact_revision=watcher.compact_revision,
                cancel_reason=watcher.cancel_reason,
            )
            yield {"event": "canceled", "data": orjson.dumps(canceled).decode()}
    finally:
        hub.remove(watcher)


@router.get(
    "/v3/watch/sse",
    tags=["Watch"],
    summary="Watch as server-sent events (for EventSource and curl)",
    description=(
        "Query parameters: `key` (plain text) or `key_b64` (base64); `range_end` / "
        "`range_end_b64`, or `prefix=true`, or `from_key=true`; `start_revision`; "
        "`prev_kv=true`; `filters=NOPUT,NODELETE`. Each message's `id` is its revision, so "
        "an EventSource that reconnects with `Last-Event-ID` resumes without a gap or a "
        "duplicate. `created`, `progress` (when idle) and `canceled` events frame the stream."
    ),
)
async def watch_sse(request: Request):
    from fastapi.responses import Response

    server: EtcdServer = request.app.state.server
    try:
        watcher, start = sse_watcher(
            dict(request.query_params), request.headers.get("last-event-id")
        )
    except errors.EtcdError as error:
        body = orjson.dumps({"error": error.message, "message": error.message, "code": error.code})
        return Response(body, status_code=error.http_status, media_type="application/json")
    return EventSourceResponse(sse_events(server, watcher, start), ping=15)
