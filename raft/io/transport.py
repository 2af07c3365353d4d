"""What the driver needs from a network: hand over a Ready's messages, never block.

`peer_transport.PeerTransport` (HTTP streams between processes) implements it; tests
use an in-memory one (`tests/support/memory_transport.py`). Delivery is best effort:
a transport may drop, delay or reorder messages, because Raft retransmits. Messages
come back in through `RaftDriver.step`; failures through `RaftDriver.report_unreachable`
and `RaftDriver.report_snapshot`, wired up by whoever builds the transport.
"""

from __future__ import annotations

from typing import Protocol

from ..messages import Message


class Transport(Protocol):
    def send(self, messages: list[Message]) -> None:
        """Queue `messages` for their recipients (`Message.to`) and return at once."""
        ...


class PeerNetwork(Transport, Protocol):
    """A transport with a lifetime: the server starts it before the driver and stops it
    after."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def set_peers(self, peers: dict[int, str]) -> None:
        """The other members by id, with the URL to reach each (the membership changed)."""
        ...

    def connected_for(self, peer_id: int) -> float | None:
        """Seconds this member has been connected to `peer_id` (None: not connected); the
        membership checks ask it, as etcd asks its transport's ActiveSince."""
        ...
