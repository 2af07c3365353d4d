"""The write-ahead log: Raft's hard state and entries, durable before they are promised.

Records are appended to segment files `<seq>.wal` as
    I length | I crc32 (of type and payload) | B type | payload
and a segment is fsynced before `save` returns. On open, every segment is read in order;
the first record that is cut short or fails its checksum marks a torn write: the file
is truncated there and later segments are dropped (nothing after a bad record can be
trusted). Record payloads use the core's codec (entries, hard state, snapshot metadata).

After a snapshot of the state machine the log is compacted without copying anything: a
new segment starts with the snapshot metadata and the hard state, and the oldest segments,
whose entries the snapshot covers, are deleted (etcd purges whole segments the same way).
Installing a snapshot from the leader rewrites the log instead: a new segment holds the
snapshot metadata, the hard state and the given entries, and every older segment goes.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from dataclasses import dataclass, field

from ..codec import (
    decode_entry,
    decode_hard_state,
    decode_snapshot,
    encode_entry_head,
    encode_hard_state,
    encode_snapshot,
)
from ..messages import Entry, HardState, Snapshot

_RECORD = struct.Struct("<IIB")
ENTRY, HARD_STATE, SNAPSHOT = 1, 2, 3
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass
class Recovered:
    """What a log held when it was opened."""

    snapshot: Snapshot = field(default_factory=Snapshot)
    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)
    repaired_bytes: int = 0
    highest: dict[int, int] = field(default_factory=dict)  # segment -> highest entry index


_KIND_CRCS = {kind: zlib.crc32(bytes((kind,))) for kind in (ENTRY, HARD_STATE, SNAPSHOT)}


def _add_record(out: list[bytes], kind: int, head: bytes, data: bytes = b"") -> None:
    """Append to `out` the record of payload `head + data`, in pieces: the checksum is
    taken over each in turn, so a large `data` is neither copied nor concatenated (a WAL
    write runs under the GIL it shares with the event loop until the fsync)."""
    checksum = zlib.crc32(data, zlib.crc32(head, _KIND_CRCS[kind]))
    out += (_RECORD.pack(len(head) + len(data), checksum, kind), head, data)


def _record(kind: int, payload: bytes) -> bytes:
    out: list[bytes] = []
    _add_record(out, kind, payload)
    return b"".join(out)


def _entry_record(out: list[bytes], entry: Entry) -> None:
    _add_record(out, ENTRY, encode_entry_head(entry), entry.data)


class WriteAheadLog:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.recovered = self._recover()
        segments = self._segments()
        self._sequence = segments[-1] if segments else 0
        self._file = open(self._path(self._sequence), "ab")  # noqa: SIM115 - held open
        self._size = self._file.tell()
        _sync_directory(directory)
        # The highest entry index ever written to each segment: a segment goes once a
        # snapshot covers it and every segment before it.
        self._highest: dict[int, int] = self.recovered.highest

    # ---- writing -------------------------------------------------------------------------

    def save(self, hard_state: HardState | None, entries: list[Entry]) -> None:
        """Append entries then the hard state; durable when this returns."""
        if self.write(hard_state, entries):
            os.fdatasync(self._file.fileno())
            self.cut_if_full()

    def write(self, hard_state: HardState | None, entries: list[Entry]) -> bool:
        """Append entries then the hard state to the file, unsynced: durable only once
        the file (`fileno`) is fdatasynced; then call `cut_if_full`. Whether anything
        was written."""
        parts: list[bytes] = []
        for entry in entries:
            _entry_record(parts, entry)
        if hard_state is not None:
            parts.append(_record(HARD_STATE, encode_hard_state(hard_state)))
        if not parts:
            return False
        data = b"".join(parts)
        self._file.write(data)
        self._size += len(data)
        if entries:
            highest = self._highest.get(self._sequence, 0)
            self._highest[self._sequence] = max(highest, entries[-1].index)
        self._file.flush()
        return True

    def fileno(self) -> int:
        """The segment being appended to (it changes when one is cut)."""
        return self._file.fileno()

    def full(self) -> bool:
        return self._size > SEGMENT_BYTES

    def cut_if_full(self) -> None:
        """Start the next segment if this one is full (after a sync: what was written
        stays in the old one)."""
        if self.full():
            self._cut()

    def buffer_hard_state(self, hard_state: HardState) -> None:
        """Add `hard_state` to the file's buffer, unsynced, never cutting a segment: cheap
        enough for the event loop; the next `save` writes it out and syncs it."""
        data = _record(HARD_STATE, encode_hard_state(hard_state))
        self._file.write(data)
        self._size += len(data)

    def rewrite(self, snapshot: Snapshot, hard_state: HardState, entries: list[Entry]) -> None:
        """Start a fresh segment holding only what follows `snapshot`, drop the rest."""
        old = self._segments()
        self._file.close()
        self._start_segment(snapshot, hard_state, entries)
        remove_segments([self._forget(sequence) for sequence in old])
        _sync_directory(self.directory)

    def compact(self, snapshot: Snapshot, hard_state: HardState) -> list[str]:
        """Record that the state machine holds everything up to `snapshot.index`: a new
        segment starts with the snapshot metadata. The entries after it stay where they
        are, so this costs two small writes whatever the log holds (rewriting the kept
        entries stalled every member 50-80 ms each 10,000 writes). Returns the oldest
        segments, all of whose entries are at or below the snapshot: the caller removes
        them (`remove_segments`), off the path of the writes (an unlink of a full segment
        took 8-20 ms). Until then recovery reads them and finds them covered."""
        old = self._segments()
        self._file.flush()
        os.fdatasync(self._file.fileno())  # what came before must not be lost behind it
        self._file.close()
        self._start_segment(snapshot, hard_state, [])
        covered = []
        for sequence in old:
            if self._highest.get(sequence, 0) > snapshot.index:
                break  # kept, and with it every later one: recovery reads them in order
            covered.append(self._forget(sequence))
        return covered

    def _forget(self, sequence: int) -> str:
        self._highest.pop(sequence, None)
        return self._path(sequence)

    def _start_segment(
        self, snapshot: Snapshot, hard_state: HardState, entries: list[Entry]
    ) -> None:
        """Make the next segment, beginning with `snapshot`'s metadata, `hard_state` and
        `entries`, whole on disk before it has its name, and append to it from then on."""
        self._sequence += 1
        temporary = self._path(self._sequence) + ".tmp"
        with open(temporary, "wb") as handle:
            meta = Snapshot(snapshot.index, snapshot.term, snapshot.conf_state, b"")
            handle.write(_record(SNAPSHOT, encode_snapshot(meta)))
            handle.write(_record(HARD_STATE, encode_hard_state(hard_state)))
            parts: list[bytes] = []
            for entry in entries:
                _entry_record(parts, entry)
            handle.write(b"".join(parts))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path(self._sequence))
        _sync_directory(self.directory)
        if entries:
            self._highest[self._sequence] = entries[-1].index
        self._file = open(self._path(self._sequence), "ab")  # noqa: SIM115
        self._size = self._file.tell()

    def close(self) -> None:
        self._file.close()

    # ---- reading -------------------------------------------------------------------------

    def _segments(self) -> list[int]:
        names = [name for name in os.listdir(self.directory) if name.endswith(".wal")]
        return sorted(int(name[:-4], 16) for name in names)

    def _path(self, sequence: int) -> str:
        return os.path.join(self.directory, f"{sequence:016x}.wal")

    def _cut(self) -> None:
        self._file.close()
        self._sequence += 1
        self._file = open(self._path(self._sequence), "ab")  # noqa: SIM115
        self._size = 0
        _sync_directory(self.directory)

    def _recover(self) -> Recovered:
        recovered = Recovered()
        entries: list[Entry] = []
        segments = self._segments()
        for position, sequence in enumerate(segments):
            path = self._path(sequence)
            with open(path, "rb") as handle:
                data = handle.read()
            good, highest = _scan(data, recovered, entries)
            recovered.highest[sequence] = highest
            if good < len(data):
                recovered.repaired_bytes += len(data) - good
                with open(path, "r+b") as handle:
                    handle.truncate(good)
                    os.fsync(handle.fileno())
                for later in segments[position + 1 :]:
                    recovered.repaired_bytes += os.path.getsize(self._path(later))
                    os.remove(self._path(later))
                break
        recovered.entries = [entry for entry in entries if entry.index > recovered.snapshot.index]
        return recovered


def _scan(data: bytes, recovered: Recovered, entries: list[Entry]) -> tuple[int, int]:
    """Apply records from `data`; return the offset after the last good one and the
    highest entry index among them."""
    offset = highest = 0
    while offset + _RECORD.size <= len(data):
        length, checksum, kind = _RECORD.unpack_from(data, offset)
        start = offset + _RECORD.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(bytes((kind,)) + payload) != checksum:
            return offset, highest
        if kind == ENTRY:
            entry = decode_entry(payload)
            while entries and entries[-1].index >= entry.index:
                entries.pop()
            entries.append(entry)
            highest = max(highest, entry.index)
        elif kind == HARD_STATE:
            recovered.hard_state = decode_hard_state(payload)
        elif kind == SNAPSHOT:
            snapshot = decode_snapshot(payload)
            if snapshot.index >= recovered.snapshot.index:
                recovered.snapshot = snapshot
        else:
            return offset, highest
        offset = start + length
    return offset, highest


def remove_segments(paths: list[str]) -> None:
    """Delete segments a compaction or a rewrite left behind (some may be gone already)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def has_log(directory: str) -> bool:
    """Whether `directory` holds a log (a segment file), without opening it."""
    try:
        return any(name.endswith(".wal") for name in os.listdir(directory))
    except FileNotFoundError:
        return False


def _sync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
