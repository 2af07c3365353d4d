"""The MVCC key-value store: versioned reads, atomic write transactions, compaction.

Reads name the revision they see; the store's `current_revision` only moves when a write
transaction ends, and every write transaction is one backend batch that also records the
new current revision and the caller's bookkeeping (the consistent index), so a restart
finds exactly the transactions that were written, whole.
"""

from __future__ import annotations

import struct
import weakref
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

from keyraft.storage.backend import Backend, RocksBatch
from keyraft.storage.errors import CompactedError, FutureRevisionError, ReadOvertakenError
from keyraft.storage.mvcc.key_index import KeyIndex, is_live, latest, visible_at
from keyraft.storage.mvcc.record import KeyValue, decode_record, encode_record
from keyraft.storage.mvcc.revision import decode_revision, encode_revision, revision_prefix

_INT = struct.Struct(">q")
META_CURRENT_REVISION = b"current_revision"
META_COMPACT_REVISION = b"compact_revision"
# A stepped read (`range_steps`) pauses after this many keys of index scan, and after
# this many record reads: a few milliseconds of work each on this machine.
SCAN_STEP_KEYS = 2_000
READ_STEP_RECORDS = 500
# A range inside a write transaction finding more keys than this leaves reading their
# records to whoever answers (`DeferredRecords`).
DEFER_RECORDS_OVER = 1_000


def encode_int(value: int) -> bytes:
    return _INT.pack(value)


def decode_int(data: bytes | None, default: int = 0) -> int:
    return default if data is None else _INT.unpack(data)[0]


@dataclass(slots=True)
class RangeResult:
    kvs: list[KeyValue]
    count: int
    revision: int


class DeferredRecords:
    """The records a large range inside a write transaction found, read after apply.

    Apply runs on the event loop of every member, in one piece; a range inside a write
    transaction over 100,000 keys spent ~0.7 s there, most of it reading and decoding
    records that only the member answering the client needs. Apply finds *which*
    versions are visible (the index scan, which must see the transaction's own writes);
    the records are read later, in steps (`read_step`), or never if nobody asks.

    Records are immutable once written; only compaction and a snapshot restore remove
    them, and both first read every outstanding `DeferredRecords` of the store in full
    (`MVCCStore.read_deferred`), so the answer is always the one apply saw.
    """

    __slots__ = ("_store", "_visible", "_read", "__weakref__")

    def __init__(self, store: MVCCStore, visible: list[tuple[int, int]]) -> None:
        self._store = store
        self._visible = visible
        self._read: list[KeyValue] = []
        store._deferred.add(self)

    def __len__(self) -> int:
        return len(self._visible)

    def limited(self, limit: int) -> DeferredRecords:
        return DeferredRecords(self._store, self._visible[:limit])

    def reversed(self) -> DeferredRecords:
        return DeferredRecords(self._store, self._visible[::-1])

    def read_step(self) -> bool:
        """Read the next few records; True once all are read."""
        done = len(self._read)
        step = self._visible[done : done + READ_STEP_RECORDS]
        if step:
            self._read.extend(self._store._read_records(step, self._store._group_pending()))
        if len(self._read) < len(self._visible):
            return False
        self._store._deferred.discard(self)
        return True

    def read_all(self) -> list[KeyValue]:
        while not self.read_step():
            pass
        return self._read


@dataclass(slots=True)
class RangeOptions:
    limit: int = 0
    revision: int = 0
    count_only: bool = False


@dataclass(slots=True)
class Change:
    """One change of a write transaction, for watchers and the caller. `previous` is the
    revision (main, sub) of the version it replaced, read only if a watcher asks."""

    kv: KeyValue
    deleted: bool
    previous: tuple[int, int] | None = None


# A caller's bookkeeping written with a transaction: a key of the "meta" family, its value.
Note = tuple[bytes, bytes]


@dataclass(slots=True)
class _Pending:
    """What a write group holds that the backend does not have yet: the records (reads
    inside the group see them) and the bookkeeping, kept as values and written once when
    the group is: a put of each per transaction cost ~16% of applying a put."""

    records: dict[bytes, bytes] = field(default_factory=dict)
    revision: int = 0  # the current revision to record; 0 if nothing changed
    notes: dict[bytes, bytes] = field(default_factory=dict)

    def seal(self, batch: RocksBatch) -> None:
        if self.revision:
            batch.put("meta", META_CURRENT_REVISION, encode_int(self.revision))
        for key, value in self.notes.items():
            batch.put("meta", key, value)


@dataclass(slots=True)
class _Group:
    """An open write group: the batch its transactions share and what it holds."""

    batch: RocksBatch
    pending: _Pending = field(default_factory=_Pending)


class MVCCStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.index = KeyIndex()
        self.current_revision = 1
        self.compact_revision = -1
        self.listeners: list[Callable[[list[tuple[int, list[Change]]]], None]] = []
        self._published: list[tuple[int, list[Change]]] = []
        self._group: _Group | None = None  # the open write group, if any
        self._deferred: weakref.WeakSet[DeferredRecords] = weakref.WeakSet()
        self._restore()

    # ---- reads -------------------------------------------------------------------------

    def check_revision(self, revision: int, current: int) -> int:
        """Resolve a requested revision (<= 0 means `current`) or raise etcd's errors."""
        if revision <= 0:
            return current
        if revision > current:
            raise FutureRevisionError
        if revision < self.compact_revision:
            raise CompactedError
        return revision

    def range(
        self,
        key: bytes,
        end: bytes | None,
        options: RangeOptions,
        current: int,
        pending: _Pending | None = None,
        defer: bool = False,
    ) -> RangeResult:
        """Keys in [key, end) visible at options.revision, as seen from revision `current`.

        `end` None reads one key; b"" reads every key >= key (etcd's "\\0" range end).
        With `defer`, many records are left to read later (`DeferredRecords`).
        """
        revision = self.check_revision(options.revision, current)
        visible: list[tuple[int, int]] = []
        for _key, history in self.index.scan(key, end or None, end == b""):
            found = visible_at(history, revision)
            if found is not None:
                visible.append(found)
        count = len(visible)
        if options.count_only:
            return RangeResult([], count, current)
        if 0 < options.limit < count:
            visible = visible[: options.limit]
        if defer and len(visible) > DEFER_RECORDS_OVER:
            return RangeResult(DeferredRecords(self, visible), count, current)  # type: ignore[arg-type]
        return RangeResult(self._read_records(visible, pending), count, current)

    def read_deferred(self) -> None:
        """Read every outstanding `DeferredRecords` in full: history is about to go."""
        for deferred in list(self._deferred):
            deferred.read_all()

    def range_steps(
        self, key: bytes, end: bytes | None, options: RangeOptions, current: int
    ) -> Generator[None, None, RangeResult]:
        """The same read as `range`, in steps: the generator pauses (yields) after every
        few milliseconds of work, so that a caller on an event loop can let Raft and other
        clients run in between, and returns the `RangeResult`.

        Writes may be applied and the store compacted between steps; the answer is still
        the one `range` would have given at the first step. The read is at a fixed
        revision: a write only adds versions above it (and keys with nothing visible at
        it), and the index scan resumes after the last key it saw, on whatever index is
        current; records are immutable once written. Compaction up to the revision keeps
        every version visible at it. Only a compaction past the revision (or a snapshot
        restore that brings one) can take away what the read still needs: the read then
        raises `ReadOvertakenError` (a `CompactedError`): reading again answers.
        """
        revision = self.check_revision(options.revision, current)
        to_end = end == b""
        visible: list[tuple[int, int]] = []
        resume, after = key, False
        while True:
            scan = self.index.scan(resume, end or None, to_end, after)
            for scanned, (found, history) in enumerate(scan, start=1):
                hit = visible_at(history, revision)
                if hit is not None:
                    visible.append(hit)
                if scanned == SCAN_STEP_KEYS:
                    resume, after = found, True
                    break
            else:
                break
            yield
            self._check_readable(revision)
        count = len(visible)
        if options.count_only:
            return RangeResult([], count, current)
        if 0 < options.limit < count:
            visible = visible[: options.limit]
        kvs: list[KeyValue] = []
        for start in range(0, len(visible), READ_STEP_RECORDS):
            if start:
                yield
                self._check_readable(revision)
            kvs.extend(self._read_records(visible[start : start + READ_STEP_RECORDS], None))
        return RangeResult(kvs, count, current)

    def _check_readable(self, revision: int) -> None:
        """A stepped read at `revision` can go on unless compaction passed it."""
        if self.compact_revision > revision:
            raise ReadOvertakenError

    def record_at(self, main: int, sub: int) -> KeyValue | None:
        """The record written at (main, sub), if history still holds it."""
        data = self.backend.get("kv", encode_revision(main, sub))
        if data is None and self._group is not None:
            data = self._group.pending.records.get(encode_revision(main, sub))
        return decode_record(data) if data is not None else None

    def history(self, start: int, end: int) -> list[tuple[int, list[Change]]]:
        """Changes of revisions [start, end) from the backend, grouped by revision."""
        grouped: list[tuple[int, list[Change]]] = []
        for main, change in self.history_changes(start, end):
            if not grouped or grouped[-1][0] != main:
                grouped.append((main, []))
            grouped[-1][1].append(change)
        return grouped

    def history_changes(self, start: int, end: int) -> Iterator[tuple[int, Change]]:
        """Changes of revisions [start, end) one at a time, with their revision. Read
        through one RocksDB iterator, which sees the backend as it was when reading began:
        a caller may pause between changes while writes and compactions go on."""
        for revision_key, data in self.backend.iterate(
            "kv", revision_prefix(start), revision_prefix(end)
        ):
            main, _sub, tombstone = decode_revision(revision_key)
            yield main, Change(decode_record(data), tombstone, None)

    def _read_records(
        self, visible: list[tuple[int, int]], pending: _Pending | None
    ) -> list[KeyValue]:
        """The records at these revisions: the open group's, else the backend's (read
        with one MultiGet)."""
        if len(visible) <= 1:
            return [self._read_record(main, sub, pending) for main, sub in visible]
        revision_keys = [encode_revision(main, sub) for main, sub in visible]
        kvs: list[KeyValue] = []
        for revision_key, data in zip(
            revision_keys, self.backend.get_many("kv", revision_keys), strict=True
        ):
            if data is None and pending is not None:
                data = pending.records.get(revision_key)
            if data is None:  # pragma: no cover - the index and backend are written together
                raise RuntimeError(f"revision {revision_key.hex()} in the index, not the backend")
            kvs.append(decode_record(data))
        return kvs

    def _read_record(self, main: int, sub: int, pending: _Pending | None) -> KeyValue:
        revision_key = encode_revision(main, sub)
        data = pending.records.get(revision_key) if pending is not None else None
        if data is None:
            data = self.backend.get("kv", revision_key)
        if data is None:  # pragma: no cover - the index and backend are written together
            raise RuntimeError(f"revision {main}/{sub} in the index but not in the backend")
        return decode_record(data)

    # ---- writes ------------------------------------------------------------------------

    def write(self, note: Note | None = None) -> WriteTxn:
        """Begin a write transaction; `note` is the caller's bookkeeping, written with it."""
        return WriteTxn(self, note)

    def begin_group(self) -> RocksBatch:
        """Make the following transactions share one backend batch (written by
        `end_group`), so applying many costs one write; they still see each other."""
        self._group = _Group(self.backend.new_batch())
        return self._group.batch

    def _group_pending(self) -> _Pending | None:
        return self._group.pending if self._group is not None else None

    def end_group(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            self._write_sealed(group.batch, group.pending)
        published, self._published = self._published, []
        if published:
            for listener in self.listeners:
                listener(published)

    def _write_sealed(self, batch: RocksBatch, pending: _Pending) -> None:
        pending.seal(batch)
        self.backend.write(batch)

    def publish(self, revision: int, changes: list[Change]) -> None:
        """Tell listeners (watchers) about a committed transaction: at once, or with the
        rest of its group once the group is written."""
        if self._group is not None:
            self._published.append((revision, changes))
            return
        for listener in self.listeners:
            listener([(revision, changes)])

    def compact(self, revision: int, note: Note | None = None) -> None:
        if revision <= self.compact_revision:
            raise CompactedError
        if revision > self.current_revision:
            raise FutureRevisionError
        self.read_deferred()
        if self._group is not None:
            # History to drop may sit in the open group; its notes are those of the
            # transactions before this compaction, as a crash between the writes needs.
            self._write_sealed(self._group.batch, self._group.pending)
            self._group = _Group(self.backend.new_batch())
        batch = self.backend.new_batch()
        for main, sub, tombstone in self.index.compact(revision):
            batch.delete("kv", encode_revision(main, sub, tombstone))
        batch.put("meta", META_COMPACT_REVISION, encode_int(revision))
        if note is not None:
            batch.put("meta", *note)
        self.backend.write(batch)
        self.compact_revision = revision

    # ---- recovery ----------------------------------------------------------------------

    def reload(self) -> None:
        """Forget what is in memory and read the state again from the backend (after the
        backend's contents were replaced by a snapshot). Listeners stay attached."""
        if self._group is not None:
            raise RuntimeError("reload inside an open write group")
        self.index = KeyIndex()
        self._restore()

    def _restore(self) -> None:
        last_main = 1
        for revision_key, data in self.backend.iterate("kv"):
            main, sub, tombstone = decode_revision(revision_key)
            record = decode_record(data)
            self.index.restore(
                record.key,
                main,
                sub,
                tombstone,
                record.version,
                record.create_revision,
                record.lease,
            )
            last_main = max(last_main, main)
        stored = decode_int(self.backend.get("meta", META_CURRENT_REVISION), 1)
        self.current_revision = max(stored, last_main)
        self.compact_revision = decode_int(self.backend.get("meta", META_COMPACT_REVISION), -1)


class WriteTxn:
    """A write transaction: all its changes share one main revision and one batch."""

    def __init__(self, store: MVCCStore, note: Note | None) -> None:
        self.store = store
        self.begin_revision = store.current_revision
        self.changes: list[Change] = []
        self._grouped = store._group is not None
        if store._group is not None:
            self._pending = store._group.pending
            self._batch = store._group.batch
        else:
            self._pending = _Pending()
            self._batch = store.backend.new_batch()
        self._note = note

    @property
    def revision(self) -> int:
        """The revision this transaction's reads see (its own changes included)."""
        return self.begin_revision + 1 if self.changes else self.begin_revision

    def range(self, key: bytes, end: bytes | None, options: RangeOptions) -> RangeResult:
        return self.store.range(key, end, options, self.revision, self._pending)

    def range_deferring(self, key: bytes, end: bytes | None, options: RangeOptions) -> RangeResult:
        """`range` for a range op's answer: many records are left to read later."""
        return self.store.range(key, end, options, self.revision, self._pending, defer=True)

    def is_live(self, key: bytes) -> bool:
        """Whether `key` exists now (this transaction's own changes included)."""
        history = self.store.index.get(key)
        return history is not None and is_live(history)

    def put(self, key: bytes, value: bytes, lease: int) -> int:
        main, sub = self.begin_revision + 1, len(self.changes)
        created, version, previous = self.store.index.record_put(key, main, sub, lease)
        kv = KeyValue(key, created, main, version, value, lease)
        record = encode_record(kv)
        revision_key = encode_revision(main, sub)
        self._pending.records[revision_key] = record
        self._batch.put("kv", revision_key, record)
        self.changes.append(Change(kv, False, previous))
        return main

    def delete_range(self, key: bytes, end: bytes | None) -> tuple[int, int]:
        """Delete live keys in the range; return (deleted count, header revision)."""
        main = self.begin_revision + 1
        doomed = [
            (found, history)
            for found, history in self.store.index.scan(key, end or None, end == b"")
            if is_live(history)
        ]
        for found, history in doomed:
            sub = len(self.changes)
            previous = latest(history)  # the scan's history: no second lookup
            self.store.index.record_delete(found, main, sub)
            kv = KeyValue(found, 0, main, 0)
            self._batch.put("kv", encode_revision(main, sub, True), encode_record(kv))
            self.changes.append(Change(kv, True, previous))
        if doomed or self.changes:
            return len(doomed), main
        return 0, self.begin_revision

    @property
    def batch(self) -> RocksBatch:
        """The batch this transaction writes, for caller data that must land with it."""
        return self._batch

    def put_raw(self, family: str, key: bytes, value: bytes) -> None:
        """Write caller data outside the MVCC keyspace, atomically with this transaction."""
        self._batch.put(family, key, value)

    def end(self) -> list[Change]:
        """Write the transaction's batch (unsynced; in a group, when the group is) and
        publish its revision."""
        pending = self._pending
        if self.changes:
            pending.revision = self.begin_revision + 1
        if self._note is not None:
            pending.notes[self._note[0]] = self._note[1]
        if not self._grouped:
            self.store._write_sealed(self._batch, pending)
        if self.changes:
            self.store.current_revision = self.begin_revision + 1
            self.store.publish(self.begin_revision + 1, self.changes)
        return self.changes
