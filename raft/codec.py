"""Binary encoding of Raft records for the wire (and for the write-ahead log).

Every top-level encoding starts with a version byte, so a reader can refuse
what it does not understand instead of misreading it. Integers are unsigned
little-endian, fixed width (fast to pack with `struct`); byte strings are
length-prefixed. Layout of a version-1 message:

    header   B version, B type, Q to, Q sender, Q term, Q log_term, Q index,
             Q commit, Q reject_hint, B flags (1 = reject, 2 = has snapshot)
    context  I length, bytes
    entries  I count, then per entry: Q term, Q index, B type, I length, bytes
    snapshot (if flag 2) Q index, Q term, I voters, Q*, I learners, Q*, I length, bytes

Framing (how many bytes a message occupies on a stream) is the transport's job.

A message comes from another process, so `decode_message` also refuses what no correct
peer sends (`check_message`): terms and indexes at or above 2**63 (a member stepping to
such a term could not persist it, and Raft only ever adds one to a term), counts that the
remaining bytes cannot hold, a local-only message type, an append whose entries do not
follow its index. Refused here, such a frame never reaches the core.
"""

from __future__ import annotations

import struct

from .errors import CodecError
from .messages import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    is_local,
)

VERSION = 1

_HEADER = struct.Struct("<BBQQQQQQQB")
_LENGTH = struct.Struct("<I")
_ENTRY = struct.Struct("<QQBI")
_SNAPSHOT_HEAD = struct.Struct("<QQ")
_ID = struct.Struct("<Q")
_HARD_STATE = struct.Struct("<BQQQ")
_CONF_CHANGE = struct.Struct("<BBQI")

_FLAG_REJECT = 1
_FLAG_SNAPSHOT = 2

MAX_WIRE_INDEX = 2**63 - 1
"""The largest term, index or commit a message may carry: far above anything a cluster
reaches (2**63 elections, or entries), and leaves room for the `+ 1`s Raft does on them
without ever overflowing the codec's unsigned 64-bit fields."""
MAX_CONTEXT_BYTES = 4096
"""A message's context is a read request's id or a campaign marker: a few bytes."""


class _Reader:
    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        try:
            values = layout.unpack_from(self.data, self.position)
        except struct.error as exc:
            raise CodecError(f"truncated record at byte {self.position}") from exc
        self.position += layout.size
        return values

    def take(self, length: int) -> bytes:
        end = self.position + length
        if end > len(self.data):
            raise CodecError(f"truncated record: {length} bytes wanted at byte {self.position}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def length_prefixed(self) -> bytes:
        (length,) = self.unpack(_LENGTH)
        return self.take(length)

    def count(self, item_size: int) -> int:
        """A count of fixed-size items, refused if the bytes left cannot hold that many
        (so no loop ever runs four billion times on a short frame)."""
        (count,) = self.unpack(_LENGTH)
        if count * item_size > len(self.data) - self.position:
            raise CodecError(
                f"{count} items announced, only {len(self.data) - self.position} bytes left"
            )
        return count

    def finish(self) -> None:
        if self.position != len(self.data):
            raise CodecError(f"{len(self.data) - self.position} unexpected trailing bytes")


def _check_version(version: int) -> None:
    if version != VERSION:
        raise CodecError(f"unsupported encoding version {version} (this build reads {VERSION})")


_MEMBERS: dict[type, dict[int, object]] = {}


def _enum(kind: type, value: int) -> object:
    """`kind(value)` by table: calling an IntEnum costs ~1 us, and a follower decodes
    the type of every entry it receives (4.8% of its busy time under puts)."""
    members = _MEMBERS.get(kind)
    if members is None:
        members = _MEMBERS[kind] = {member.value: member for member in kind}  # type: ignore[attr-defined]
    member = members.get(value)
    if member is None:
        raise CodecError(f"unknown {kind.__name__} {value}")
    return member


# ---- pieces ----


def _write_entry(out: list[bytes], entry: Entry) -> None:
    out.append(_ENTRY.pack(entry.term, entry.index, entry.type, len(entry.data)))
    out.append(entry.data)


_ENTRY_TYPES = {member.value: member for member in EntryType}


def _read_entries(reader: _Reader, count: int) -> list[Entry]:
    """`count` entries, read in one loop over local names: a follower decodes every
    entry of every append (a call per field cost ~1.5 us an entry)."""
    data, position, size = reader.data, reader.position, _ENTRY.size
    entries = []
    for _ in range(count):
        try:
            term, index, entry_type, length = _ENTRY.unpack_from(data, position)
        except struct.error as exc:
            raise CodecError(f"truncated record at byte {position}") from exc
        start = position + size
        position = start + length
        if position > len(data):
            raise CodecError(f"truncated record: {length} bytes wanted at byte {start}")
        kind = _ENTRY_TYPES.get(entry_type)
        if kind is None:
            raise CodecError(f"unknown EntryType {entry_type}")
        entries.append(Entry(term, index, kind, data[start:position]))
    reader.position = position
    return entries


def _write_snapshot(out: list[bytes], snapshot: Snapshot) -> None:
    out.append(_SNAPSHOT_HEAD.pack(snapshot.index, snapshot.term))
    for ids in (snapshot.conf_state.voters, snapshot.conf_state.learners):
        out.append(_LENGTH.pack(len(ids)))
        out.extend(_ID.pack(node_id) for node_id in ids)
    out.append(_LENGTH.pack(len(snapshot.data)))
    out.append(snapshot.data)


def _read_snapshot(reader: _Reader) -> Snapshot:
    index, term = reader.unpack(_SNAPSHOT_HEAD)
    groups: list[tuple[int, ...]] = []
    for _ in range(2):
        count = reader.count(_ID.size)
        groups.append(tuple(reader.unpack(_ID)[0] for _ in range(count)))
    data = reader.length_prefixed()
    return Snapshot(index=index, term=term, conf_state=ConfState(groups[0], groups[1]), data=data)


# ---- messages ----


def encode_message(message: Message) -> bytes:
    flags = (_FLAG_REJECT if message.reject else 0) | (
        _FLAG_SNAPSHOT if message.snapshot is not None else 0
    )
    out = [
        _HEADER.pack(
            VERSION,
            message.type,
            message.to,
            message.sender,
            message.term,
            message.log_term,
            message.index,
            message.commit,
            message.reject_hint,
            flags,
        ),
        _LENGTH.pack(len(message.context)),
        message.context,
        _LENGTH.pack(len(message.entries)),
    ]
    for entry in message.entries:
        _write_entry(out, entry)
    if message.snapshot is not None:
        _write_snapshot(out, message.snapshot)
    return b"".join(out)


def decode_message(data: bytes) -> Message:
    reader = _Reader(data)
    version, message_type, to, sender, term, log_term, index, commit, hint, flags = reader.unpack(
        _HEADER
    )
    _check_version(version)
    context = reader.length_prefixed()
    count = reader.count(_ENTRY.size)
    entries = _read_entries(reader, count)
    snapshot = _read_snapshot(reader) if flags & _FLAG_SNAPSHOT else None
    reader.finish()
    message = Message(
        type=_enum(MessageType, message_type),
        to=to,
        sender=sender,
        term=term,
        log_term=log_term,
        index=index,
        entries=entries,
        commit=commit,
        snapshot=snapshot,
        reject=bool(flags & _FLAG_REJECT),
        reject_hint=hint,
        context=context,
    )
    check_message(message)
    return message


def check_message(message: Message) -> None:
    """Refuse (CodecError) a message no correct peer sends; see the module docstring."""
    if is_local(message.type):
        raise CodecError(f"{message.type.name} is local and never travels between members")
    for name in ("term", "log_term", "index", "commit", "reject_hint"):
        _check_index(name, getattr(message, name))
    if len(message.context) > MAX_CONTEXT_BYTES:
        raise CodecError(f"context of {len(message.context)} bytes")
    entries = message.entries
    if entries:  # the largest of each, not a call per entry: appends carry dozens
        _check_index("entry term", max(entry.term for entry in entries))
        _check_index("entry index", max(entry.index for entry in entries))
    if message.type == MessageType.APPEND:
        for position, entry in enumerate(message.entries):
            if entry.index != message.index + 1 + position or entry.term > message.term:
                raise CodecError(
                    f"append after {message.index} in term {message.term} holds entry "
                    f"{entry.index} of term {entry.term}"
                )
    if message.snapshot is not None:
        _check_index("snapshot term", message.snapshot.term)
        _check_index("snapshot index", message.snapshot.index)


def _check_index(name: str, value: int) -> None:
    if value > MAX_WIRE_INDEX:
        raise CodecError(f"{name} {value} is out of range")


# ---- records for storage and for entry payloads ----


def encode_conf_change(change: ConfChange) -> bytes:
    return (
        _CONF_CHANGE.pack(VERSION, change.type, change.node_id, len(change.context))
        + change.context
    )


def decode_conf_change(data: bytes) -> ConfChange:
    reader = _Reader(data)
    version, change_type, node_id, length = reader.unpack(_CONF_CHANGE)
    _check_version(version)
    context = reader.take(length)
    reader.finish()
    return ConfChange(type=_enum(ConfChangeType, change_type), node_id=node_id, context=context)


_ENTRY_RECORD_HEAD = struct.Struct("<BQQBI")  # the version byte, then _ENTRY


def encode_entry_head(entry: Entry) -> bytes:
    """`encode_entry(entry)` without its data, which follows it: a writer can hand both
    to the file (and to a checksum) without copying the data into one string."""
    return _ENTRY_RECORD_HEAD.pack(VERSION, entry.term, entry.index, entry.type, len(entry.data))


def encode_entry(entry: Entry) -> bytes:
    return encode_entry_head(entry) + entry.data


def decode_entry(data: bytes) -> Entry:
    reader = _Reader(data)
    _check_version(reader.take(1)[0])
    (entry,) = _read_entries(reader, 1)
    reader.finish()
    return entry


def encode_hard_state(state: HardState) -> bytes:
    return _HARD_STATE.pack(VERSION, state.term, state.vote, state.commit)


def decode_hard_state(data: bytes) -> HardState:
    reader = _Reader(data)
    version, term, vote, commit = reader.unpack(_HARD_STATE)
    _check_version(version)
    reader.finish()
    return HardState(term=term, vote=vote, commit=commit)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    out = [bytes((VERSION,))]
    _write_snapshot(out, snapshot)
    return b"".join(out)


def decode_snapshot(data: bytes) -> Snapshot:
    reader = _Reader(data)
    _check_version(reader.take(1)[0])
    snapshot = _read_snapshot(reader)
    reader.finish()
    return snapshot
