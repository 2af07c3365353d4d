"""Several `RaftDriver`s in one event loop: in-memory network, fake clock, WALs in a temp dir.

Time moves only through `tick`, and after every tick `settle` waits (polling, with a
wall-clock deadline) until every driver is idle and the network is empty, so WAL syncs
(by Linux AIO or on the disk thread) never race virtual time. Every interesting act
lands in `journal`, in the order it happened: WAL writes when they are durable, sends,
applies.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.messages import (
    Entry,
    HardState,
    Message,
    ReadState,
    Snapshot,
    SoftState,
    StateRole,
)
from tests.support.fake_clock import FakeClock
from tests.support.memory_transport import MemoryNetwork, MemoryTransport

TICK_SECONDS = 0.1
ELECTION_TICKS = 10


@dataclass(slots=True, frozen=True)
class Event:
    kind: str  # "saving", "persisted", "rewritten", "send", "apply", "restore"
    node_id: int
    detail: Any


class Machine:
    """A state machine that keeps applied payloads in a list (both driver protocols)."""

    def __init__(self, node_id: int, journal: list[Event]) -> None:
        self.node_id = node_id
        self.journal = journal
        self.applied = 0
        self.values: list[str] = []
        self.restored: list[bytes] = []
        self.snapshots_given: list[bytes] = []
        self.soft_state = SoftState()
        self.read_states: list[ReadState] = []

    def applied_index(self) -> int:
        return self.applied

    def apply(self, entries: list[Entry]) -> None:
        for entry in entries:
            if entry.index <= self.applied:
                continue
            if entry.data:
                self.values.append(entry.data.decode())
            self.applied = entry.index
            self.journal.append(Event("apply", self.node_id, entry.index))

    def make_durable(self) -> None:
        pass

    def snapshot_data(self) -> bytes:
        data = json.dumps({"applied": self.applied, "values": self.values}).encode()
        self.snapshots_given.append(data)
        return data

    def restore(self, data: bytes) -> None:
        state = json.loads(data)
        self.applied, self.values = state["applied"], state["values"]
        self.restored.append(data)
        self.journal.append(Event("restore", self.node_id, data))

    def on_soft_state(self, soft_state: SoftState, term: int) -> None:
        self.soft_state = soft_state

    def on_read_states(self, read_states: list[ReadState]) -> None:
        self.read_states.extend(read_states)


class RecordingTransport:
    """Journals each message, then hands it to the real transport."""

    def __init__(self, inner: MemoryTransport, journal: list[Event]) -> None:
        self.inner = inner
        self.journal = journal

    def send(self, messages: list[Message]) -> None:
        for message in messages:
            self.journal.append(Event("send", self.inner.node_id, message))
        self.inner.send(messages)


class DriverCluster:
    def __init__(
        self,
        directory: str,
        node_ids: tuple[int, ...] = (1, 2, 3),
        *,
        snapshot_count: int = 10_000,
        catch_up_entries: int = 5000,
        seed: int = 0,
        native_aio: bool = True,
    ) -> None:
        self.directory = directory
        self.native_aio = native_aio
        self.node_ids = node_ids
        self.snapshot_count = snapshot_count
        self.catch_up_entries = catch_up_entries
        self.seed = seed
        self.clock = FakeClock()
        self.network = MemoryNetwork()
        self.journal: list[Event] = []
        self.drivers: dict[int, RaftDriver] = {}
        self.machines: dict[int, Machine] = {}
        # Loops that failed, as (node, loop name, error): a member process would end
        # (`stop_process`); here the test fails with the error instead of its worker dying.
        self.failures: list[tuple[int, str, BaseException]] = []

    def wal_dir(self, node_id: int) -> str:
        return os.path.join(self.directory, f"member-{node_id}")

    def start(self, node_id: int) -> RaftDriver:
        machine = self.machines.get(node_id) or Machine(node_id, self.journal)
        self.machines[node_id] = machine
        driver = RaftDriver(
            node_id,
            self.node_ids,
            self.wal_dir(node_id),
            machine,
            TICK_SECONDS,
            ELECTION_TICKS,
            self.snapshot_count,
            self.catch_up_entries,
            events=machine,
            clock=self.clock,
            rng=random.Random(self.seed * 1000 + node_id),
            on_failure=lambda name, error: self.failures.append((node_id, name, error)),
            native_aio=self.native_aio,
        )
        _record_wal(driver, self.journal)
        transport = self.network.attach(node_id, driver)
        driver.start(RecordingTransport(transport, self.journal))
        self.drivers[node_id] = driver
        return driver

    def start_all(self) -> None:
        for node_id in self.node_ids:
            self.start(node_id)

    async def stop(self, node_id: int) -> None:
        self.network.detach(node_id)
        await self.drivers.pop(node_id).stop()

    async def stop_all(self) -> None:
        for node_id in list(self.drivers):
            await self.stop(node_id)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every driver is idle and no message is in flight."""
        deadline = time.monotonic() + timeout
        while not (self.network.idle() and all(d.idle() for d in self.drivers.values())):
            self._raise_failure()
            if time.monotonic() > deadline:
                raise AssertionError("the cluster did not settle")
            await asyncio.sleep(0)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self.failures:
            node_id, name, error = self.failures[0]
            raise AssertionError(f"member {node_id}: {name} failed: {error!r}") from error

    async def tick(self, count: int = 1) -> None:
        for _ in range(count):
            await self.clock.advance(TICK_SECONDS)
            await self.settle()

    async def tick_until(self, condition: Callable[[], bool], max_ticks: int = 300) -> int:
        """Tick until `condition` holds; returns the ticks it took."""
        await self.settle()
        for ticks in range(max_ticks + 1):
            if condition():
                return ticks
            await self.tick()
        raise AssertionError(f"condition not met within {max_ticks} ticks")

    def leader(self) -> int | None:
        leaders = [
            node_id
            for node_id, driver in self.drivers.items()
            if driver.node.raft.role == StateRole.LEADER
        ]
        return leaders[0] if len(leaders) == 1 else None

    async def elect(self) -> int:
        await self.tick_until(self._has_agreed_leader)
        leader = self.leader()
        assert leader is not None
        return leader

    def _has_agreed_leader(self) -> bool:
        leader = self.leader()
        return leader is not None and all(
            driver.leader == leader for driver in self.drivers.values()
        )

    async def replicate(self, payloads: list[str], via: int | None = None) -> None:
        """Propose through `via` (the leader by default) until every member applied them."""
        proposer = via if via is not None else self.leader()
        assert proposer is not None
        target = len(self.machines[proposer].values) + len(payloads)
        self.drivers[proposer].propose([payload.encode() for payload in payloads])
        await self.tick_until(
            lambda: all(len(self.machines[n].values) >= target for n in self.drivers)
        )


def _record_wal(driver: RaftDriver, journal: list[Event]) -> None:
    """Journal each save of a Ready when it starts and once it is durable, and rewrites."""
    writer, wal = driver.log_writer, driver.wal
    save, rewrite = writer.save, wal.rewrite
    node_id = driver.node_id

    async def recording_save(hard_state: HardState | None, entries: list[Entry]) -> None:
        journal.append(Event("saving", node_id, [e.index for e in entries]))
        await save(hard_state, entries)
        journal.append(Event("persisted", node_id, (hard_state, [e.index for e in entries])))

    def recording_rewrite(snapshot: Snapshot, hard_state: HardState, entries: list[Entry]) -> None:
        rewrite(snapshot, hard_state, entries)
        journal.append(Event("rewritten", node_id, (snapshot.index, [e.index for e in entries])))

    writer.save = recording_save  # type: ignore[method-assign]
    wal.rewrite = recording_rewrite  # type: ignore[method-assign]
