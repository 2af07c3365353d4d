"""Watchers that fall behind catch up from history: no gap, no duplicate, bounded memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from keyraft.storage.backend import Backend
from keyraft.storage.mvcc import watch
from keyraft.storage.mvcc.store import MVCCStore
from keyraft.storage.mvcc.watch import Watcher, WatchHub


def _write(store: MVCCStore, count: int, prefix: bytes = b"k") -> None:
    for index in range(count):
        txn = store.write()
        txn.put(prefix + b"%d" % index, b"v", 0)
        txn.end()


def test_a_slow_watcher_overflows_to_history_and_misses_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(watch, "MAX_QUEUED_CHANGES", 10)
    monkeypatch.setattr(watch, "CATCH_UP_REVISIONS", 7)
    backend = Backend(str(tmp_path / "kv"))
    store = MVCCStore(backend)
    hub = WatchHub(lambda: store)
    store.listeners.append(hub.notify)

    async def scenario() -> list[int]:
        watcher = Watcher(key=b"k", end=b"l", next_revision=0)
        hub.add(watcher, 0)
        _write(store, 50)  # nobody reads meanwhile: the queue overflows
        assert not watcher.synced and watcher.queued_changes <= 10
        seen: list[int] = []
        late_written = False
        while len(seen) < 55:
            batch = await asyncio.wait_for(hub.next_batch(watcher), 5)
            seen.extend(revision for revision, _changes in batch)
            if len(seen) >= 20 and not late_written:
                late_written = True
                _write(store, 5, b"k-late")  # arrives while it is still catching up
        assert watcher.synced
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        backend.close()
    assert seen == list(range(2, 57))


def test_a_watcher_whose_history_was_compacted_is_canceled_with_the_revision(
    tmp_path: Path,
) -> None:
    backend = Backend(str(tmp_path / "kv"))
    store = MVCCStore(backend)
    hub = WatchHub(lambda: store)
    _write(store, 10)
    store.compact(8)

    async def scenario() -> Watcher:
        watcher = Watcher(key=b"k", end=b"l", next_revision=0)
        hub.add(watcher, 3)
        assert await hub.next_batch(watcher) == []
        return watcher

    try:
        watcher = asyncio.run(scenario())
    finally:
        backend.close()
    assert watcher.canceled and watcher.compact_revision == 8
