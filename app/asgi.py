"""The ASGI front: etcd's HTTP conventions around the FastAPI app, and a lean fast path.

Every response gets etcd's CORS headers (for every origin, or under a --cors list only
for the listed origin it came from) and a Server header; OPTIONS is answered 200
before routing, as etcd does; /v3beta/ is rewritten to /v3/. The unary RPCs and the
gateway streams (watch, keepalive) can be served straight from here (no router, no
middleware stack: FastAPI costs ~100 µs a request) by the same dispatcher and stream
handlers the FastAPI routes call, so both paths answer identically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from keyraft.app.codec import encode_error
from keyraft.app.config import KEYRAFT_VERSION
from keyraft.app.errors import CANCELED, EtcdError
from keyraft.app.gateway import RPCS, Rpc, body_cap, canonical_path, dispatch, oversized_body
from keyraft.app.routes.election import serve_observe
from keyraft.app.routes.lease import serve_keepalive
from keyraft.app.routes.snapshot import serve_snapshot
from keyraft.app.routes.watch import serve_watch
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.streams import (
    BodyTooLarge,
    StreamHandler,
    read_body,
    serve_stream,
    until_disconnected,
)
from keyraft.app.websocket import serve_websocket

CORS_HEADERS = [
    (b"access-control-allow-headers", b"accept, content-type, authorization"),
    (b"access-control-allow-methods", b"POST, GET, OPTIONS, PUT, DELETE"),
    (b"access-control-allow-origin", b"*"),
]
_CORS_NAMES = frozenset(name for name, _ in CORS_HEADERS)
SERVER_HEADER = (b"server", f"keyraft/{KEYRAFT_VERSION}".encode())
COMMON_HEADERS = [*CORS_HEADERS, SERVER_HEADER]
# A unary request's body must arrive whole this long after its headers (etcd sets no
# deadline; see app.connections for the other client limits). Canceled is gRPC's code for
# HTTP 408.
BODY_TIMEOUT_S = 30.0
BODY_TIMED_OUT = "keyraft: request body not received in time"


# The gateway streams, by path; their FastAPI routes (streams.StreamRoute) serve the same
# handlers when the fast path is off.
STREAMS: dict[str, StreamHandler] = {
    "/v3/watch": serve_watch,
    "/v3/lease/keepalive": serve_keepalive,
    "/v3/election/observe": serve_observe,
    "/v3/maintenance/snapshot": serve_snapshot,
}


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes | None, close: bool = False
) -> None:
    headers = [*COMMON_HEADERS, (b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_unary(
    server: EtcdServer,
    path: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    body_timeout_s: float,
) -> None:
    rpc = RPCS[path]
    try:
        async with asyncio.timeout(body_timeout_s):
            body = await read_body(receive, body_cap(server))
    except BodyTooLarge as error:
        status, payload = oversized_body(server, error.length)
    except TimeoutError:  # a client that stalls mid-body loses its connection
        error = EtcdError(CANCELED, BODY_TIMED_OUT)
        await send_bytes(send, error.http_status, encode_error(error), b"application/json", True)
        return
    else:
        answered, outcome = await dispatch_while_connected(server, rpc, body, scope, receive)
        if not answered:
            return  # nobody to answer
        status, payload = outcome
    await send_bytes(send, status, payload, b"application/json")


async def dispatch_while_connected(
    server: EtcdServer, rpc: Rpc, body: bytes, scope: Scope, receive: Receive
) -> tuple[bool, tuple[int, bytes]]:
    """`dispatch`; an RPC that may wait without end is canceled if its client goes away
    (answered False then)."""
    work = dispatch(server, rpc, body, scope["headers"])
    if not rpc.waits:
        return True, await work
    answered, outcome = await until_disconnected(receive, work)
    return answered, outcome or (0, b"")


def with_common_headers(send: Send) -> Send:
    """`send`, adding etcd's CORS headers and the Server header a response lacks."""

    async def send_with_headers(message: dict) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [header for header in COMMON_HEADERS if header[0] not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers


def allows_all(origins: tuple[str, ...]) -> bool:
    """etcd's --cors and --host-whitelist: empty or containing "*" allows all."""
    return not origins or "*" in origins


def with_cors(send: Send, origin: bytes | None, allowed: frozenset[bytes]) -> Send:
    """`send`, with the CORS headers etcd sends under a --cors list: the request's Origin
    echoed when listed, no CORS header at all otherwise (nor without an Origin)."""
    headers = []
    if origin is not None and origin in allowed:
        headers = [*CORS_HEADERS[:-1], (b"access-control-allow-origin", origin)]

    async def send_with_cors(message: dict) -> None:
        if message["type"] == "http.response.start":
            kept = [item for item in message.get("headers", []) if item[0] not in _CORS_NAMES]
            message = {**message, "headers": [*kept, *headers]}
        await send(message)

    return send_with_cors


def request_origin(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value
    return None


def request_hostname(scope: Scope) -> bytes:
    """The Host header without its port, as Go's net.SplitHostPort leaves it."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            if value.startswith(b"["):
                return value[1:].partition(b"]")[0]
            return value.rpartition(b":")[0] if value.count(b":") == 1 else value
    return b""


def misdirected(host: bytes) -> bytes:
    """etcd's 421 body for a Host not in --host-whitelist, word for word."""
    return (
        b"\netcd received your request, but the Host header was unrecognized.\n\n"
        b"To fix this, choose one of the following options:\n"
        b"- Enable TLS, then any HTTPS request will be allowed.\n"
        b"- Add the hostname you want to use to the whitelist in settings.\n"
        b'  - e.g. etcd --host-whitelist "' + host + b'"\n\n'
        b'This requirement has been added to help prevent "DNS Rebinding" attacks '
        b"(CVE-2018-5702).\n\n"
    )


# etcd 3.4's gateway, with --client-cert-auth and auth enabled, refuses a /v3/ request
# whose client certificate has a common name (it cannot authenticate as that user).
COMMON_NAME_IGNORED = (
    b"CommonName of client sending a request against gateway will be ignored and not used "
    b"as expected\n"
)


def common_name(scope: Scope) -> str:
    return scope.get("extensions", {}).get("tls", {}).get("client_cert_common_name", "")


async def send_text(send: Send, status: int, body: bytes) -> None:
    """A plain-text answer as Go's http.Error writes it (no CORS headers)."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class KeyraftFront:
    def __init__(
        self,
        server: EtcdServer,
        app: Callable,
        fast_path: bool = True,
        body_timeout_s: float = BODY_TIMEOUT_S,
        cors: tuple[str, ...] = ("*",),
        host_whitelist: tuple[str, ...] = ("*",),
        client_cert_auth: bool = False,
    ) -> None:
        self.server = server
        self.client_cert_auth = client_cert_auth
        self.app = app
        self.fast_path = fast_path
        self.body_timeout_s = body_timeout_s
        # None: every origin (the static headers, no per-request work).
        self.cors: frozenset[bytes] | None = (
            None if allows_all(cors) else frozenset(origin.encode() for origin in cors)
        )
        # etcd's --host-whitelist: checked on plain http only (any https request passes).
        self.hosts: frozenset[bytes] | None = (
            None
            if allows_all(host_whitelist)
            else frozenset(host.encode() for host in host_whitelist)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None and scope.get("scheme") == "http":
            host = request_hostname(scope)
            if host not in self.hosts:
                await send_text(send, 421, misdirected(host))
                return
        path = canonical_path(scope["path"])
        if (
            self.client_cert_auth
            and self.server.state.auth.enabled
            and path.startswith("/v3/")
            and common_name(scope)
        ):
            await send_text(send, 400, COMMON_NAME_IGNORED)
            return
        if self.cors is not None:
            send = with_cors(send, request_origin(scope), self.cors)
        method = scope["method"]
        if method == "OPTIONS":
            await send_bytes(send, 200, b"", None)
            return
        if self.fast_path and method == "POST":
            if path in RPCS:
                await serve_unary(self.server, path, scope, receive, send, self.body_timeout_s)
                return
            stream = STREAMS.get(path)
            if stream is not None:
                await serve_stream(stream, self.server, scope, receive, with_common_headers(send))
                return
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, with_common_headers(send))

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A gateway path over WebSocket (`keyraft.app.websocket`); others are refused.

        CORS does not bind WebSockets (any page may open one), and etcd's proxy accepts
        every origin; keyraft does too unless --cors lists origins, and then refuses a
        browser's handshake from any other. --host-whitelist applies as to plain http."""
        origin = request_origin(scope)
        if (
            self.hosts is not None
            and scope.get("scheme") == "ws"
            and request_hostname(scope) not in self.hosts
        ) or (self.cors is not None and origin is not None and origin not in self.cors):
            await send({"type": "websocket.close", "code": 1008})
            return
        path = canonical_path(scope["path"])
        server = self.server
        stream = STREAMS.get(path)
        if stream is not None:

            async def handler(http: Scope, receive: Receive, send: Send) -> None:
                await serve_stream(stream, server, http, receive, send)

        elif path in RPCS:

            async def handler(http: Scope, receive: Receive, send: Send) -> None:
                await serve_unary(server, path, http, receive, send, self.body_timeout_s)

        else:
            await self.app(scope, receive, send)  # refused at the handshake
            return
        await serve_websocket(scope, receive, send, handler, unary=stream is None)
