"""Protobuf-encoded sizes of requests: etcd's size limits are on the encoded message.

Works on decoded request messages (dicts of proto fields, as the face decodes them) and on
typed requests alike; a transaction's ops are sized as the RequestOp wrappers they are.
"""

from __future__ import annotations

from keyraft.app.server.requests import Txn


def varint_length(value: int) -> int:
    if value < 0:
        return 10
    length = 1
    while value >= 0x80:
        value >>= 7
        length += 1
    return length


def encoded_size(message: object) -> int:
    """Size of `message` as protobuf, one-byte tags assumed."""
    if isinstance(message, dict):
        return sum(_field_size(value) for value in message.values())
    if isinstance(message, Txn):
        ops = message.success + message.failure
        return sum(_field_size(compare) for compare in message.compare) + sum(
            _op_size(op) for op in ops
        )
    return sum(_field_size(value) for value in message)  # type: ignore[attr-defined]


def _op_size(op: object) -> int:
    """A RequestOp holding `op` (None: an op with no request set), as a repeated field."""
    inner = 0 if op is None else embedded_size(encoded_size(op))
    return embedded_size(inner)


def embedded_size(size: int) -> int:
    """A length-delimited field (one-byte tag) holding `size` bytes."""
    return 1 + varint_length(size) + size


def _field_size(value: object) -> int:
    if isinstance(value, bool):
        return 2 if value else 0
    if isinstance(value, int):
        return 1 + varint_length(value) if value else 0
    if isinstance(value, bytes | str):
        length = len(value)
        return 1 + varint_length(length) + length if length else 0
    if isinstance(value, dict) or hasattr(value, "_fields"):  # a message or a typed request
        return embedded_size(encoded_size(value))
    if isinstance(value, list | tuple):
        return sum(_field_size(item) or 2 for item in value)
    return 0


# What etcd adds around a request in the raft log (InternalRaftRequest header and tags).
RAFT_REQUEST_OVERHEAD = 12
# A request's protobuf size is at most this many times its Raft log entry (msgpack): every
# value costs msgpack at least one byte and protobuf at most eleven (a negative int64).
PROTOBUF_PER_ENTRY_BYTE = 11

# How far a proposal's log entry (msgpack) may exceed --max-request-bytes: msgpack frames
# fields a little differently from protobuf (a byte per empty field, a list header per
# op), a few KiB at most for the largest transaction. Peers size their frame cap on it
# (keyraft.raft.io.peer_receiver.FRAME_OVERHEAD_BYTES).
PROPOSAL_ENCODING_MARGIN = 64 * 1024
