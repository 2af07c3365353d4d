"""Watchers: every change, in revision order, without gaps or duplicates.

A watcher wants the changes to a key or range from some revision on. While it keeps up it
is *synced*: each committed write transaction pushes its matching changes onto the
watcher's bounded queue as it ends (writers never wait for readers). A watcher that starts
in the past, or whose queue overflowed, is *unsynced*: it reads the history it missed from
the backend, in bounded batches, until it reaches the present and becomes synced again. If
the history it needs was compacted, it is canceled with the compaction revision; one that
falls too far behind is canceled with a reason rather than holding memory without bound.
All changes of one revision are always delivered together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from keyraft.storage.errors import StorageError
from keyraft.storage.mvcc.record import KeyValue
from keyraft.storage.mvcc.store import Change, MVCCStore, RangeOptions

MAX_QUEUED_CHANGES = 10_000
# A catch-up batch ends at the first revision boundary after this many revisions or
# matching changes (a revision's changes always go together, however many).
CATCH_UP_REVISIONS = 1_000
CATCH_UP_CHANGES = 1_000
# History is read this many changes at a time, the event loop let run in between: a
# few watchers starting at revision 1 of a large store held it for seconds.
HISTORY_STEP_CHANGES = 500
MAX_LAG_REVISIONS = 1_000_000

RevisionChanges = list[tuple[int, list[Change]]]


@dataclass(eq=False)
class Watcher:
    key: bytes
    end: bytes | None  # None: the key alone; b"": every key >= key
    next_revision: int
    watch_id: int = 0
    no_put: bool = False
    no_delete: bool = False
    prev_kv: bool = False
    synced: bool = False
    queued: RevisionChanges = field(default_factory=list)
    queued_changes: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    batch_revision: int = 0  # the revision a response for the last batch reports

    def matches(self, change: Change) -> bool:
        if change.deleted and self.no_delete or not change.deleted and self.no_put:
            return False
        key = change.kv.key
        if self.end is None:
            return key == self.key
        return self.key <= key and (self.end == b"" or key < self.end)


class WatchHub:
    """All watchers of one member; fed by the store as write transactions end."""

    def __init__(self, store_of: Callable[[], MVCCStore]) -> None:
        self._store_of = store_of
        self.watchers: set[Watcher] = set()

    @property
    def store(self) -> MVCCStore:
        return self._store_of()

    def add(self, watcher: Watcher, start_revision: int) -> None:
        current = self.store.current_revision
        watcher.next_revision = start_revision if start_revision > 0 else current + 1
        watcher.synced = watcher.next_revision > current
        self.watchers.add(watcher)
        watcher.wake.set()

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        watcher.canceled = True
        watcher.wake.set()

    def desync_all(self) -> None:
        """After the state was replaced (a snapshot), every watcher re-reads history."""
        for watcher in self.watchers:
            watcher.synced = False
            watcher.wake.set()

    def notify(self, committed: RevisionChanges) -> None:
        """Queue committed transactions' matching changes on every synced watcher. Watchers
        asking the same thing share the matching work."""
        matches: dict[tuple, RevisionChanges] = {}
        last_revision = committed[-1][0]
        for watcher in self.watchers:
            if not watcher.synced:
                continue
            spec = (watcher.key, watcher.end, watcher.no_put, watcher.no_delete)
            matched = matches.get(spec)
            if matched is None:
                matched = []
                for revision, changes in committed:
                    found = [change for change in changes if watcher.matches(change)]
                    if found:
                        matched.append((revision, found))
                matches[spec] = matched
            fresh = [item for item in matched if item[0] >= watcher.next_revision]
            if fresh:
                count = sum(len(changes) for _revision, changes in fresh)
                if watcher.queued_changes + count > MAX_QUEUED_CHANGES:
                    watcher.synced = False  # it will read these revisions from history
                    if not watcher.wake.is_set():
                        watcher.wake.set()
                    continue
                watcher.queued.extend(fresh)
                watcher.queued_changes += count
                if not watcher.wake.is_set():
                    watcher.wake.set()
            watcher.next_revision = max(watcher.next_revision, last_revision + 1)

    async def next_batch(self, watcher: Watcher) -> RevisionChanges:
        """Wait for the watcher's next changes (several revisions at most a catch-up's
        worth). Returns [] once the watcher is canceled."""
        while not watcher.canceled:
            if watcher.queued:
                batch, watcher.queued, watcher.queued_changes = watcher.queued, [], 0
                watcher.batch_revision = batch[-1][0]
                return batch
            if not watcher.synced:
                batch = await self._catch_up(watcher)
                if batch:
                    return batch
                await asyncio.sleep(0)  # long catch-ups must not starve the loop
                continue
            watcher.wake.clear()
            await watcher.wake.wait()
        return []

    async def _catch_up(self, watcher: Watcher) -> RevisionChanges:
        """The watcher's next changes from history: read a step at a time (the iterator
        keeps seeing the history as it was when the read began, whatever is written or
        compacted meanwhile), ending at a revision boundary."""
        store = self.store
        current = store.current_revision
        start = watcher.next_revision
        if start < store.compact_revision:
            watcher.compact_revision = store.compact_revision
            self.remove(watcher)
            return []
        if current - start > MAX_LAG_REVISIONS:
            watcher.cancel_reason = "keyraft: watcher fell too far behind the store"
            self.remove(watcher)
            return []
        end = min(current + 1, start + CATCH_UP_REVISIONS)
        batch: RevisionChanges = []
        matched = 0
        next_revision = end
        for read, (revision, change) in enumerate(store.history_changes(start, end), 1):
            if not batch or batch[-1][0] != revision:
                if matched >= CATCH_UP_CHANGES:
                    next_revision = revision
                    break
                batch.append((revision, []))
            if watcher.matches(change):
                batch[-1][1].append(change)
                matched += 1
            if read % HISTORY_STEP_CHANGES == 0:
                await asyncio.sleep(0)
                if watcher.canceled:
                    return []
        watcher.next_revision = next_revision
        watcher.batch_revision = current
        if next_revision > store.current_revision:
            watcher.synced = True
        return [item for item in batch if item[1]]

    def previous(self, change: Change) -> KeyValue | None:
        """The version a change replaced (for prev_kv), if history still has it."""
        store = self.store
        if change.previous is not None:
            return store.record_at(*change.previous)
        revision = change.kv.mod_revision - 1
        if revision < max(store.compact_revision, 1):
            return None
        try:
            found = store.range(
                change.kv.key, None, RangeOptions(revision=revision), store.current_revision
            )
        except StorageError:
            return None
        return found.kvs[0] if found.kvs else None
