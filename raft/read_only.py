"""Pending ReadIndex requests on a leader (thesis §6.4, "ReadOnlySafe").

A read request records the commit index at the moment it arrived. The leader
then sends a heartbeat round carrying the request's context; once a majority
of voters answer that round, nobody else can have been leader with a larger
commit at that moment, so serving the read after applying up to the recorded
index is linearizable. Requests are answered in arrival order: an ack for a
later request confirms every earlier one too.

Contexts identify requests and must be unique among pending requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import Message


@dataclass(slots=True)
class ReadIndexStatus:
    request: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    __slots__ = ("pending", "queue")

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, request: Message) -> None:
        context = request.context
        if context in self.pending:
            return
        self.pending[context] = ReadIndexStatus(request=request, index=index)
        self.queue.append(context)

    def receive_ack(self, node_id: int, context: bytes) -> set[int] | None:
        """Record that `node_id` answered the heartbeat round for `context`; the acks so far."""
        status = self.pending.get(context)
        if status is None:
            return None
        status.acks.add(node_id)
        return status.acks

    def advance(self, context: bytes) -> list[ReadIndexStatus]:
        """Pop and return every request up to and including `context` (now confirmed)."""
        if context not in self.pending:
            return []
        position = self.queue.index(context)
        confirmed = self.queue[: position + 1]
        del self.queue[: position + 1]
        return [self.pending.pop(ctx) for ctx in confirmed]

    def last_pending_context(self) -> bytes:
        return self.queue[-1] if self.queue else b""
