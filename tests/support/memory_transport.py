"""An in-process network for Raft drivers in one event loop (a `raft.io.transport.Transport`).

Messages go through the wire codec (so nobody shares a mutable `Message`) and arrive on a
later pass of the event loop, never inside the sender's call. Tests can cut links, isolate
members or drop messages by predicate; a lost snapshot is reported to the sender as
failed, as the HTTP transport does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from keyraft.raft.codec import decode_message, encode_message
from keyraft.raft.messages import Message, MessageType


class Endpoint(Protocol):
    """What the network calls on a member (`RaftDriver` has all three)."""

    def step(self, message: Message) -> None: ...

    def report_snapshot(self, node_id: int, ok: bool) -> None: ...

    def report_unreachable(self, node_id: int) -> None: ...


class MemoryNetwork:
    def __init__(self) -> None:
        self.endpoints: dict[int, Endpoint] = {}
        self.cut_links: set[tuple[int, int]] = set()
        self.drop: Callable[[Message], bool] | None = None
        self.in_flight = 0
        self.delivered = 0
        self.dropped = 0

    def attach(self, node_id: int, endpoint: Endpoint) -> MemoryTransport:
        """Connect a member; returns the transport to give its driver."""
        self.endpoints[node_id] = endpoint
        return MemoryTransport(self, node_id)

    def detach(self, node_id: int) -> None:
        """A stopped member: messages to it are lost."""
        self.endpoints.pop(node_id, None)

    def cut(self, first: int, second: int) -> None:
        """Lose everything between two members, both ways."""
        self.cut_links |= {(first, second), (second, first)}

    def isolate(self, node_id: int) -> None:
        for other in self.endpoints:
            if other != node_id:
                self.cut(node_id, other)

    def heal(self) -> None:
        self.cut_links.clear()

    def idle(self) -> bool:
        return self.in_flight == 0

    def _lost(self, message: Message) -> bool:
        return (
            (message.sender, message.to) in self.cut_links
            or message.to not in self.endpoints
            or (self.drop is not None and self.drop(message))
        )

    def send(self, messages: list[Message]) -> None:
        loop = asyncio.get_running_loop()
        for message in messages:
            self.in_flight += 1
            loop.call_soon(self._deliver, encode_message(message), message.sender)

    def _deliver(self, data: bytes, sender: int) -> None:
        self.in_flight -= 1
        message = decode_message(data)
        is_snapshot = message.type == MessageType.SNAPSHOT
        if self._lost(message):  # checked on arrival, so a cut also loses what is in flight
            self.dropped += 1
            if is_snapshot and sender in self.endpoints:
                self.endpoints[sender].report_snapshot(message.to, False)
            return
        self.delivered += 1
        self.endpoints[message.to].step(message)
        if is_snapshot and sender in self.endpoints:
            self.endpoints[sender].report_snapshot(message.to, True)


class MemoryTransport:
    """One member's side of a `MemoryNetwork`."""

    __slots__ = ("network", "node_id")

    def __init__(self, network: MemoryNetwork, node_id: int) -> None:
        self.network = network
        self.node_id = node_id

    def send(self, messages: list[Message]) -> None:
        self.network.send(messages)

    def start(self) -> None:
        """Nothing to connect (a `PeerNetwork`, as the server expects)."""

    async def stop(self) -> None:
        self.network.detach(self.node_id)

    def set_peers(self, peers: dict[int, str]) -> None:
        """Every member is reachable by id: nothing to change."""

    def connected_for(self, peer_id: int) -> float | None:
        """An attached member whose link is not cut counts as connected for ever."""
        network = self.network
        if peer_id not in network.endpoints or (self.node_id, peer_id) in network.cut_links:
            return None
        return float("inf")
