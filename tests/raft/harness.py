"""A small synchronous cluster for unit tests: deliver every message until the network is quiet.

Unlike the simulator, nothing here is random unless a test asks for it: tests
drive ticks and elections explicitly and inspect each node's `Raft` directly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from keyraft.raft import (
    ConfChange,
    Config,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    StateRole,
    decode_conf_change,
)
from keyraft.raft.core import Raft


def make_node(
    node_id: int,
    voters: Iterable[int] = (),
    *,
    learners: Iterable[int] = (),
    storage: MemoryStorage | None = None,
    election_tick: int = 10,
    heartbeat_tick: int = 1,
    pre_vote: bool = False,
    check_quorum: bool = False,
    max_size_per_msg: int = 1024 * 1024,
    max_inflight_msgs: int = 256,
    seed: int = 0,
    applied: int = 0,
) -> RawNode:
    config = Config(
        id=node_id,
        voters=tuple(voters),
        learners=tuple(learners),
        election_tick=election_tick,
        heartbeat_tick=heartbeat_tick,
        pre_vote=pre_vote,
        check_quorum=check_quorum,
        max_size_per_msg=max_size_per_msg,
        max_inflight_msgs=max_inflight_msgs,
        applied=applied,
        rng=random.Random(seed * 1000 + node_id),
    )
    return RawNode(config, storage if storage is not None else MemoryStorage())


def settle(node: RawNode) -> list[Message]:
    """Persist and apply everything `node` has ready (into its own MemoryStorage); return its messages."""
    storage = node.raft.log.storage
    assert isinstance(storage, MemoryStorage)
    out: list[Message] = []
    while node.has_ready():
        ready = node.ready()
        if ready.snapshot is not None:
            storage.apply_snapshot(ready.snapshot)
        storage.append(ready.entries)
        if ready.hard_state is not None:
            storage.set_hard_state(ready.hard_state)
        out.extend(ready.messages)
        for entry in ready.committed_entries:
            if entry.type == EntryType.CONF_CHANGE:
                node.apply_conf_change(decode_conf_change(entry.data))
        node.advance(ready)
    return out


Filter = Callable[[Message], bool]


class Cluster:
    """Nodes that persist and apply every Ready at once, over a network that may drop by rule."""

    def __init__(self, nodes: dict[int, RawNode], storages: dict[int, MemoryStorage]) -> None:
        self.nodes = nodes
        self.storages = storages
        self.applied: dict[int, list[bytes]] = {node_id: [] for node_id in nodes}
        self.read_states: dict[int, list] = {node_id: [] for node_id in nodes}
        self.filters: list[Filter] = []
        self.auto_apply_conf_change = True
        self.delivered: list[Message] = []

    @classmethod
    def create(cls, count: int, **options: object) -> Cluster:
        voters = tuple(range(1, count + 1))
        storages = {node_id: MemoryStorage() for node_id in voters}
        nodes = {
            node_id: make_node(node_id, voters, storage=storages[node_id], **options)  # type: ignore[arg-type]
            for node_id in voters
        }
        cluster = cls(nodes, storages)
        cluster.stabilize()
        return cluster

    def add(self, node_id: int, **options: object) -> RawNode:
        storage = MemoryStorage()
        node = make_node(node_id, storage=storage, **options)  # type: ignore[arg-type]
        self.nodes[node_id] = node
        self.storages[node_id] = storage
        self.applied[node_id] = []
        self.read_states[node_id] = []
        return node

    def raft(self, node_id: int) -> Raft:
        return self.nodes[node_id].raft

    def leader(self) -> int | None:
        leaders = [i for i, n in self.nodes.items() if n.raft.role == StateRole.LEADER]
        return max(leaders, key=lambda i: self.nodes[i].raft.term) if leaders else None

    # ---- network rules ----

    def isolate(self, node_id: int) -> None:
        self.filters.append(lambda m: m.to == node_id or m.sender == node_id)

    def cut(self, a: int, b: int) -> None:
        self.filters.append(lambda m: {m.to, m.sender} == {a, b})

    def drop_type(self, message_type: MessageType) -> None:
        self.filters.append(lambda m: m.type == message_type)

    def heal(self) -> None:
        self.filters.clear()

    # ---- driving ----

    def process(self, node_id: int) -> list[Message]:
        """Persist, apply and advance one node's Ready; return the messages it wants sent."""
        node = self.nodes[node_id]
        storage = self.storages[node_id]
        out: list[Message] = []
        while node.has_ready():
            ready = node.ready()
            if ready.snapshot is not None:
                storage.apply_snapshot(ready.snapshot)
            storage.append(ready.entries)
            if ready.hard_state is not None:
                storage.set_hard_state(ready.hard_state)
            out.extend(ready.messages)
            for entry in ready.committed_entries:
                if entry.type == EntryType.CONF_CHANGE:
                    if self.auto_apply_conf_change:
                        node.apply_conf_change(decode_conf_change(entry.data))
                elif entry.data:
                    self.applied[node_id].append(entry.data)
            self.read_states[node_id].extend(ready.read_states)
            node.advance(ready)
        return out

    def send(self, messages: list[Message]) -> None:
        """Deliver `messages` and everything they cause, until the network is quiet."""
        queue = list(messages)
        while queue:
            message = queue.pop(0)
            if any(rule(message) for rule in self.filters):
                continue
            node = self.nodes.get(message.to)
            if node is None:
                continue
            self.delivered.append(message)
            node.step(message)
            queue.extend(self.process(message.to))

    def stabilize(self) -> None:
        messages: list[Message] = []
        for node_id in list(self.nodes):
            messages.extend(self.process(node_id))
        self.send(messages)

    def campaign(self, node_id: int) -> None:
        self.nodes[node_id].campaign()
        self.stabilize()

    def tick(self, node_id: int, times: int = 1) -> None:
        for _ in range(times):
            self.nodes[node_id].tick()
        self.stabilize()

    def tick_all(self, times: int = 1) -> None:
        for _ in range(times):
            for node in self.nodes.values():
                node.tick()
            self.stabilize()

    def propose(self, node_id: int, data: bytes) -> None:
        self.nodes[node_id].propose(data)
        self.stabilize()

    def propose_conf_change(self, node_id: int, change: ConfChange) -> None:
        self.nodes[node_id].propose_conf_change(change)
        self.stabilize()


def step_raw(raft: Raft, message_type: MessageType, **fields: object) -> list[Message]:
    """Step one message into a bare `Raft` and return (and clear) what it sends."""
    raft.step(Message(type=message_type, **fields))  # type: ignore[arg-type]
    out, raft.msgs = raft.msgs, []
    return out
