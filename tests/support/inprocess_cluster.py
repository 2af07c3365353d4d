"""Whole keyraft members (EtcdServer, state machine, driver, WAL on disk) in one event loop,
on an in-memory network and one fake clock.

Time moves only through `advance`; after each step `settle` polls, with a wall-clock
deadline, until every driver is idle and the network is empty, so WAL writes in worker
threads never race virtual time. The multi-process cluster and chaos tests prove the real
processes; this proves the server's logic, deterministically and fast.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from keyraft.app.server.config import ServerConfig
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.raft.io.driver import RaftDriver
from tests.support.fake_clock import FakeClock
from tests.support.memory_transport import MemoryNetwork, MemoryTransport

HEARTBEAT_MS = 100
ELECTION_MS = 1000


class InProcessCluster:
    def __init__(self, directory: Path, size: int = 3, seed: int = 1, **options: object) -> None:
        self.clock = FakeClock()
        self.network = MemoryNetwork()
        self.directory = directory
        self.seed = seed
        self.options = options
        names = [f"m{n}" for n in range(1, size + 1)]
        self.initial_cluster = ",".join(
            f"{name}=http://127.0.0.1:{9000 + n}" for n, name in enumerate(names)
        )
        self.servers: dict[str, EtcdServer] = {}
        self.stopped: set[str] = set()
        for name in names:
            self.servers[name] = self._build(name)

    def _config(self, name: str) -> ServerConfig:
        index = int(name[1:]) - 1
        return ServerConfig(
            name=name,
            data_dir=str(self.directory / name),
            initial_cluster=self.initial_cluster,
            initial_advertise_peer_urls=[f"http://127.0.0.1:{9000 + index}"],
            advertise_client_urls=[f"http://127.0.0.1:{8000 + index}"],
            heartbeat_interval_ms=HEARTBEAT_MS,
            election_timeout_ms=ELECTION_MS,
            **self.options,  # type: ignore[arg-type]
        )

    def _build(self, name: str) -> EtcdServer:
        def attach(driver: RaftDriver) -> MemoryTransport:
            return self.network.attach(driver.node_id, driver)

        rng = random.Random(f"{self.seed}/{name}")
        return EtcdServer(self._config(name), clock=self.clock, network=attach, rng=rng)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        for server in self.servers.values():
            await server.start()
        await self.settle()

    async def stop(self) -> None:
        for name, server in self.servers.items():
            if name not in self.stopped:
                await server.stop()
        self.stopped = set(self.servers)

    async def stop_member(self, name: str) -> None:
        await self.servers[name].stop()
        self.stopped.add(name)

    async def restart_member(self, name: str) -> EtcdServer:
        """A new EtcdServer on the member's data dir (as after a crash and restart)."""
        if name not in self.stopped:
            await self.stop_member(name)
        server = self._build(name)
        self.servers[name] = server
        self.stopped.discard(name)
        await server.start()
        await self.settle()
        return server

    # ---- time --------------------------------------------------------------------------

    def running(self) -> list[EtcdServer]:
        return [s for name, s in self.servers.items() if name not in self.stopped]

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait (polling, bounded by wall-clock time) until no member has work in hand."""
        deadline = time.monotonic() + timeout
        while not (self.network.idle() and all(s.driver.idle() for s in self.running())):
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not settle")
            await asyncio.sleep(0.001)

    async def advance(self, seconds: float, step: float = HEARTBEAT_MS / 1000) -> None:
        """Move the clock `seconds` forward, a heartbeat at a time, settling after each."""
        moved = 0.0
        while moved < seconds - 1e-9:
            delta = min(step, seconds - moved)
            await self.clock.advance(delta)
            await self.settle()
            moved += delta

    async def leader(self, within: float = 10.0) -> EtcdServer:
        """The member every running member agrees leads, advancing time until there is one."""
        waited = 0.0
        while True:
            running = self.running()
            leaders = {s.leader for s in running}
            ids = {s.member.id: s for s in running}
            if len(leaders) == 1 and (only := leaders.pop()) in ids:
                return ids[only]
            if waited >= within:
                raise TimeoutError(f"no agreed leader after {within} s of fake time")
            await self.advance(0.1)
            waited += 0.1

    async def until(self, operation: asyncio.Future | asyncio.Task, within: float = 10.0):
        """Advance time until `operation` finishes (bounded in fake time); its result."""
        waited = 0.0
        while not operation.done():
            if waited >= within:
                raise TimeoutError(f"not done after {within} s of fake time")
            await self.advance(0.1)
            waited += 0.1
        return operation.result()

    def followers(self, leader: EtcdServer) -> list[EtcdServer]:
        return [s for s in self.running() if s is not leader]

    def name_of(self, server: EtcdServer) -> str:
        return server.member.name


def run_cluster(
    directory: Path, scenario: Callable[[InProcessCluster], Awaitable[None]], **options: object
) -> None:
    """Run `scenario` on a started in-process cluster in a fresh event loop; the cluster
    is stopped however the scenario ends."""

    async def main() -> None:
        cluster = InProcessCluster(directory, **options)
        await cluster.start()
        try:
            await scenario(cluster)
        finally:
            await cluster.stop()

    asyncio.run(main())
