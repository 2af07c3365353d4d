"""Restore from an etcd v3 snapshot (a bbolt file, with the SHA-256 etcdctl appends):
its keys with their whole history, revisions, compaction point and leases become our
records. etcd's revision keys are byte for byte ours; its values are protobuf
(mvccpb.KeyValue, leasepb.Lease, authpb.User and Role), decoded here. Users keep their
bcrypt hashes, so their passwords work unchanged. Membership is not carried over: a
restore replaces it anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from keyraft.app.server.auth.perms import Permission
from keyraft.app.server.auth.store import User, flag_records, role_record, user_record
from keyraft.app.server.snapshot_file import BadSnapshot, SnapshotStatus
from keyraft.storage.bbolt import BoltError, BoltFile
from keyraft.storage.lease import lease_key, lease_record
from keyraft.storage.mvcc.record import KeyValue, encode_record
from keyraft.storage.mvcc.revision import decode_revision
from keyraft.storage.mvcc.store import META_COMPACT_REVISION, META_CURRENT_REVISION, encode_int

SHA_BYTES = 32
Record = tuple[str, bytes, bytes]


class NotEtcdSnapshot(BadSnapshot):
    """Not an etcd snapshot, or a damaged one."""


def read_etcd_snapshot(path: str) -> BoltFile:
    """The bbolt database of an etcd snapshot file, its SHA-256 checked; one without
    (its size is not pages plus 32 bytes) is refused, as etcdctl's restore refuses it."""
    with open(path, "rb") as source:
        data = source.read()
    if len(data) % 512 != SHA_BYTES:  # etcdctl's test for an appended hash
        raise NotEtcdSnapshot(f"{path}: snapshot missing hash (truncated?)")
    data, digest = data[:-SHA_BYTES], data[-SHA_BYTES:]
    if hashlib.sha256(data).digest() != digest:
        raise NotEtcdSnapshot(f"{path}: sha256 mismatch (truncated or corrupted)")
    try:
        return BoltFile(data)
    except BoltError as error:
        raise NotEtcdSnapshot(f"{path}: {error}") from None


def etcd_records(bolt: BoltFile) -> Iterator[Record]:
    """Our (family, key, value) records for an etcd database."""
    current, compacted = 1, -1
    try:
        for name, items in bolt.buckets():
            if name == b"key":
                for key, value in items:
                    main, _sub, tombstone = decode_revision(key)
                    current = max(current, main)
                    yield "kv", key, encode_record(_key_value(value, main, tombstone))
            elif name == b"lease":
                for _key, value in items:
                    fields = _fields(value)
                    lease_id, ttl = _signed(fields.get(1, 0)), _signed(fields.get(2, 0))
                    yield "lease", lease_key(lease_id), lease_record(lease_id, ttl)
            elif name == b"meta":
                for key, value in items:
                    if key == b"finishedCompactRev":
                        compacted = decode_revision(value)[0]
            elif name.startswith(b"auth"):
                for key, value in _auth_records(name, items):
                    yield "auth", key, value
    except (BoltError, ValueError, IndexError) as error:
        raise NotEtcdSnapshot(f"damaged etcd snapshot: {error}") from None
    yield "meta", META_CURRENT_REVISION, encode_int(current)
    if compacted > 0:
        yield "meta", META_COMPACT_REVISION, encode_int(compacted)


def etcd_status(bolt: BoltFile) -> SnapshotStatus:
    """What etcdctl's `snapshot status` reports: the CRC-32C of every bucket's name, keys
    and values, the last revision of the key bucket, the number of keys, bbolt's size."""
    crc, revision, keys = 0, 0, 0
    try:
        for name, items in bolt.buckets():
            crc = _crc32c(name, crc)
            for key, value in items:
                crc = _crc32c(value, _crc32c(key, crc))
                keys += 1
                if name == b"key":
                    revision = decode_revision(key)[0]
    except (BoltError, ValueError) as error:
        raise NotEtcdSnapshot(f"damaged etcd snapshot: {error}") from None
    return SnapshotStatus(crc, revision, keys, bolt.size)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc_table()


def _crc32c(data: bytes, crc: int) -> int:
    """CRC-32C (Castagnoli), continued from `crc`, as Go's hash/crc32 computes it."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _auth_records(
    name: bytes, items: Iterator[tuple[bytes, bytes]]
) -> Iterator[tuple[bytes, bytes]]:
    """etcd's auth buckets (authpb.User and authpb.Role, the enabled flag and revision)."""
    if name == b"auth":
        flags = dict(items)
        enabled = flags.get(b"authEnabled", b"\x00") == b"\x01"
        revision = int.from_bytes(flags.get(b"authRevision", b"\x00" * 8), "big")
        yield from flag_records(enabled, max(revision, 1))
    elif name == b"authUsers":
        for _key, value in items:
            fields = _repeated(value)
            options = _repeated(_one(fields, 4, b""))
            user = User(
                _one(fields, 1, b"").decode(),
                _one(fields, 2, b""),
                tuple(sorted(role.decode() for role in fields.get(3, []))),
                bool(_one(options, 1, 0)),
            )
            yield user_record(user)
    elif name == b"authRoles":
        for _key, value in items:
            fields = _repeated(value)
            perms = []
            for data in fields.get(2, []):
                perm = _repeated(data)
                perms.append(Permission(_one(perm, 1, 0), _one(perm, 2, b""), _one(perm, 3, b"")))
            yield role_record(_one(fields, 1, b"").decode(), tuple(perms))


def _repeated(data: bytes) -> dict[int, list]:
    """Every value of every field of a protobuf message, by field number."""
    fields: dict[int, list] = {}
    for number, value in _wire(data):
        fields.setdefault(number, []).append(value)
    return fields


def _one(fields: dict[int, list], number: int, default: object):  # noqa: ANN202
    values = fields.get(number)
    value = values[-1] if values else default
    if type(value) is not type(default):
        raise ValueError(f"field {number} has the wrong wire type")
    return value


def _key_value(data: bytes, main: int, tombstone: bool) -> KeyValue:
    fields = _fields(data)
    key = fields.get(1, b"")
    if not isinstance(key, bytes):
        raise ValueError("a key that is not bytes")
    if tombstone:
        return KeyValue(key, 0, main, 0)
    value = fields.get(5, b"")
    numbers = [_signed(fields.get(n, 0)) for n in (2, 3, 4, 6)]
    if not isinstance(value, bytes):
        raise ValueError("a value that is not bytes")
    create, mod, version, lease = numbers
    return KeyValue(key, create, mod, version, value, lease)


def _fields(data: bytes) -> dict[int, int | bytes]:
    """A protobuf message's varint and length-delimited fields (the last of each wins)."""
    return dict(_wire(data))


def _wire(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ValueError("a field runs past its message")
            yield number, data[position : position + length]
            position += length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _signed(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ValueError("a number that is not a varint")
    return value - (1 << 64) if value >= 1 << 63 else value
