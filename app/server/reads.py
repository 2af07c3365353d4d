"""Reads served without holding the event loop.

The event loop that answers clients also runs Raft's ticks and heartbeats, so a read that
keeps it busy for longer than an election timeout costs the leadership. Ranges (also
those in a read-only transaction) are therefore read in steps (`MVCCStore.range_steps`)
with the loop running other work between them, and at most `CONCURRENT_LARGE_READS`
large reads advance at once, so that small requests keep getting turns.

Everything runs on the loop, on purpose. The MVCC store is only changed by apply, on this
same loop, between two steps of a read, never during one; and a read at a fixed revision
stays consistent across steps (see `range_steps`: only a compaction past its revision
can overtake it, and then the read starts again). A worker thread would race apply on the
key index and take the GIL from the loop for milliseconds at a time anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator

from keyraft.app.server.apply import Applier, range_answer, range_query
from keyraft.app.server.requests import Range, Txn
from keyraft.storage.errors import ReadOvertakenError, StorageError
from keyraft.storage.mvcc.store import MVCCStore, RangeOptions, RangeResult

# Two large reads advancing together keep a loop turn near two steps (~10 ms) long;
# the others wait, costing nothing. A read that completes in its first step never waits.
CONCURRENT_LARGE_READS = 2
# A read overtaken by compaction starts again at the current revision; compactions of
# brand-new revisions in a row are rare, so a few attempts always suffice in practice.
READ_ATTEMPTS = 5

_Query = tuple[bytes, bytes | None, int, int, bool]


class _Unread(Exception):
    """A read-only transaction asked for a range not read yet (not a StorageError, so
    that the transaction's compare does not swallow it)."""

    def __init__(self, query: _Query) -> None:
        self.query = query


class SteppedReads:
    def __init__(self, store_of: Callable[[], MVCCStore], current: Callable[[], int]) -> None:
        self._store_of = store_of
        self._current = current
        # Slots for large work on the loop: stepped reads, and the face's stepped
        # encoding of their answers.
        self.slots = asyncio.Semaphore(CONCURRENT_LARGE_READS)

    async def range(self, request: Range) -> dict:
        """A range at the current revision (or the one it names)."""
        key, end, options = range_query(request)
        if end is None:  # one key: one step, so nothing can overtake it
            return range_answer(
                request, self._store_of().range(key, None, options, self._current())
            )

        async def at(revision: int) -> dict:
            return range_answer(request, await self._read(key, end, options, revision))

        return await _again_if_overtaken(at, self._current)

    async def txn(self, applier: Applier, request: Txn) -> dict:
        """A read-only transaction at the current revision.

        The applier evaluates it over the ranges read so far and asks for the first one it
        lacks (`_Unread`); that one is read in steps and the transaction evaluated again,
        until nothing is missing. Evaluating is cheap next to reading."""

        async def at(revision: int) -> dict:
            done: dict[_Query, RangeResult | StorageError] = {}

            def read(key: bytes, end: bytes | None, options: RangeOptions) -> RangeResult:
                query = (key, end, options.limit, options.revision, options.count_only)
                found = done.get(query)
                if found is None:
                    raise _Unread(query)
                if isinstance(found, StorageError):
                    raise found
                return found

            while True:
                try:
                    return applier.read_txn(request, read, revision)
                except _Unread as missing:
                    done[missing.query] = await self._outcome(missing.query, revision)

        return await _again_if_overtaken(at, self._current)

    async def _outcome(self, query: _Query, revision: int) -> RangeResult | StorageError:
        """A range's result, or the error it ends in (the transaction decides what that
        means: a failed compare, or its answer); an overtaken read is started over."""
        key, end, limit, at, count_only = query
        try:
            return await self._read(key, end, RangeOptions(limit, at, count_only), revision)
        except ReadOvertakenError:
            raise
        except StorageError as error:
            return error

    async def _read(
        self, key: bytes, end: bytes | None, options: RangeOptions, current: int
    ) -> RangeResult:
        steps = self._store_of().range_steps(key, end, options, current)
        try:
            next(steps)
        except StopIteration as finished:  # small: read in one step
            return finished.value
        async with self.slots:
            return await _finish(steps)


async def _finish(steps: Generator[None, None, RangeResult]) -> RangeResult:
    while True:
        await asyncio.sleep(0)
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value


async def _again_if_overtaken(
    read_at: Callable[[int], Awaitable[dict]], current: Callable[[], int]
) -> dict:
    """Run a read at the current revision; if compaction overtakes it, run it again at the
    revision that is current then (a read of an explicit, now compacted revision then
    fails as it would have, had it arrived after the compaction)."""
    for _attempt in range(READ_ATTEMPTS - 1):
        try:
            return await read_at(current())
        except ReadOvertakenError:
            continue
    return await read_at(current())
