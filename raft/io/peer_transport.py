"""Raft messages between members over HTTP, on the peer port.

Each member keeps one long-lived streaming POST to each peer (`/raft/stream`), whose
chunked body carries length-prefixed frames (4-byte little-endian length + the core's
message encoding); everything queued for a peer while the previous chunk was written
goes out as one chunk, so messages are batched and pipelined, never stop-and-wait.
Snapshots, which can be large, travel alone on `/raft/snapshot`. Every connection names
the cluster it belongs to and its sender; the receiving side (`peer_receiver`) checks
both, and every frame, before anything reaches Raft.

Sending never blocks the caller: each peer has a bounded queue, and a full queue or a
broken connection drops messages and reports the peer unreachable. Raft retransmits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx

from ..codec import encode_message
from ..messages import Message, MessageType

log = logging.getLogger("keyraft.transport")

FRAME = struct.Struct("<I")
QUEUE_LIMIT = 4096
RECONNECT_DELAY_S = 0.1
CONNECT_TIMEOUT_S = 1.0
WRITE_TIMEOUT_S = 5.0  # a peer that takes no bytes for this long is treated as gone
WRITE_BUFFER_LIMIT = 4 * 1024 * 1024
CLUSTER_HEADER = "x-keyraft-cluster-id"
FROM_HEADER = "x-keyraft-from"


class _Peer:
    def __init__(self, transport: PeerTransport, peer_id: int, url: str) -> None:
        self.transport = transport
        self.peer_id = peer_id
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.host = parts.hostname or "127.0.0.1"
        https = parts.scheme == "https"
        try:
            port = parts.port
        except ValueError:  # a member's URLs are whatever an update gave: never fatal
            port = None
        self.port = port or (443 if https else 80)
        # An https peer gets the transport's context (the default one if none was given).
        self.tls: ssl.SSLContext | bool | None = (transport.ssl_context or True) if https else None
        self.queue: list[bytes] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.connected = False
        self.writer: asyncio.StreamWriter | None = None  # the stream, once its head is sent
        self.draining = False  # the pump waits for the stream's buffer to empty
        self.sent_bytes = 0  # read by metrics (etcd_network_peer_sent_bytes_total)
        self.connected_at: float | None = None  # loop time the current stream began

    def enqueue(self, frame: bytes) -> bool:
        """Queue `frame`; `flush` sends it. False if the queue is full."""
        if len(self.queue) >= QUEUE_LIMIT:
            return False
        self.queue.append(frame)
        return True

    def flush(self) -> None:
        """Write what is queued now, if the stream is up and its buffer has room; else
        leave it to the pump. Waking the pump cost a turn of the event loop per send, and
        a turn under load lasts milliseconds: a read round, which crosses the network
        four times, took ~12 ms on a busy follower."""
        if self.writer is None or self.draining:
            self.ready.set()
            return
        try:
            self._write_queued(self.writer)
            full = self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
        except (OSError, RuntimeError) as error:  # the stream broke: its task ends it
            log.debug("writing to peer %x: %s", self.peer_id, error)
            self.writer = None
            return
        if full:
            self.ready.set()  # the pump waits for the buffer to drain

    def _write_queued(self, writer: asyncio.StreamWriter) -> None:
        """Everything queued since the last write goes out as one chunk."""
        if not self.queue:
            return
        frames, self.queue = self.queue, []
        data = b"".join(frames)
        self.sent_bytes += len(data)
        writer.write(b"%x\r\n%b\r\n" % (len(data), data))

    async def run(self) -> None:
        while True:
            try:
                await self._stream_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # connection refused, reset, timeout
                if self.connected:
                    log.info("lost stream to peer %x: %s", self.peer_id, error)
            self.connected = False
            self.connected_at = None
            self.queue.clear()
            self.transport.report_unreachable(self.peer_id)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _stream_once(self) -> None:
        """One streaming POST, written straight to the socket (an HTTP client library
        cost the leader ~8% of its CPU in per-chunk layers). The receiver answers only
        to refuse the stream or when it ends, so any answer or EOF ends this one."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that arrives as
        # the connect completes, and the peer task then outlived `stop` (a removed member
        # that kept reconnecting never exited).
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        answer = asyncio.create_task(reader.readline())
        pump = asyncio.create_task(self._pump(writer))
        try:
            writer.write(self._request_head())
            self.writer = writer
            self.connected = True
            self.connected_at = asyncio.get_running_loop().time()
            done, _ = await asyncio.wait({answer, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                pump.result()  # raises what broke the writing
            status = answer.result()
            if status.startswith(b"HTTP/1.1 410"):
                self.transport.on_removed()  # this member was removed from the cluster
            elif status and not status.startswith(b"HTTP/1.1 200"):
                log.warning("peer %x refused the stream: %s", self.peer_id, status.decode().strip())
        finally:
            self.writer = None
            for task in (answer, pump):
                task.cancel()
            writer.close()

    def _request_head(self) -> bytes:
        return (
            f"POST /raft/stream HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"{CLUSTER_HEADER}: {self.transport.cluster_id}\r\n"
            f"{FROM_HEADER}: {self.transport.local_id}\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()

    async def _pump(self, writer: asyncio.StreamWriter) -> None:
        """Writes what `flush` could not: what was queued before the stream was up, and
        everything while the stream's buffer is over its limit."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            self._write_queued(writer)
            if writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
                self.draining = True
                try:
                    async with asyncio.timeout(WRITE_TIMEOUT_S):
                        await writer.drain()
                finally:
                    self.draining = False
                self.ready.set()  # what was queued meanwhile


class PeerTransport:
    def __init__(
        self,
        local_id: int,
        cluster_id: int,
        peers: dict[int, str],
        report_unreachable: Callable[[int], None],
        report_snapshot: Callable[[int, bool], None],
        ssl_context: ssl.SSLContext | None = None,
        on_removed: Callable[[], None] = lambda: None,
    ) -> None:
        """`ssl_context` serves the https peer URLs: the CA to verify peers with and the
        certificate to show them (built by the server, which knows the flags).
        `on_removed` is called when a peer answers that this member was removed."""
        self.on_removed = on_removed
        self.local_id = local_id
        self.ssl_context = ssl_context
        self.cluster_id = cluster_id
        self.report_unreachable = report_unreachable
        self.report_snapshot = report_snapshot
        timeout = httpx.Timeout(connect=1.0, read=None, write=5.0, pool=1.0)
        self.client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=64),
            verify=ssl_context or True,
        )
        self._peers: dict[int, _Peer] = {}
        self._snapshot_tasks: set[asyncio.Task] = set()
        self._started = False
        self.set_peers(peers)

    def sent_bytes(self) -> dict[int, int]:
        """Bytes of frames streamed to each peer so far."""
        return {peer_id: peer.sent_bytes for peer_id, peer in self._peers.items()}

    def start(self) -> None:
        self._started = True
        for peer in self._peers.values():
            self._run(peer)

    def _run(self, peer: _Peer) -> None:
        peer.task = asyncio.create_task(peer.run(), name=f"peer-{peer.peer_id:x}")

    def set_peers(self, peers: dict[int, str]) -> None:
        """Follow the membership: streams to new peers start, streams to removed ones
        (or to a peer whose URL changed) end."""
        for peer_id, peer in list(self._peers.items()):
            if peers.get(peer_id, "").rstrip("/") != peer.url:
                del self._peers[peer_id]
                if peer.task is not None:
                    peer.task.cancel()
        for peer_id, url in peers.items():
            if peer_id not in self._peers and peer_id != self.local_id:
                peer = self._peers[peer_id] = _Peer(self, peer_id, url)
                if self._started:
                    self._run(peer)

    def connected_for(self, peer_id: int) -> float | None:
        """Seconds the stream to `peer_id` has been up (None: not connected)."""
        peer = self._peers.get(peer_id)
        if peer is None or peer.connected_at is None:
            return None
        return asyncio.get_running_loop().time() - peer.connected_at

    async def stop(self) -> None:
        tasks = [peer.task for peer in self._peers.values() if peer.task is not None]
        tasks += list(self._snapshot_tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.aclose()

    def send(self, messages: list[Message]) -> None:
        touched: dict[int, _Peer] = {}
        for message in messages:
            peer = self._peers.get(message.to)
            if peer is None:
                continue
            if message.type == MessageType.SNAPSHOT:
                task = asyncio.create_task(self._send_snapshot(peer, message))
                self._snapshot_tasks.add(task)
                task.add_done_callback(self._snapshot_tasks.discard)
                continue
            data = encode_message(message)
            if peer.enqueue(FRAME.pack(len(data)) + data):
                touched[peer.peer_id] = peer
            else:
                self.report_unreachable(peer.peer_id)
        for peer in touched.values():
            peer.flush()

    async def _send_snapshot(self, peer: _Peer, message: Message) -> None:
        headers = {CLUSTER_HEADER: str(self.cluster_id), FROM_HEADER: str(self.local_id)}
        ok = False
        try:
            response = await self.client.post(
                peer.url + "/raft/snapshot",
                content=_chunks(encode_message(message)),
                headers=headers,
                timeout=httpx.Timeout(60.0),
            )
            ok = response.status_code == 204
        except httpx.HTTPError as error:
            log.warning("sending a snapshot to %x failed: %s", peer.peer_id, error)
        self.report_snapshot(peer.peer_id, ok)


SNAPSHOT_CHUNK_BYTES = 256 * 1024


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    """Stream a snapshot in pieces rather than one enormous write."""
    view = memoryview(data)
    for start in range(0, len(data), SNAPSHOT_CHUNK_BYTES):
        yield bytes(view[start : start + SNAPSHOT_CHUNK_BYTES])
