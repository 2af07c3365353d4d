"""KeyValue records: what one revision of one key holds, and its compact binary form."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEADER = struct.Struct(">qqqqI")


@dataclass(slots=True)
class KeyValue:
    """One version of a key, as etcd's mvccpb.KeyValue."""

    key: bytes
    create_revision: int
    mod_revision: int
    version: int
    value: bytes = b""
    lease: int = 0


def encode_record(kv: KeyValue) -> bytes:
    return (
        _HEADER.pack(kv.create_revision, kv.mod_revision, kv.version, kv.lease, len(kv.key))
        + kv.key
        + kv.value
    )


def decode_record(data: bytes) -> KeyValue:
    create, mod, version, lease, key_length = _HEADER.unpack_from(data)
    start = _HEADER.size
    key = bytes(data[start : start + key_length])
    value = bytes(data[start + key_length :])
    return KeyValue(key, create, mod, version, value, lease)
