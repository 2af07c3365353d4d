"""The peer transport over real loopback sockets: messages arrive in order, batched on one
stream; another cluster's receiver refuses them; a dead or restarted peer never blocks the
sender, and the stream comes back by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
import uvicorn

from keyraft.app.peer_stream import peer_stream_protocol
from keyraft.raft.io.peer_receiver import PeerReceiver
from keyraft.raft.io.peer_transport import QUEUE_LIMIT, PeerTransport
from keyraft.raft.messages import Entry, Message, MessageType
from tests.support.servers import free_port

CLUSTER = 7
LOCAL, PEER = 1, 2


class Receiving:
    """A peer listener (the real receiver under uvicorn, with the peer port's protocol)
    recording what it is handed."""

    def __init__(self, port: int, cluster_id: int = CLUSTER) -> None:
        self.messages: list[Message] = []
        receiver = PeerReceiver(
            cluster_id,
            PEER,
            lambda: (LOCAL, PEER),
            self.messages.append,
            max_frame_bytes=1 << 20,
            max_snapshot_bytes=1 << 20,
        )
        config = uvicorn.Config(
            receiver,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            http=peer_stream_protocol(receiver),  # as a member's peer listener takes streams
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Receiving:
        self.task = asyncio.create_task(self.server.serve())
        await until(lambda: self.server.started)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def append(index: int) -> Message:
    entry = Entry(term=1, index=index, data=b"x" * (index % 300))
    return Message(MessageType.APPEND, to=PEER, sender=LOCAL, term=1, index=index - 1,
                   entries=[entry], commit=index - 1)  # fmt: skip


def make_transport(port: int, unreachable: list[int]) -> PeerTransport:
    return PeerTransport(
        LOCAL, CLUSTER, {PEER: f"http://127.0.0.1:{port}"}, unreachable.append, lambda *_: None
    )


@pytest.mark.timeout(60)
def test_messages_arrive_in_order_and_intact() -> None:
    async def scenario() -> None:
        port = free_port()
        unreachable: list[int] = []
        async with Receiving(port) as peer:
            transport = make_transport(port, unreachable)
            transport.start()
            try:
                sent = [append(index) for index in range(1, 3001)]
                for start in range(0, len(sent), 100):  # many sends per loop turn
                    transport.send(sent[start : start + 100])
                    await asyncio.sleep(0)
                await until(lambda: len(peer.messages) >= len(sent))
                assert peer.messages == sent
            finally:
                await transport.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_send_on_an_open_stream_is_written_within_the_call() -> None:
    """Once the stream is up, `send` writes at once: waking the pump instead cost a turn
    of the event loop per send, milliseconds each on a busy member."""

    async def scenario() -> None:
        port = free_port()
        async with Receiving(port) as peer:
            transport = make_transport(port, [])
            transport.start()
            try:
                await until(lambda: transport._peers[PEER].writer is not None)
                written = transport._peers[PEER].sent_bytes
                transport.send([append(1), append(2)])
                assert transport._peers[PEER].queue == []
                assert transport._peers[PEER].sent_bytes > written
                await until(lambda: len(peer.messages) == 2)
                assert peer.messages == [append(1), append(2)]
            finally:
                await transport.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_another_clusters_receiver_refuses_the_stream() -> None:
    async def scenario() -> None:
        port = free_port()
        unreachable: list[int] = []
        async with Receiving(port, cluster_id=CLUSTER + 1) as peer:
            transport = make_transport(port, unreachable)
            transport.start()
            try:
                for index in range(1, 50):
                    transport.send([append(index)])
                    await asyncio.sleep(0.01)
                await until(lambda: len(unreachable) >= 2)  # refused, and refused again
                assert peer.messages == []
            finally:
                await transport.stop()

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_dead_peer_never_blocks_and_a_restarted_one_is_reached_again() -> None:
    async def scenario() -> None:
        port = free_port()
        unreachable: list[int] = []
        transport = make_transport(port, unreachable)
        transport.start()
        try:
            # Nobody listens: sends return at once, the queue stays bounded.
            for index in range(1, 2 * QUEUE_LIMIT):
                transport.send([append(index)])
            assert len(transport._peers[PEER].queue) <= QUEUE_LIMIT
            await until(lambda: PEER in unreachable)
            async with Receiving(port) as peer:
                index = 10_000

                def delivered() -> bool:
                    nonlocal index
                    index += 1
                    transport.send([append(index)])  # Raft would retransmit like this
                    return any(message.index >= 10_000 for message in peer.messages)

                await until(delivered)
        finally:
            await transport.stop()

    asyncio.run(scenario())


def _gated(open_connection: Callable, connected: asyncio.Event, gate: asyncio.Event) -> Callable:
    """`open_connection` that connects, says so, and returns only once `gate` opens."""

    async def gated(*args: object, **kwargs: object) -> object:
        streams = await open_connection(*args, **kwargs)
        connected.set()
        await gate.wait()
        return streams

    return gated


@pytest.mark.timeout(120)
def test_stop_ends_a_peer_whose_connect_completes_as_it_is_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Python 3.11, `asyncio.wait_for` returns the result, and swallows the
    cancellation, when what it awaits completes in the loop turn the task is cancelled in.
    A peer's connect under wait_for then went on streaming and `stop`, awaiting it, never
    returned: a removed member that reconnected every 100 ms to peers refusing it never
    exited. Every turn between the connect completing and `stop` is tried."""
    real_open = asyncio.open_connection

    async def scenario() -> None:
        server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            for turns in range(8):
                gate, connected = asyncio.Event(), asyncio.Event()
                monkeypatch.setattr(asyncio, "open_connection", _gated(real_open, connected, gate))
                transport = make_transport(port, [])
                transport.start()
                await connected.wait()
                gate.set()
                for _ in range(turns):
                    await asyncio.sleep(0)
                stopping = asyncio.ensure_future(transport.stop())
                done, _ = await asyncio.wait({stopping}, timeout=5)
                if not done:
                    for peer in transport._peers.values():
                        assert peer.task is not None
                        peer.task.cancel()
                    await asyncio.wait({stopping}, timeout=5)
                assert done, f"stop() hung when cancelled {turns} turns after the connect"
        finally:
            server.close()

    asyncio.run(scenario())
