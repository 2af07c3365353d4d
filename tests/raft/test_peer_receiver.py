"""The peer receiver's rules, driven as an ASGI app (no sockets): who may send, what a
frame may claim, how large it may be; a broken rule ends the stream with a status that
says why, and never reaches `step`."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.raft.codec import encode_message
from keyraft.raft.io.peer_receiver import PeerReceiver
from keyraft.raft.io.peer_transport import CLUSTER_HEADER, FRAME, FROM_HEADER
from keyraft.raft.messages import ConfState, Entry, Message, MessageType, Snapshot

CLUSTER = 7
LOCAL, PEER, STRANGER = 1, 2, 99
MAX_FRAME = 4096
MAX_SNAPSHOT = 64 * 1024


class Call:
    """One request to the receiver: what it answered, and how much of the body it read."""

    def __init__(self, status: int, headers: dict[bytes, bytes], chunks_read: int) -> None:
        self.status = status
        self.headers = headers
        self.chunks_read = chunks_read


def make_receiver(stepped: list[Message], members: set[int] | None = None) -> PeerReceiver:
    return PeerReceiver(
        CLUSTER,
        LOCAL,
        lambda: members if members is not None else {LOCAL, PEER},
        stepped.append,
        max_frame_bytes=MAX_FRAME,
        max_snapshot_bytes=MAX_SNAPSHOT,
    )


def call(
    receiver: PeerReceiver,
    chunks: list[bytes],
    *,
    sender: str = str(PEER),
    path: str = "/raft/stream",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> Call:
    headers = [
        (CLUSTER_HEADER.encode(), str(CLUSTER).encode()),
        (FROM_HEADER.encode(), sender.encode()),
    ]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers + (extra or [])}
    pending = list(chunks)
    answer: dict = {}
    read = 0

    async def receive() -> dict:
        nonlocal read
        if not pending:
            return {"type": "http.disconnect"}
        read += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message["headers"])

    asyncio.run(receiver(scope, receive, send))
    return Call(answer["status"], answer["headers"], read)


def frame(message: Message) -> bytes:
    data = encode_message(message)
    return FRAME.pack(len(data)) + data


def heartbeat(sender: int = PEER, to: int = LOCAL, term: int = 2) -> Message:
    return Message(MessageType.HEARTBEAT, to=to, sender=sender, term=term)


def test_a_members_frames_are_stepped_in_order_across_chunks() -> None:
    stepped: list[Message] = []
    data = frame(heartbeat(term=2)) + frame(heartbeat(term=3))
    answer = call(make_receiver(stepped), [data[:5], data[5:30], data[30:]])
    assert answer.status == 200
    assert [message.term for message in stepped] == [2, 3]


@pytest.mark.parametrize("sender", [str(STRANGER), str(LOCAL), "", "not-a-number"])
def test_a_stream_from_a_non_member_is_refused_before_its_body_is_read(sender: str) -> None:
    stepped: list[Message] = []
    answer = call(make_receiver(stepped), [frame(heartbeat())], sender=sender)
    assert (answer.status, answer.chunks_read, stepped) == (403, 0, [])
    assert answer.headers[b"connection"] == b"close"


def test_a_frame_claiming_another_sender_ends_the_stream() -> None:
    stepped: list[Message] = []
    forged = frame(heartbeat(sender=STRANGER))
    answer = call(make_receiver(stepped), [frame(heartbeat()), forged, frame(heartbeat())])
    assert answer.status == 400
    assert len(stepped) == 1 and answer.chunks_read == 2  # nothing after the forgery


def test_a_message_for_another_member_is_dropped_and_the_stream_goes_on() -> None:
    stepped: list[Message] = []
    answer = call(make_receiver(stepped), [frame(heartbeat(to=PEER)), frame(heartbeat(term=5))])
    assert answer.status == 200
    assert [message.term for message in stepped] == [5]


def test_a_frame_out_of_range_ends_the_stream_without_reaching_step() -> None:
    stepped: list[Message] = []
    answer = call(make_receiver(stepped), [frame(heartbeat(term=2**64 - 1)), frame(heartbeat())])
    assert (answer.status, stepped) == (400, [])


def test_a_frame_over_the_cap_is_refused_when_its_length_arrives() -> None:
    stepped: list[Message] = []
    answer = call(make_receiver(stepped), [FRAME.pack(MAX_FRAME + 1), b"\0" * 100])
    assert (answer.status, answer.chunks_read, stepped) == (413, 1, [])
    big = Message(MessageType.APPEND, to=LOCAL, sender=PEER, term=1, index=0)
    big.entries = [Entry(term=1, index=1, data=b"x" * (MAX_FRAME - 200))]
    assert call(make_receiver(stepped), [frame(big)]).status == 200  # at the cap: taken


def test_a_removed_member_loses_its_stream() -> None:
    stepped: list[Message] = []
    members = {LOCAL, PEER}
    receiver = make_receiver(stepped, members)

    def remove_after_first(message: Message) -> None:
        stepped.append(message)
        members.discard(PEER)

    receiver.step = remove_after_first
    answer = call(receiver, [frame(heartbeat()), frame(heartbeat())])
    assert (answer.status, len(stepped)) == (403, 1)


def snapshot_message(size: int, sender: int = PEER) -> bytes:
    snapshot = Snapshot(index=10, term=2, conf_state=ConfState((LOCAL, PEER)), data=b"s" * size)
    return encode_message(
        Message(MessageType.SNAPSHOT, to=LOCAL, sender=sender, term=2, snapshot=snapshot)
    )


def test_snapshots_are_bounded_whether_or_not_their_length_is_announced() -> None:
    stepped: list[Message] = []
    receiver = make_receiver(stepped)
    body = snapshot_message(1000)
    assert call(receiver, [body[:100], body[100:]], path="/raft/snapshot").status == 204
    assert stepped[0].snapshot is not None and len(stepped[0].snapshot.data) == 1000
    announced = [(b"content-length", str(10**12).encode())]
    answer = call(receiver, [body], path="/raft/snapshot", extra=announced)
    assert (answer.status, answer.chunks_read) == (413, 0)
    chunk = b"\0" * (MAX_SNAPSHOT // 4)
    answer = call(receiver, [chunk] * 10, path="/raft/snapshot")  # no length announced
    assert (answer.status, answer.chunks_read) == (413, 5)
    assert len(stepped) == 1


def test_the_snapshot_endpoint_takes_only_a_members_snapshot() -> None:
    stepped: list[Message] = []
    receiver = make_receiver(stepped)
    forged = snapshot_message(10, sender=STRANGER)
    assert call(receiver, [forged], path="/raft/snapshot").status == 400
    heartbeat_body = encode_message(heartbeat())
    assert call(receiver, [heartbeat_body], path="/raft/snapshot").status == 400
    assert call(receiver, [snapshot_message(10)], path="/raft/snapshot", sender="99").status == 403
    assert stepped == []
