"""Linearizable reads: one ReadIndex round serves every read queued before it started;
the reads then wait until this member has applied up to the index the leader confirmed
(etcd's linearizableReadLoop). Up to ROUNDS_IN_FLIGHT rounds overlap: a read that comes
while a round is out starts the next one at once instead of waiting for that round to
come back, so it waits about one round, not one and a half.

A round can be lost (the leader died, a peer stream broke): like etcd, it asks again under
a fresh context every READ_RETRY_S until one is answered. Any answer releases the batch,
since every context was issued after its reads arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable

from keyraft.app.server.errors import RequestTimedOut, ServerError
from keyraft.app.server.waits import wait_for_event
from keyraft.raft.io.clock import Clock
from keyraft.raft.messages import ReadState

READ_RETRY_S = 0.5  # etcd's readIndexRetryTime
REFUSED_RETRY_S = 0.05
ROUNDS_IN_FLIGHT = 2


class LinearizableReads:
    def __init__(
        self,
        member_id: int,
        clock: Clock,
        timeout: float,
        request_read_index: Callable[[bytes], bool],
        wait_for_leader: Callable[[float], Awaitable[None]],
        applied_index: Callable[[], int],
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self._request_read_index = request_read_index
        self._wait_for_leader = wait_for_leader
        self._applied_index = applied_index
        # A ReadIndex context must be unique among every member's pending reads: the
        # leader keeps one entry per context and ignores a duplicate, so two members
        # counting from the same start would starve each other's reads until timeout.
        self._prefix = member_id.to_bytes(8, "big")
        self._contexts = itertools.count(int.from_bytes(os.urandom(6), "big") << 16)
        self._queued: list[asyncio.Future] = []
        self._in_flight: dict[bytes, list[asyncio.Future]] = {}
        self._confirmed: dict[bytes, int] = {}  # context -> read index, until applied
        self._applied_changed = asyncio.Event()
        self._rounds: set[asyncio.Task] = set()
        self._starting = False  # a round is created but has not taken its batch yet

    async def barrier(self) -> None:
        """Return once this member may answer a linearizable read. No timer of its own:
        the round resolves every future of its batch by its deadline."""
        future = asyncio.get_running_loop().create_future()
        self._queued.append(future)
        self._start_round()
        await future

    def _start_round(self, _finished: asyncio.Task | None = None) -> None:
        if _finished is not None:
            self._rounds.discard(_finished)
        if self._queued and not self._starting and len(self._rounds) < ROUNDS_IN_FLIGHT:
            # The round takes its batch when it first runs: every read queued until then.
            self._starting = True
            task = asyncio.create_task(self._round(), name="read-index")
            self._rounds.add(task)
            task.add_done_callback(self._start_round)

    def on_read_states(self, read_states: list[ReadState]) -> None:
        for state in read_states:
            if state.context in self._in_flight:
                self._confirmed[state.context] = state.index
        self.on_applied()

    def on_applied(self) -> None:
        """Release every batch whose confirmed index is now applied."""
        applied = self._applied_index()
        for context, index in list(self._confirmed.items()):
            if index <= applied:
                del self._confirmed[context]
                for future in self._in_flight.pop(context, []):
                    if not future.done():
                        future.set_result(None)
        self._applied_changed.set()

    def stop(self, error: ServerError) -> None:
        self._queued, queued = [], self._queued
        for task in self._rounds:
            task.cancel()
        for future in queued:
            if not future.done():
                future.set_exception(error)

    async def _round(self) -> None:
        self._starting = False
        batch, self._queued = self._queued, []
        deadline = self.clock.now() + self.timeout
        contexts: list[bytes] = []
        try:
            while not all(future.done() for future in batch):
                if self.clock.now() >= deadline:
                    break
                if not any(context in self._confirmed for context in contexts):
                    await self._wait_for_leader(deadline)
                    context = self._prefix + next(self._contexts).to_bytes(8, "big")
                    self._in_flight[context] = batch
                    if not self._request_read_index(context):
                        self._in_flight.pop(context, None)
                        await self.clock.sleep(REFUSED_RETRY_S)
                        continue
                    contexts.append(context)
                await self._wait_released(batch, min(deadline, self.clock.now() + READ_RETRY_S))
        except ServerError as error:
            for future in batch:
                if not future.done():
                    future.set_exception(error)
        finally:  # also when stopped: no read waits for a round that is gone
            for context in contexts:
                self._in_flight.pop(context, None)
                self._confirmed.pop(context, None)
            for future in batch:
                if not future.done():
                    future.set_exception(RequestTimedOut())

    async def _wait_released(self, batch: list[asyncio.Future], until: float) -> None:
        """Wait until `batch` is released or `until` passes, waking on every apply."""
        while not all(future.done() for future in batch):
            remaining = until - self.clock.now()
            if remaining <= 0:
                return
            self._applied_changed.clear()
            await wait_for_event(self.clock, self._applied_changed, remaining)
