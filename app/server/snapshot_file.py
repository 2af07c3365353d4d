"""keyraft's snapshot file: a member's whole backend at one point in time.

etcd's snapshot is its bbolt file followed by the file's SHA-256; ours keeps that shape
(so the gateway stream ends with the checksum chunk etcd sends) around our own content:

    MAGIC | msgpack [family, key, value] ... | msgpack {"revision", "keys", "hash"} | SHA-256

`hash` is the CRC-32 of the records' bytes and `keys` their number (`snapshot status`);
the SHA-256 covers everything before it, so a truncated or altered file is refused.
Files are written from a RocksDB checkpoint, so writes go on while one is taken.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgpack

from keyraft.app.server.state_machine import SNAPSHOT_FAMILIES
from keyraft.storage.backend import Backend
from keyraft.storage.mvcc.store import META_CURRENT_REVISION, decode_int

MAGIC = b"KEYRAFT-SNAPSHOT-1\n"
SHA_BYTES = 32
READ_BYTES = 1 << 20


class BadSnapshot(Exception):
    """A file that is not a whole keyraft snapshot."""


@dataclass(frozen=True, slots=True)
class SnapshotStatus:
    hash: int
    revision: int
    total_keys: int
    total_size: int  # bytes before the checksum (etcd's: the database's size)


def write_snapshot(backend: Backend, directory: str) -> str:
    """Write a snapshot of `backend` into a new file in `directory`; its path. Blocking
    (RocksDB and disk work): call it from a worker thread."""
    work = tempfile.mkdtemp(prefix="snapshot-", dir=directory)
    checkpoint = os.path.join(work, "checkpoint")
    path = os.path.join(directory, os.path.basename(work) + ".snap")
    try:
        backend.checkpoint(checkpoint)
        copy = Backend(checkpoint, cache_bytes=1 << 20)
        try:
            with open(path, "wb") as out:
                _write(copy, out)
        finally:
            copy.close()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _write(backend: Backend, out: BinaryIO) -> None:
    digest = hashlib.sha256(MAGIC)
    out.write(MAGIC)
    crc, keys = 0, 0
    packer = msgpack.Packer(use_bin_type=True)
    for family in SNAPSHOT_FAMILIES:
        for key, value in backend.iterate(family):
            record = packer.pack([family, key, value])
            crc = zlib.crc32(record, crc)
            keys += 1
            digest.update(record)
            out.write(record)
    revision = decode_int(backend.get("meta", META_CURRENT_REVISION), 1)
    trailer = packer.pack({"revision": revision, "keys": keys, "hash": crc})
    digest.update(trailer)
    out.write(trailer)
    out.write(digest.digest())


def verify(path: str) -> SnapshotStatus:
    """Check a snapshot file whole (magic, checksum, trailer); its status."""
    try:
        size = os.path.getsize(path)
        if size < len(MAGIC) + SHA_BYTES:
            raise BadSnapshot(f"{path}: too short to be a keyraft snapshot")
        digest = hashlib.sha256()
        with open(path, "rb") as source:
            if source.read(len(MAGIC)) != MAGIC:
                raise BadSnapshot(f"{path}: not a keyraft snapshot")
            digest.update(MAGIC)
            left = size - len(MAGIC) - SHA_BYTES
            while left > 0:
                chunk = source.read(min(READ_BYTES, left))
                if not chunk:
                    raise BadSnapshot(f"{path}: truncated")
                digest.update(chunk)
                left -= len(chunk)
            if source.read(SHA_BYTES) != digest.digest():
                raise BadSnapshot(f"{path}: sha256 mismatch (truncated or corrupted)")
    except OSError as error:
        raise BadSnapshot(f"{path}: {error.strerror or error}") from None
    trailer = None
    for item in _items(path, size):
        trailer = item
    if not isinstance(trailer, dict) or set(trailer) != {"revision", "keys", "hash"}:
        raise BadSnapshot(f"{path}: no trailer")
    return SnapshotStatus(trailer["hash"], trailer["revision"], trailer["keys"], size - SHA_BYTES)


def records(path: str) -> Iterator[tuple[str, bytes, bytes]]:
    """The (family, key, value) records of a file `verify` accepted."""
    for item in _items(path, os.path.getsize(path)):
        if isinstance(item, dict):
            return
        if not (
            isinstance(item, list)
            and len(item) == 3
            and item[0] in SNAPSHOT_FAMILIES
            and type(item[1]) is bytes
            and type(item[2]) is bytes
        ):
            raise BadSnapshot(f"{path}: malformed record")
        yield item[0], item[1], item[2]


def _items(path: str, size: int) -> Iterator[object]:
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 * READ_BYTES)
    with open(path, "rb") as source:
        source.seek(len(MAGIC))
        left = size - len(MAGIC) - SHA_BYTES
        while left > 0:
            chunk = source.read(min(READ_BYTES, left))
            left -= len(chunk)
            unpacker.feed(chunk)
            try:
                yield from unpacker
            except (ValueError, msgpack.ExtraData) as error:
                raise BadSnapshot(f"{path}: malformed content: {error}") from None
