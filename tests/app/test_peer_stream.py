"""Raft streams taken by the peer listener's protocol (app/peer_stream.py): each frame is
stepped inside the call that hands the protocol its bytes, not a turn of the event loop
later; the receiver's rules still end a stream with the status that says why; and a
request the protocol does not take goes to the ASGI app as before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from uvicorn import Config
from uvicorn.server import ServerState

from keyraft.app.peer_stream import peer_stream_protocol
from keyraft.raft.io.peer_receiver import PeerReceiver
from keyraft.raft.io.peer_transport import CLUSTER_HEADER, FROM_HEADER
from keyraft.raft.messages import Message
from tests.raft.test_peer_receiver import CLUSTER, PEER, STRANGER, frame, heartbeat, make_receiver


class Transport:
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 2380)}.get(name)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def head(sender: int = PEER, path: str = "/raft/stream") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{CLUSTER_HEADER}: {CLUSTER}\r\n"
        f"{FROM_HEADER}: {sender}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


END = b"0\r\n\r\n"


def with_protocol(receiver: PeerReceiver, scenario: Callable[..., None]) -> list[object]:
    """Run `scenario(protocol, transport)` on a connected protocol; what the ASGI app
    was handed (the requests the protocol left to it)."""
    to_asgi: list[object] = []

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        to_asgi.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run() -> None:
        config = Config(app, lifespan="off", log_level="warning")
        config.load()
        protocol = peer_stream_protocol(receiver)(config, ServerState(), {})
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        scenario(protocol, transport)
        for _ in range(10):  # let an ASGI task (if any) answer
            await asyncio.sleep(0)
        protocol.connection_lost(None)

    asyncio.run(run())
    return to_asgi


def test_each_frame_is_stepped_within_the_call_that_brings_its_bytes() -> None:
    stepped: list[Message] = []
    data = frame(heartbeat(term=2)) + frame(heartbeat(term=3))

    def scenario(protocol, transport: Transport) -> None:
        protocol.data_received(head() + chunk(data[:5]))
        assert stepped == []  # half a length prefix
        protocol.data_received(chunk(data[5:-4]))
        assert [m.term for m in stepped] == [2]
        protocol.data_received(chunk(data[-4:]))
        assert [m.term for m in stepped] == [2, 3]
        assert transport.written == b""  # the stream is still open
        protocol.data_received(END)
        assert transport.written.startswith(b"HTTP/1.1 200 ")
        assert not transport.closed

    assert with_protocol(make_receiver(stepped), scenario) == []


def test_a_forged_frame_ends_the_stream_with_400_and_nothing_after_it_is_stepped() -> None:
    stepped: list[Message] = []
    forged = frame(heartbeat(sender=STRANGER))

    def scenario(protocol, transport: Transport) -> None:
        protocol.data_received(head() + chunk(frame(heartbeat())) + chunk(forged))
        protocol.data_received(chunk(frame(heartbeat())))
        assert transport.written.startswith(b"HTTP/1.1 400 ")
        assert b"claims sender" in transport.written
        assert transport.closed

    with_protocol(make_receiver(stepped), scenario)
    assert len(stepped) == 1


def test_a_member_removed_mid_stream_loses_it() -> None:
    stepped: list[Message] = []
    members = {1, PEER}
    receiver = make_receiver(stepped, members)

    def remove_after_first(message: Message) -> None:
        stepped.append(message)
        members.discard(PEER)

    receiver.step = remove_after_first

    def scenario(protocol, transport: Transport) -> None:
        protocol.data_received(head() + chunk(frame(heartbeat())))
        protocol.data_received(chunk(frame(heartbeat())))
        assert transport.written.startswith(b"HTTP/1.1 403 ")
        assert transport.closed

    with_protocol(receiver, scenario)
    assert len(stepped) == 1


def test_what_the_protocol_does_not_take_goes_to_the_asgi_app() -> None:
    stepped: list[Message] = []

    def scenario(protocol, transport: Transport) -> None:
        protocol.data_received(head(sender=STRANGER) + chunk(frame(heartbeat())) + END)

    def snapshot(protocol, transport: Transport) -> None:
        protocol.data_received(head(path="/raft/snapshot") + END)

    assert with_protocol(make_receiver(stepped), scenario) == ["/raft/stream"]
    assert with_protocol(make_receiver(stepped), snapshot) == ["/raft/snapshot"]
    assert stepped == []


def test_a_stopping_member_cuts_an_open_stream() -> None:
    def scenario(protocol, transport: Transport) -> None:
        protocol.data_received(head() + chunk(frame(heartbeat())))
        protocol.shutdown()
        assert transport.closed

    with_protocol(make_receiver([]), scenario)
