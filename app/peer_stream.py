"""Raft streams taken by the peer listener's HTTP protocol itself, without ASGI.

Through ASGI every chunk of another member's stream woke the receiving task a turn of
the event loop after it arrived, and a turn under load lasts milliseconds: a follower's
read round crosses the network four times, and a put's append and its ack twice. Here
the protocol hands each chunk to the stream's frames (`StreamFrames`) as the parser
meets it, so a message reaches Raft in the turn its bytes arrive. The checks are the
receiver's own; a stream it refuses at its headers, and every other request on the peer
port (snapshots, members, hashkv), still goes through uvicorn and the ASGI app.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from keyraft.app.lean import NO_EVENT, keeps_alive
from keyraft.raft.io.peer_receiver import (
    STREAM_PATH,
    PeerReceiver,
    Refused,
    StreamFrames,
    warn_refused,
)

_STREAM_PATH = STREAM_PATH.encode()


class StreamCycle:
    """A stream in progress, shaped like uvicorn's cycle where uvicorn looks at it
    (disconnects, pipelining, shutdown)."""

    __slots__ = ("frames", "keep_alive", "response_complete", "disconnected")
    message_event = NO_EVENT

    def __init__(self, frames: StreamFrames, keep_alive: bool) -> None:
        self.frames = frames
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False


def _answer(status: int, body: bytes, keep_alive: bool) -> bytes:
    """What the ASGI path's answer to a stream looks like on the wire."""
    close = b"" if keep_alive else b"connection: close\r\n"
    return b"%scontent-type: text/plain\r\ncontent-length: %d\r\n%s\r\n%s" % (
        STATUS_LINE[status],
        len(body),
        close,
        body,
    )


class PeerStreamProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, taking Raft streams itself (see the module)."""

    receiver: PeerReceiver  # set by `peer_stream_protocol`

    def on_headers_complete(self) -> None:
        frames = self._accepted_stream()
        if frames is None:
            super().on_headers_complete()
            return
        self.cycle = StreamCycle(frames, keeps_alive(self.parser))  # type: ignore[assignment]

    def _accepted_stream(self) -> StreamFrames | None:
        existing = self.cycle
        if existing is not None and not existing.response_complete:
            return None  # pipelined behind a request in flight: uvicorn queues it
        if self.parser.get_method() != b"POST" or self.expect_100_continue:
            return None
        if self.url.partition(b"?")[0] != _STREAM_PATH or self.parser.should_upgrade():
            return None
        headers = {name.decode("latin-1"): value for name, value in self.headers}
        try:
            return self.receiver.open_stream(headers)
        except Refused:
            return None  # the ASGI path answers it, as it always has

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, StreamCycle):
            super().on_body(body)
            return
        if cycle.response_complete:
            return  # refused: the rest is not worth reading
        try:
            cycle.frames.feed(body)
        except Refused as refusal:
            self._finish(cycle, refusal.status, warn_refused(self.client, refusal), False)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if not isinstance(cycle, StreamCycle):
            super().on_message_complete()
        elif not cycle.response_complete:
            self._finish(cycle, 200, b"", cycle.keep_alive)

    def _finish(self, cycle: StreamCycle, status: int, body: bytes, keep_alive: bool) -> None:
        self.transport.write(_answer(status, body, keep_alive))
        cycle.response_complete = True
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()

    def shutdown(self) -> None:
        """A stopping member cuts the streams to it: they never end by themselves."""
        if isinstance(self.cycle, StreamCycle) and not self.cycle.response_complete:
            self.transport.close()
            return
        super().shutdown()


def peer_stream_protocol(receiver: PeerReceiver) -> type[PeerStreamProtocol]:
    """The protocol class a peer listener's uvicorn config takes (`http=`)."""
    return type("PeerStream", (PeerStreamProtocol,), {"receiver": receiver})
