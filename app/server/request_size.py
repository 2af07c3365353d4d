"""Protobuf-encoded sizes of requests: etcd's size limits are on the encoded message."""

from __future__ import annotations


def _varint_length(value: int) -> int:
    if value < 0:
        return 10
    length = 1
    while value >= 0x80:
        value >>= 7
        length += 1
    return length


def encoded_size(message: dict) -> int:
    """Size of `message` (a decoded request dict) as protobuf, one-byte tags assumed."""
    total = 0
    for value in message.values():
        total += _field_size(value)
    return total


def _field_size(value: object) -> int:
    if isinstance(value, bool):
        return 2 if value else 0
    if isinstance(value, int):
        return 1 + _varint_length(value) if value else 0
    if isinstance(value, bytes | str):
        length = len(value)
        return 1 + _varint_length(length) + length if length else 0
    if isinstance(value, dict):
        inner = encoded_size(value)
        return 1 + _varint_length(inner) + inner
    if isinstance(value, list):
        return sum(_field_size(item) or 2 for item in value)
    return 0


# What etcd adds around a request in the raft log (InternalRaftRequest header and tags).
RAFT_REQUEST_OVERHEAD = 12
