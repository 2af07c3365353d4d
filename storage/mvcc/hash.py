"""Hashes that let members compare their state (etcd's Hash and HashKV), CRC-32 based.

`hash_kv` covers the MVCC history up to a revision: every record (revision key and
encoded key-value, tombstones included) whose main revision is at most it. Compaction
and apply are deterministic, so members that applied the same log and compacted at the
same revision agree; the answer carries the compact revision for that reason, as etcd's.
`hash_backend` covers whole families, as etcd's Hash covers its buckets. Both read with
one RocksDB iterator per family (a consistent view of each); call them from a thread.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from keyraft.storage.backend import Backend
from keyraft.storage.mvcc.revision import revision_prefix

# Per-member bookkeeping that differs between members holding the same data.
IGNORED = {("meta", b"consistent_index")}


def hash_kv(backend: Backend, revision: int) -> int:
    crc = zlib.crc32(b"kv")
    for key, value in backend.iterate("kv", b"", revision_prefix(revision + 1)):
        crc = zlib.crc32(value, zlib.crc32(key, crc))
    return crc


def hash_backend(backend: Backend, families: Iterable[str]) -> int:
    crc = 0
    for family in families:
        crc = zlib.crc32(family.encode(), crc)
        for key, value in backend.iterate(family):
            if (family, key) not in IGNORED:
                crc = zlib.crc32(value, zlib.crc32(key, crc))
    return crc
