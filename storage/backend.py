"""The RocksDB backend: column families, atomic write batches, durable flushes.

Every state change the server makes goes through one `WriteBatch` so that the data and
the bookkeeping that covers it (the consistent index, the compaction point) land
atomically. Batches are written unsynced on the caller's thread; `sync()` then makes
everything written so far durable. rocksdict holds the GIL during a synced write but
releases it in `flush_wal`, so callers run `sync()` in a worker thread and batch as many
writes as they can in front of one sync (group commit).

Disk use is bounded on purpose (see the constants): RocksDB's WAL by a total size, its
info LOG and MANIFEST by rolling. The RocksDB WAL stays on although the Raft WAL holds
the same entries: a process killed with -9 then loses nothing RocksDB was handed (its
log is in the page cache), and only a machine crash falls back to replaying the Raft log
from the last `sync()`, which the Raft driver never compacts past. Without it, every
memtable flush would have to be atomic across families and `sync()` a full flush.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Protocol

from rocksdict import (
    BlockBasedOptions,
    Cache,
    Checkpoint,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

COLUMN_FAMILIES = ("kv", "meta", "lease", "cluster", "auth")
KV_WRITE_BUFFER_BYTES = 8 * 1024 * 1024
SMALL_WRITE_BUFFER_BYTES = 1024 * 1024
# RocksDB deletes one of its own `.log` files only once every column family with data in
# it has flushed. "cluster" is written at start and "lease" rarely, so their memtables pin
# every log written since, up to RocksDB's automatic cap of 4x all write buffers (~150 MB
# here). Past this total RocksDB flushes the families that hold the oldest log instead.
# Twice the keyspace's memtable: the one being filled and the one being flushed.
MAX_TOTAL_WAL_BYTES = 2 * KV_WRITE_BUFFER_BYTES
# RocksDB's info LOG: rolled at this size and kept this many (it grows with every flush
# and compaction and gets a new file per open; the defaults are unbounded and 1,000).
INFO_LOG_BYTES = 1024 * 1024
INFO_LOGS_KEPT = 3
# The MANIFEST gains a record per flush and compaction; past this size it is rewritten
# with only the live state (RocksDB's default is 1 GiB).
MANIFEST_BYTES = 4 * 1024 * 1024


class Writes(Protocol):
    """What a batch of writes accepts (RocksBatch, or a stand-in in tests)."""

    def put(self, family: str, key: bytes, value: bytes) -> None: ...
    def delete(self, family: str, key: bytes) -> None: ...


class Backend:
    """A RocksDB database opened in raw (bytes) mode with keyraft's column families."""

    def __init__(self, path: str, cache_bytes: int = 16 * 1024 * 1024) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        # Memory is sized on purpose, not left at defaults: one block cache shared by every
        # column family, a bounded memtable for the keyspace, small ones for the rest.
        self._cache = Cache(cache_bytes)
        options = self._family_options(KV_WRITE_BUFFER_BYTES)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        options.set_max_background_jobs(2)
        options.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES)
        options.set_max_log_file_size(INFO_LOG_BYTES)
        options.set_keep_log_file_num(INFO_LOGS_KEPT)
        options.set_max_manifest_file_size(MANIFEST_BYTES)
        self._options = options
        existing = set(Rdict.list_cf(path, options)) if _exists(path) else set()
        families = {
            name: self._family_options(
                KV_WRITE_BUFFER_BYTES if name == "kv" else SMALL_WRITE_BUFFER_BYTES
            )
            for name in COLUMN_FAMILIES
        }
        self._db = Rdict(path, options, column_families=families)
        for name in COLUMN_FAMILIES:
            if name not in existing and name not in self._db.list_cf(path, options):
                self._db.create_column_family(name, families[name])
        self._families = {name: self._db.get_column_family_handle(name) for name in COLUMN_FAMILIES}
        self._tables = {name: self._db.get_column_family(name) for name in COLUMN_FAMILIES}
        self._unsynced = WriteOptions()
        self._unsynced.sync = False

    def _family_options(self, write_buffer_bytes: int) -> Options:
        options = Options(raw_mode=True)
        table = BlockBasedOptions()
        table.set_block_cache(self._cache)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_size(write_buffer_bytes)
        options.set_max_write_buffer_number(2)
        return options

    def get(self, family: str, key: bytes) -> bytes | None:
        return self._tables[family].get(key)

    def get_many(self, family: str, keys: list[bytes]) -> list[bytes | None]:
        """Values of many keys in one call (RocksDB's MultiGet)."""
        return self._tables[family].get(keys)

    def iterate(
        self, family: str, start: bytes = b"", end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) pairs with start <= key < end in key order."""
        table = self._tables[family]
        iterator = table.iter(ReadOptions())
        iterator.seek(start)
        while iterator.valid():
            key = iterator.key()
            if end is not None and key >= end:
                break
            yield key, iterator.value()
            iterator.next()

    def new_batch(self) -> RocksBatch:
        return RocksBatch(self._families)

    def write(self, batch: RocksBatch) -> None:
        """Apply a batch atomically (not yet durable: see `sync`)."""
        if not batch.empty:
            self._db.write(batch.raw, self._unsynced)

    def sync(self) -> None:
        """Make every write so far durable. Releases the GIL: call it from a thread."""
        self._db.flush_wal(True)

    def size_bytes(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(root, name))
        return total

    def live_bytes(self) -> int:
        """Bytes of data in use: table files plus what is still in memory tables."""
        total = 0
        for family in self._tables.values():
            for name in ("rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"):
                total += family.property_int_value(name) or 0
        return total

    def checkpoint(self, path: str) -> None:
        """A consistent point-in-time copy of every family at `path` (hard-linked table
        files; RocksDB flushes first). Safe while writes go on: call it from a thread."""
        Checkpoint(self._db).create_checkpoint(path)

    def defragment(self) -> None:
        """Give back the space of deleted and overwritten data (etcd's defragment): flush
        every memtable, then compact every family fully, dropping tombstones. Slow and
        blocking: call it from a worker thread."""
        for table in self._tables.values():
            table.flush(True)
            table.compact_range(None, None)

    def close(self) -> None:
        for table in self._tables.values():
            table.close()
        self._tables.clear()
        self._families.clear()
        self._db.close()


class RocksBatch:
    """A write batch addressed by column family name."""

    def __init__(self, families: dict) -> None:
        self.raw = WriteBatch(raw_mode=True)
        self._families = families
        self.empty = True

    def put(self, family: str, key: bytes, value: bytes) -> None:
        self.raw.put(key, value, self._families[family])
        self.empty = False

    def delete(self, family: str, key: bytes) -> None:
        self.raw.delete(key, self._families[family])
        self.empty = False


def _exists(path: str) -> bool:
    return os.path.exists(os.path.join(path, "CURRENT"))
