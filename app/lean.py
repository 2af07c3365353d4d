"""Unary RPCs answered by the HTTP protocol itself, without the ASGI round trip.

Through ASGI, uvicorn spends about half of a small read's CPU on each request: a scope
dict, a request-response cycle with its event, receive and send messages, every response
header checked against two regular expressions. For the hot unary RPCs (range, put,
txn, ...) none of that is needed: the protocol collects the body, calls the same
dispatcher the front's routes call (`gateway.dispatch`), and writes the whole answer in
one piece, byte for byte what the ASGI path writes. Everything else (streams, FastAPI
routes, WebSockets, RPCs that wait on their client, requests under --cors or
--host-whitelist lists, debug access logs) keeps going through uvicorn unchanged.

While a lean request is in flight the protocol's `cycle` is a `LeanCycle`, which looks
like uvicorn's own to the code that handles pipelining, disconnects and shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from keyraft.app.asgi import BODY_TIMED_OUT, COMMON_HEADERS, KeyraftFront
from keyraft.app.codec import encode_error
from keyraft.app.errors import CANCELED, EtcdError
from keyraft.app.gateway import RPCS, Rpc, body_cap, canonical_path, dispatch, oversized_body

log = logging.getLogger("keyraft")
_COMMON = b"".join(name + b": " + value + b"\r\n" for name, value in COMMON_HEADERS)
_JSON = b"content-type: application/json\r\n"


def lean_rpcs() -> dict[bytes, Rpc]:
    """The RPCs a lean protocol answers, by raw request path (/v3beta/ aliases too)."""
    found: dict[bytes, Rpc] = {}
    for path, rpc in RPCS.items():
        if rpc.waits:
            continue  # a waiting lock is canceled when its client goes: the ASGI path does that
        found[path.encode()] = rpc
        if path.startswith("/v3/"):
            found[b"/v3beta/" + path[len("/v3/") :].encode()] = rpc
    assert all(canonical_path(path.decode()) in RPCS for path in found)
    return found


class _NoEvent:
    """uvicorn sets a cycle's message event when the connection drops: nobody waits here."""

    __slots__ = ()

    def set(self) -> None:
        pass


NO_EVENT = _NoEvent()


def keeps_alive(parser: object) -> bool:
    """Whether the connection stays open after this request's answer."""
    return parser.get_http_version() != "1.0" and parser.should_keep_alive()  # type: ignore[attr-defined]


class LeanCycle:
    __slots__ = (
        "rpc",
        "headers",
        "keep_alive",
        "chunks",
        "length",
        "complete",
        "response_complete",
        "disconnected",
        "body_timer",
        "cap",
    )
    message_event = NO_EVENT

    def __init__(
        self, rpc: Rpc, headers: list[tuple[bytes, bytes]], keep_alive: bool, cap: int
    ) -> None:
        self.rpc = rpc
        self.cap = cap  # the longest body decoded (`gateway.body_cap`)
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunks: list[bytes] = []
        self.length = 0
        self.complete = False
        self.response_complete = False
        self.disconnected = False
        self.body_timer: asyncio.TimerHandle | None = None


_last_defaults: list = [None, b""]  # uvicorn's default headers seen last, and their lines


def _header_lines(defaults: list[tuple[bytes, bytes]]) -> bytes:
    """`defaults` as header lines; uvicorn replaces the list when its date header
    changes (once a second), so the lines are joined once per list."""
    if _last_defaults[0] is not defaults:
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
        _last_defaults[:] = [defaults, lines]
    return _last_defaults[1]


def response_bytes(
    status: int, body: bytes, defaults: list[tuple[bytes, bytes]], keep_alive: bool
) -> bytes:
    """What uvicorn writes for the front's `send_bytes(status, body, JSON)`."""
    parts = [STATUS_LINE[status], _header_lines(defaults), _COMMON]
    parts += [b"content-length: %d\r\n" % len(body), _JSON]
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += [b"\r\n", body]
    return b"".join(parts)


class LeanUnary(HttpToolsProtocol):
    """uvicorn's httptools protocol answering the lean RPCs itself (see the module)."""

    lean_front: KeyraftFront | None = None  # set by `guarded_protocol` when allowed
    lean_paths: dict[bytes, Rpc] = {}

    def lean_allowed(self) -> bool:
        """Hook: False for a connection the lean path must not serve."""
        return True

    def on_message_begin(self) -> None:
        """uvicorn's, leaving out the ASGI scope (a dict and a copy of the app state a
        request): built in `on_headers_complete` for a request that goes through ASGI."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = None  # type: ignore[assignment]

    def build_scope(self) -> None:
        """uvicorn's scope for this request, its URL and headers as parsed so far."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        rpc = self._lean_rpc()
        if rpc is None:
            self.build_scope()
            super().on_headers_complete()
            return
        keep_alive = keeps_alive(self.parser)
        cap = body_cap(self.lean_front.server)  # type: ignore[union-attr]
        self.cycle = LeanCycle(rpc, self.headers, keep_alive, cap)  # type: ignore[assignment]
        if self.expect_100_continue:  # uvicorn answers it when the app reads: at once here
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _lean_rpc(self) -> Rpc | None:
        if self.lean_front is None or not self.lean_allowed():
            return None
        existing = self.cycle
        if existing is not None and not existing.response_complete:
            return None  # pipelined behind a request in flight: uvicorn queues it
        if self.parser.get_method() != b"POST" or self.parser.should_upgrade():
            return None
        return self.lean_paths.get(self.url.partition(b"?")[0])

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, LeanCycle):
            super().on_body(body)
            return
        cycle.length += len(body)
        if cycle.length <= cycle.cap:
            cycle.chunks.append(body)
        else:
            cycle.chunks.clear()  # refused unread, as the ASGI path does

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if not isinstance(cycle, LeanCycle):
            super().on_message_complete()
            return
        cycle.complete = True
        if cycle.body_timer is not None:
            cycle.body_timer.cancel()
            cycle.body_timer = None
        task = self.loop.create_task(self._answer(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if isinstance(cycle, LeanCycle) and not cycle.complete and cycle.body_timer is None:
            # The body did not come whole with the headers: it has a deadline.
            cycle.body_timer = self.loop.call_later(
                self.lean_front.body_timeout_s,  # type: ignore[union-attr]
                self._body_late,
                cycle,
            )

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        if isinstance(cycle, LeanCycle) and cycle.body_timer is not None:
            cycle.body_timer.cancel()
        super().connection_lost(exc)

    def _body_late(self, cycle: LeanCycle) -> None:
        """A client that stalls mid-body is answered 408 and loses its connection."""
        cycle.body_timer = None
        if cycle.complete or self.transport.is_closing():
            return
        error = EtcdError(CANCELED, BODY_TIMED_OUT)
        self._respond(cycle, error.http_status, encode_error(error), keep_alive=False)

    async def _answer(self, cycle: LeanCycle) -> None:
        server = self.lean_front.server  # type: ignore[union-attr]
        try:
            if cycle.length > cycle.cap:
                status, payload = oversized_body(server, cycle.length)
            else:
                body = cycle.chunks[0] if len(cycle.chunks) == 1 else b"".join(cycle.chunks)
                status, payload = await dispatch(server, cycle.rpc, body, cycle.headers)
        except Exception:  # dispatch answers every failure; this is a bug: say so, end cleanly
            log.exception("answering %s", cycle.rpc.path)
            cycle.response_complete = True
            self.transport.close()
            return
        if not cycle.disconnected:
            self._respond(cycle, status, payload, cycle.keep_alive)

    def write_response(self, data: bytes) -> None:
        """Hook: write a whole answer (a corking transport need not wait for more)."""
        self.transport.write(data)

    def _respond(self, cycle: LeanCycle, status: int, payload: bytes, keep_alive: bool) -> None:
        defaults = self.server_state.default_headers
        self.write_response(response_bytes(status, payload, defaults, keep_alive))
        cycle.response_complete = True
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()
