"""The peer port's receiving side: who may talk to this member's Raft, and how much.

The peer port is reachable by anyone who can reach the member, and the cluster id it
checks first is in every client response, so each stream is judged before its messages
reach the core:

- the stream's declared sender (`x-keyraft-from`) must be a member of the current
  configuration, and not this member; a stranger's stream is refused before its body is
  read (403), a removed member's with 410 Gone, which tells it to stop (as etcd's
  peers tell a removed member);
- every message must name that sender as its `sender` (a frame claiming another is a
  forgery: the stream ends) and must be addressed to this member (else it is dropped);
- a frame must decode and pass the codec's range checks (`raft.codec.check_message`),
  and be at most `max_frame_bytes` long; a snapshot, on its own endpoint, at most
  `max_snapshot_bytes`. The receiver buffers no more than one frame (or snapshot).

A stream that breaks a rule is answered with a status saying why (the sender logs it),
`Connection: close`, and one warning here; nothing is raised into the driver. A member
id is not a secret, so this keeps strangers and broken peers out, not an impostor who
knows the ids: that takes the peer TLS of the security work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container

from ..codec import decode_message
from ..errors import CodecError
from ..messages import Message, MessageType
from .peer_transport import CLUSTER_HEADER, FRAME, FROM_HEADER

log = logging.getLogger("keyraft.transport")

FRAME_OVERHEAD_BYTES = 128 * 1024
"""What a frame may carry beyond `--max-request-bytes`. An append holds at most
`max_size_per_msg` (set to the max request bytes) of entries, or a single larger entry;
the server refuses a proposal whose log entry passes the max request bytes by more than
`PROPOSAL_ENCODING_MARGIN` (64 KiB: msgpack's field framing of a request that passed
etcd's protobuf size check). Add 21 bytes per entry (counted in `max_size_per_msg`), the
message header (62 bytes) and a context (at most 4 KiB): 128 KiB leaves room to spare."""
SNAPSHOT_OVERHEAD_BYTES = 64 * 1024 * 1024
REMOVED_MESSAGE = "the member has been permanently removed from the cluster"
STREAM_PATH = "/raft/stream"
SNAPSHOT_PATH = "/raft/snapshot"


def max_frame_bytes(max_request_bytes: int) -> int:
    """The largest stream frame a member accepts; see FRAME_OVERHEAD_BYTES."""
    return max_request_bytes + FRAME_OVERHEAD_BYTES


def max_snapshot_bytes(quota_backend_bytes: int) -> int:
    """The largest snapshot a member accepts. Writes stop once the store's (compressed)
    tables pass the quota; a snapshot holds the same rows uncompressed, so allow twice
    the quota. Both ends hold a snapshot in memory, so this is also what one costs."""
    return 2 * quota_backend_bytes + SNAPSHOT_OVERHEAD_BYTES


class Refused(Exception):
    """Why a stream or a snapshot is turned away, with the status that says so."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class PeerReceiver:
    """The ASGI app of the peer listener: checked frames become messages for `step`.

    `members` answers the ids of the current configuration (voters and learners);
    it is asked again for every chunk of a stream, so a removed member's stream ends.
    """

    def __init__(
        self,
        cluster_id: int,
        local_id: int,
        members: Callable[[], Container[int]],
        step: Callable[[Message], None],
        *,
        max_frame_bytes: int,
        max_snapshot_bytes: int,
        restorable: Callable[[bytes], bool] = lambda data: True,
        removed: Callable[[], Container[int]] = lambda: (),
    ) -> None:
        """`restorable` says whether the state machine could restore a snapshot's data:
        one it could not would fail its install, which stops the member. `removed`
        answers the ids of members removed from the cluster."""
        self.cluster_id = cluster_id
        self.local_id = local_id
        self.members = members
        self.step = step
        self.max_frame_bytes = max_frame_bytes
        self.max_snapshot_bytes = max_snapshot_bytes
        self.restorable = restorable
        self.received_bytes: dict[int, int] = {}  # by sender, read by metrics
        self.removed = removed

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        path = scope["path"]
        if headers.get(CLUSTER_HEADER) != str(self.cluster_id).encode():
            await _answer(send, 412, b"cluster ID mismatch\n")
            return
        if scope["method"] != "POST" or path not in (STREAM_PATH, SNAPSHOT_PATH):
            await _answer(send, 404, b"404 page not found\n")
            return
        try:
            sender = self._sender(headers.get(FROM_HEADER, b""))
            if path == STREAM_PATH:
                await self._stream(receive, sender)
                await _answer(send, 200, b"")
            else:
                await self._snapshot(receive, headers.get("content-length"), sender)
                await _answer(send, 204, b"")
        except Refused as refusal:
            body = warn_refused(scope.get("client"), refusal)
            await _answer(send, refusal.status, body, close=True)

    def open_stream(self, headers: dict[str, bytes]) -> StreamFrames:
        """The frames of a stream that came with `headers` (names in lower case), for a
        protocol that reads the body itself (`app.peer_stream`); raises Refused."""
        if headers.get(CLUSTER_HEADER) != str(self.cluster_id).encode():
            raise Refused(412, "cluster ID mismatch")
        return StreamFrames(self, self._sender(headers.get(FROM_HEADER, b"")))

    def refusal(self, headers: dict[str, bytes]) -> tuple[int, str] | None:
        """Why another member's request other than Raft traffic (a hashkv) is refused,
        as (status, reason), or None: the same cluster and sender checks as a stream's."""
        if headers.get(CLUSTER_HEADER) != str(self.cluster_id).encode():
            return 412, "cluster ID mismatch"
        try:
            self._sender(headers.get(FROM_HEADER, b""))
        except Refused as refused:
            return refused.status, str(refused)
        return None

    def _sender(self, declared: bytes) -> int:
        try:
            sender = int(declared)
        except ValueError:
            raise Refused(403, f"sender {declared[:40]!r} is not a member id") from None
        self.check_member(sender)
        return sender

    def check_member(self, sender: int) -> None:
        if sender in self.removed():
            raise Refused(410, REMOVED_MESSAGE)
        if sender == self.local_id or sender not in self.members():
            raise Refused(403, f"sender {sender:x} is not a member of this cluster")

    @staticmethod
    def _decode(frame: bytes) -> Message:
        try:
            return decode_message(frame)
        except CodecError as error:
            raise Refused(400, f"bad frame: {error}") from None

    def step_frame(self, frame: bytes, sender: int) -> bool:
        """Decode and step one stream frame from `sender`; False if dropped (not for us)."""
        return self._deliver(self._decode(frame), sender)

    def _deliver(self, message: Message, sender: int) -> bool:
        """Step one message from `sender`'s stream; False if dropped (not addressed to us)."""
        if message.sender != sender:
            raise Refused(400, f"a frame claims sender {message.sender:x} on {sender:x}'s stream")
        if message.to != self.local_id:
            return False
        self.step(message)
        return True

    async def _stream(self, receive: Callable, sender: int) -> None:
        frames = StreamFrames(self, sender)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            frames.feed(message.get("body", b""))
            if not message.get("more_body"):
                return

    async def _snapshot(self, receive: Callable, declared: bytes | None, sender: int) -> None:
        limit = self.max_snapshot_bytes
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise Refused(413, f"a snapshot of {declared[:40]!r} bytes (at most {limit})")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                raise Refused(413, f"a snapshot of more than {limit} bytes")
            if not message.get("more_body"):
                break
        snapshot = self._decode(bytes(body))
        del body
        if snapshot.type != MessageType.SNAPSHOT or snapshot.snapshot is None:
            raise Refused(400, f"a {snapshot.type.name} message on the snapshot endpoint")
        if snapshot.snapshot.data and not self.restorable(snapshot.snapshot.data):
            raise Refused(400, "a snapshot whose data the state machine cannot restore")
        self._deliver(snapshot, sender)


class StreamFrames:
    """One peer stream's body, cut into frames as it arrives: each is checked and
    stepped before the next is looked at; at most one frame is buffered."""

    def __init__(self, receiver: PeerReceiver, sender: int) -> None:
        self.receiver = receiver
        self.sender = sender
        self._buffer = bytearray()
        self._misaddressed = 0

    def feed(self, body: bytes) -> None:
        """Take the next piece of the body; raises Refused when the stream must end."""
        receiver, sender = self.receiver, self.sender
        receiver.check_member(sender)
        receiver.received_bytes[sender] = receiver.received_bytes.get(sender, 0) + len(body)
        buffer = self._buffer
        buffer += body
        offset = 0
        while len(buffer) - offset >= FRAME.size:
            (length,) = FRAME.unpack_from(buffer, offset)
            if length > receiver.max_frame_bytes:
                raise Refused(
                    413, f"a frame of {length} bytes (at most {receiver.max_frame_bytes})"
                )
            end = offset + FRAME.size + length
            if end > len(buffer):
                break
            if not receiver.step_frame(bytes(buffer[offset + FRAME.size : end]), sender):
                self._misaddressed += 1
                if self._misaddressed == 1:
                    log.warning("dropping messages from %x addressed to another member", sender)
            offset = end
        del buffer[:offset]


def warn_refused(client: tuple | None, refusal: Refused) -> bytes:
    """Log a refusal once, as every refusing path does; the answer's body."""
    log.warning("refused peer traffic from %s:%s: %s", *(client or ("?", 0))[:2], refusal)
    return f"{refusal}\n".encode()


async def _answer(send: Callable, status: int, body: bytes, close: bool = False) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if close:  # what a refused peer sends after this is not worth reading
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
