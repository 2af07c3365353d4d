"""Client connections: timeouts and a cap, so that no client holds a member's resources
by connecting and going quiet, or by opening connections without end.

uvicorn closes only a keep-alive connection left idle after a response; a connection
that never sends a request, or sends half a header and stops, stays open, and nothing
caps how many are open. etcd (Go's http.Server, no timeouts set) has neither, so none of
this has an etcd flag; keyraft's limits are `ClientLimits`' defaults:

- headers: a request's headers must arrive whole within `header_timeout_s` of the
  connection opening or of the first bytes after the previous response;
- body: a unary request's body must arrive whole within `body_timeout_s` of its
  headers (the front enforces it while reading: `asgi.read_body`). Stream bodies (watch,
  lease keepalive) are open-ended by design and have no such deadline;
- idle: a keep-alive connection with no request for `idle_timeout_s` is closed
  (uvicorn's keep-alive timeout);
- a connection opened while `max_connections` are open gets, for its request, a 503 in
  etcd's error shape (Unavailable, which clients retry) and is closed; the others keep
  being served;
- TCP keepalive on every connection (as Go's server sets it), so a client that vanished
  during a long watch is noticed;
- at shutdown, idle TLS connections are dropped at once (see `shutdown`);
- a burst of new connections is taken from the kernel's queue at once (see
  `_accept_waiting`), not one per turn of a loop that may be busy for tens of ms.

It also puts a verified client certificate's common name in each request's scope
(`scope["extensions"]["tls"]["client_cert_common_name"]`): etcd's gateway refuses requests
carrying one while auth is on (see `asgi.KeyraftFront`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keyraft.app import codec, errors
from keyraft.app.asgi import BODY_TIMEOUT_S, COMMON_HEADERS, SERVER_HEADER, KeyraftFront
from keyraft.app.lean import LeanUnary, lean_rpcs

TOO_MANY_CONNECTIONS = "keyraft: too many client connections"
ACCEPT_BURST = 64  # connections taken from the kernel's queue per turn of the loop
log = logging.getLogger("keyraft")


def default_max_connections() -> int:
    """Half the open-file limit (the rest is for RocksDB, the WAL, peers), at most 10,000."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(10_000, soft // 2))


@dataclass(frozen=True, slots=True)
class ClientLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = BODY_TIMEOUT_S
    idle_timeout_s: float = 30.0
    max_connections: int = field(default_factory=default_max_connections)


def refusal(cors: bool = True) -> bytes:
    """The whole HTTP answer to a connection over the cap; without CORS headers when
    --cors lists origins (the request's Origin is not looked at here)."""
    body = codec.encode_error(errors.EtcdError(errors.UNAVAILABLE, TOO_MANY_CONNECTIONS))
    headers = [
        *(COMMON_HEADERS if cors else [SERVER_HEADER]),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    lines = [b"HTTP/1.1 503 Service Unavailable"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _keep_alive(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
    except OSError:  # not a TCP socket (tests may hand in others): nothing to keep alive
        pass


class CorkedTransport:
    """A transport whose writes in one turn of the event loop leave as one: uvicorn writes
    a response's headers and its body separately, which cost two send() calls and two
    TCP segments per response (~10% of a small read's CPU, measured with py-spy)."""

    __slots__ = ("_transport", "_loop", "_pending", "is_closing")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self.is_closing = transport.is_closing  # asked several times a request

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def write_now(self, data: bytes) -> None:
        """Write `data` (after anything pending) at once: a whole response."""
        if self._pending is not None:
            self._pending.append(data)
            self.flush()
        elif not self._transport.is_closing():
            self._transport.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def client_common_name(transport: asyncio.BaseTransport) -> str:
    """The common name of the certificate a TLS client presented and we verified; ""."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return ""
    certificate = ssl_object.getpeercert() or {}
    for attributes in certificate.get("subject", ()):
        for name, value in attributes:
            if name == "commonName":
                return value
    return ""


def guarded_protocol(
    limits: ClientLimits,
    cors: bool = True,
    lean_front: KeyraftFront | None = None,
    listeners: Sequence[socket.socket] = (),
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with keyraft's header timeout, cap and keepalive;
    `cors`: every origin is allowed (the refusal carries etcd's CORS headers). With
    `lean_front`, the hot unary RPCs are answered without ASGI (see `app.lean`).
    `listeners`: the server's listening sockets, whose waiting connections each new
    connection helps accept."""
    refused_answer = refusal(cors)
    paths, front = lean_rpcs(), lean_front

    class GuardedProtocol(LeanUnary):
        lean_paths = paths
        lean_front = front
        # When the connection is closed unless it progresses: its request's headers are
        # due (`_header_deadline`), or it has been idle since its last response.
        _deadline: float | None = None
        _header_deadline = True
        _awaiting_headers = True
        _refused = False
        _common_name = ""

        def lean_allowed(self) -> bool:
            return not self._common_name  # the front checks a certificate's name

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = CorkedTransport(transport, self.loop)  # type: ignore[assignment]
            _keep_alive(transport)
            self._common_name = client_common_name(transport)
            self._refused = len(self.connections) > limits.max_connections
            self._deadline = self.loop.time() + limits.header_timeout_s
            _sweep_from(self)
            if listeners:
                _accept_waiting(self)

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers and not self._header_deadline:
                self._deadline = self.loop.time() + limits.header_timeout_s
                self._header_deadline = True
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._deadline = None
            if self._refused:
                if not self.transport.is_closing():
                    self.transport.write(refused_answer)
                    self.transport.close()
                return
            super().on_headers_complete()

        def build_scope(self) -> None:
            super().build_scope()
            if self._common_name:
                extensions = self.scope.setdefault("extensions", {})
                extensions["tls"] = {"client_cert_common_name": self._common_name}

        def write_response(self, data: bytes) -> None:
            self.transport.write_now(data)  # type: ignore[attr-defined]

        # A refused connection's request is answered and closed at its headers: the
        # rest of what was already read of it is dropped.
        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            # A refused upgrade was answered at its headers, with no scope to upgrade.
            if not self._refused:
                super().handle_websocket_upgrade()

        def shutdown(self) -> None:
            """Shutting down: an idle TLS connection is dropped, not closed, because a
            close waits for the client's close_notify, which a client's idle pooled
            connection (a follower's lease forwarding) never sends: the member's stop
            hung until asyncio's 30 s TLS shutdown timeout."""
            idle = self.cycle is None or self.cycle.response_complete
            if idle and self.transport.get_extra_info("sslcontext") is not None:
                self.transport.abort()
            else:
                super().shutdown()

        def on_response_complete(self) -> None:
            """uvicorn's, without its keep-alive timer (a timer armed and canceled per
            request): the sweep closes a connection idle past its deadline."""
            self._awaiting_headers = True  # the next request's headers, when bytes come
            self._header_deadline = False
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
            else:
                self._deadline = self.loop.time() + limits.idle_timeout_s

    accepting: set[asyncio.Task] = set()
    turn = {"left": 0, "counting": False}  # accepts left in this turn of the loop

    def _new_turn() -> None:
        turn["counting"] = False

    def _accept_waiting(protocol: GuardedProtocol) -> None:
        """Accept connections waiting in the listeners' queues, up to ACCEPT_BURST a turn
        of the loop. libuv accepts one connection per turn (since 1.45, to spare the
        common case an accept() that fails); under load a turn lasts tens of ms, and a
        burst of clients (1,024 connecting at once, or every client reconnecting after a
        leader change) waited seconds to be accepted: measured, 540 waiting connections
        taken at ~35 a second while the first 500 were served. Each connection accepted
        here does the same when it is made, so a burst drains in a few turns; the budget
        a turn keeps a flood from stalling the loop (and Raft's heartbeats on it)."""
        loop, tls = protocol.loop, protocol.config.ssl
        if not turn["counting"]:
            turn["counting"], turn["left"] = True, ACCEPT_BURST
            loop.call_soon(_new_turn)
        for listener in listeners:
            while turn["left"] > 0:
                if listener.fileno() == -1:
                    return  # closed: the server is stopping
                try:
                    connection, _address = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break  # nothing more waiting
                except OSError as error:  # out of descriptors: libuv's own accept copes
                    log.debug("accepting a client connection: %s", error)
                    return
                turn["left"] -= 1
                connection.setblocking(False)
                task = loop.create_task(
                    loop.connect_accepted_socket(
                        lambda: GuardedProtocol(
                            protocol.config, protocol.server_state, protocol.app_state, loop
                        ),
                        connection,
                        ssl=tls,
                    )
                )
                accepting.add(task)
                task.add_done_callback(_accepted)

    def _accepted(task: asyncio.Task) -> None:
        accepting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("an accepted client connection failed: %s", task.exception())

    sweeping: set[asyncio.AbstractEventLoop] = set()
    every_s = min(1.0, limits.header_timeout_s / 4, limits.idle_timeout_s / 4)

    def _sweep_from(protocol: GuardedProtocol) -> None:
        """Start the sweep of this server's connections on its loop, once."""
        if protocol.loop not in sweeping:
            sweeping.add(protocol.loop)
            protocol.loop.call_later(every_s, _sweep, protocol.loop, protocol.connections)

    def _sweep(loop: asyncio.AbstractEventLoop, connections: set) -> None:
        """Close the connections past their deadline: headers not whole in time, or idle
        too long after a response. One timer a server, not two a request."""
        now = loop.time()
        for protocol in list(connections):
            deadline = getattr(protocol, "_deadline", None)
            if deadline is not None and now >= deadline and not protocol.transport.is_closing():
                protocol.transport.close()
        if connections:
            loop.call_later(every_s, _sweep, loop, connections)
        else:
            sweeping.discard(loop)

    return GuardedProtocol
