"""Client connection limits (app/connections.py) on a real member served in-process with
small limits: stalled clients are disconnected, connections over the cap are refused in
etcd's error shape, and the member keeps serving, long watches included."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import httpx
import pytest
import uvicorn
import uvloop

from keyraft.app.config import ServerConfig, validate
from keyraft.app.connections import (
    ACCEPT_BURST,
    TOO_MANY_CONNECTIONS,
    ClientLimits,
    CorkedTransport,
    guarded_protocol,
)
from keyraft.app.factory import create_app
from keyraft.app.main import client_server_config
from tests.support.servers import free_port
from tests.support.watch_client import WatchLines

SMALL = ClientLimits(header_timeout_s=1.0, body_timeout_s=1.0, idle_timeout_s=1.0)
DEADLINE_S = 15.0  # generous bound for "was disconnected", far above the 1 s limits


@contextlib.contextmanager
def member(
    tmp_path: Path, limits: ClientLimits, lean: bool = True, max_request_bytes: int = 1572864
) -> Iterator[str]:
    """A single-member keyraft served by uvicorn with `limits`, in a thread; without
    `lean`, every request goes through ASGI (app.lean off)."""
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    config = ServerConfig(
        name="c1",
        data_dir=str(tmp_path / "c1"),
        listen_client_urls=[client_url],
        advertise_client_urls=[client_url],
        listen_peer_urls=[peer_url],
        initial_advertise_peer_urls=[peer_url],
        log_level="warn",
        max_request_bytes=max_request_bytes,
    )
    validate(config)
    listener = socket.create_server(("127.0.0.1", int(client_url.rsplit(":", 1)[1])))
    servers: list[uvicorn.Server] = []

    async def serve() -> None:
        front, _server = create_app(config)
        with mock.patch("keyraft.app.main._lean", lambda front, config: front if lean else None):
            servers.append(uvicorn.Server(client_server_config(front, config, limits)))
        await servers[0].serve(sockets=[listener])

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not _answers(client_url):
            assert time.monotonic() < deadline and thread.is_alive(), "member did not start"
            time.sleep(0.05)
        yield client_url
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(30)
        listener.close()


def _answers(url: str) -> bool:
    try:
        return httpx.post(f"{url}/v3/kv/range", json={"key": "YQ=="}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.settimeout(DEADLINE_S)
    return connection


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails on timeout)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _request(path: str, body: bytes) -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
    )


@pytest.fixture
def small(tmp_path: Path) -> Iterator[str]:
    with member(tmp_path, SMALL) as url:
        yield url


def test_half_a_header_is_disconnected_after_the_header_timeout(small: str) -> None:
    connection = _connect(small)
    connection.sendall(b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-")
    assert _read_until_closed(connection) == b""  # closed, nothing answered
    silent = _connect(small)  # a connection that never sends a byte
    assert _read_until_closed(silent) == b""
    assert _answers(small)


def test_a_stalled_unary_body_is_answered_408_and_closed(small: str) -> None:
    connection = _connect(small)
    connection.sendall(_request("/v3/kv/range", b'{"key":"YQ=="}')[:-5])  # body cut short
    answer = _read_until_closed(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body) == {
        "error": "keyraft: request body not received in time",
        "message": "keyraft: request body not received in time",
        "code": 1,
    }


def test_an_idle_keep_alive_connection_is_closed(small: str) -> None:
    connection = _connect(small)
    connection.sendall(_request("/v3/kv/range", b'{"key":"YQ=="}'))
    answer = _read_until_closed(connection)  # answered, then closed once idle
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_watch_outlives_every_timeout(small: str) -> None:
    key = base64.b64encode(b"w").decode()
    watch = WatchLines(small, {"create_request": {"key": key}})
    try:
        assert len(watch.wait(1)) == 1  # created
        time.sleep(3.0)  # three times every limit: what is tested is that nothing closes
        answer = httpx.post(f"{small}/v3/kv/put", json={"key": key, "value": "dg=="}, timeout=10)
        assert answer.status_code == 200
        events = watch.wait(2)
        assert len(events) == 2 and events[1]["result"]["events"][0]["kv"]["key"] == key
    finally:
        watch.close()


_WEBSOCKET_UPGRADE = (
    b"GET /v3/watch HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


def test_connections_over_the_cap_are_refused_and_the_member_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limits = ClientLimits(header_timeout_s=30.0, max_connections=4)
    with member(tmp_path, limits) as url:
        held = [_connect(url) for _ in range(4)]
        try:
            for request in (_request("/v3/kv/range", b'{"key":"YQ=="}'), _WEBSOCKET_UPGRADE):
                extra = _connect(url)
                extra.sendall(request)
                head, _, body = _read_until_closed(extra).partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 "), request
                assert b"content-type: application/json" in head.lower()
                assert json.loads(body) == {
                    "error": TOO_MANY_CONNECTIONS,
                    "message": TOO_MANY_CONNECTIONS,
                    "code": 14,
                }
            # The refused upgrade was not handed to the WebSocket protocol half-made.
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
            held[0].sendall(_request("/v3/kv/range", b'{"key":"YQ=="}'))  # within the cap
            assert held[0].recv(65536).startswith(b"HTTP/1.1 200 ")
        finally:
            for connection in held:
                connection.close()
        deadline = time.monotonic() + DEADLINE_S
        while not _answers(url):  # the held connections' slots free up as they close
            assert time.monotonic() < deadline, "the member stopped serving"
            time.sleep(0.05)


class _RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_a_response_written_in_parts_leaves_in_one_write() -> None:
    async def scenario() -> _RecordingTransport:
        inner = _RecordingTransport()
        corked = CorkedTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(b"{}")
        assert inner.writes == []  # not before the loop's turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        corked.write(b"last")
        corked.close()  # what was written before a close still leaves, first
        assert corked.get_extra_info("peername") == "info:peername"
        return inner

    inner = asyncio.run(scenario())
    assert inner.writes[-1] == b"last" and inner.closed


async def _hello(scope: dict, receive: object, send: object) -> None:
    """The least ASGI app: every request gets 200 and "ok"."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    await send(start)  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


@pytest.mark.parametrize("listeners", [True, False], ids=["given", "none"])
def test_a_burst_of_connections_is_accepted_in_a_few_loop_turns(listeners: bool) -> None:
    """libuv accepts one connection per loop turn; a server that knows its listeners takes
    a whole burst in a few turns (without them: one connection a turn, as libuv does)."""
    burst, few = 200, 20  # a burst of over three times ACCEPT_BURST
    listener = socket.create_server(("127.0.0.1", 0), backlog=burst + 10)
    clients: list[socket.socket] = []
    most_in_a_turn = [0]  # the most connections made in one turn: a flood cannot stall it

    async def turns_to_accept() -> int:
        protocol = guarded_protocol(ClientLimits(), listeners=[listener] if listeners else ())
        config = uvicorn.Config(_hello, http=protocol, lifespan="off", log_config=None)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not server.started:
                assert time.monotonic() < deadline and not serving.done(), "server did not start"
                await asyncio.sleep(0.01)
            # The whole burst waits in the kernel's queue (the loop is busy connecting).
            for _ in range(burst):
                client = socket.create_connection(listener.getsockname())
                client.setblocking(False)
                clients.append(client)
            turns = 0
            connections = server.server_state.connections
            while len(connections) < burst and turns < 2 * burst:
                before = len(connections)
                await asyncio.sleep(0)  # one turn of the loop
                turns += 1
                most_in_a_turn[0] = max(most_in_a_turn[0], len(connections) - before)
            for client in clients:  # and every connection is served
                client.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            for client in clients:
                reply = b""
                while not reply.endswith(b"\r\n\r\nok"):
                    part = await asyncio.get_running_loop().sock_recv(client, 1024)
                    assert part, reply  # not closed before the whole answer
                    reply += part
                assert reply.startswith(b"HTTP/1.1 200")
            return turns
        finally:
            server.should_exit = True
            await serving

    try:
        turns = uvloop.run(turns_to_accept())
    finally:
        for client in clients:
            client.close()
        listener.close()
    if listeners:
        assert turns <= few
        assert most_in_a_turn[0] <= ACCEPT_BURST + 1  # libuv's own one, and the budget
    else:
        assert turns > few  # what the listeners change: libuv alone takes a turn each
