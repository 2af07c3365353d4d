"""Watches as the server offers them: open one from a `WatchSpec`, then await its batches.

This is the face's only way to the watchable store. A `Watch` delivers every matching
change from its start revision on, in revision order, without gaps or duplicates, all
changes of one revision together (storage's watch hub guarantees it); it ends (an empty
batch) once canceled, by the client or by the store (history compacted, watcher too far
behind), and then says why. Events are storage's `Change` and `KeyValue` records,
re-exported here so the face can name them without importing storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyraft.storage.mvcc.record import KeyValue
from keyraft.storage.mvcc.store import Change
from keyraft.storage.mvcc.watch import RevisionChanges, Watcher, WatchHub

__all__ = ["RevisionChanges", "Change", "KeyValue", "Watch", "WatchSpec", "open_watch"]


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """What to watch: `key` alone (`end` None), the range [key, end), or every key >= key
    (`end` b""); from `start_revision` (0 or less: from the next revision on)."""

    key: bytes
    end: bytes | None = None
    start_revision: int = 0
    prev_kv: bool = False
    no_put: bool = False
    no_delete: bool = False


class Watch:
    """One registered watch. Its changes queue up from the moment it is opened."""

    __slots__ = ("_hub", "_watcher", "spec")

    def __init__(self, hub: WatchHub, spec: WatchSpec, watch_id: int) -> None:
        self._hub = hub
        self.spec = spec
        self._watcher = Watcher(
            key=spec.key,
            end=spec.end,
            next_revision=0,
            watch_id=watch_id,
            no_put=spec.no_put,
            no_delete=spec.no_delete,
            prev_kv=spec.prev_kv,
        )
        hub.add(self._watcher, spec.start_revision)

    @property
    def watch_id(self) -> int:
        return self._watcher.watch_id

    @property
    def prev_kv(self) -> bool:
        return self.spec.prev_kv

    async def next_batch(self) -> RevisionChanges:
        """The next changes: (revision, changes) pairs in revision order, at most a
        catch-up's worth of revisions. Waits until there are some; [] once canceled."""
        return await self._hub.next_batch(self._watcher)

    @property
    def batch_revision(self) -> int:
        """The store revision an answer carrying the last batch reports."""
        return self._watcher.batch_revision

    def cancel(self) -> None:
        """Stop watching; a pending `next_batch` returns []. Safe to call twice."""
        self._hub.remove(self._watcher)

    @property
    def canceled(self) -> bool:
        return self._watcher.canceled

    @property
    def compact_revision(self) -> int:
        """Set when the store canceled the watch: its start was compacted away."""
        return self._watcher.compact_revision

    @property
    def cancel_reason(self) -> str:
        """Set when the store canceled the watch for another reason."""
        return self._watcher.cancel_reason

    @property
    def idle(self) -> bool:
        """Caught up with the store and nothing queued: a progress notification now
        tells the client it has seen everything up to the header's revision."""
        watcher = self._watcher
        return watcher.synced and not watcher.queued and not watcher.canceled

    def previous(self, change: Change) -> KeyValue | None:
        """The version `change` replaced (for prev_kv), if history still holds it."""
        return self._hub.previous(change)


def open_watch(hub: WatchHub, spec: WatchSpec, watch_id: int) -> Watch:
    return Watch(hub, spec, watch_id)
