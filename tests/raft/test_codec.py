"""The wire encoding round-trips every field, and refuses what it cannot read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyraft.raft import (
    CodecError,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
)
from keyraft.raft.codec import (
    MAX_CONTEXT_BYTES,
    MAX_WIRE_INDEX,
    decode_conf_change,
    decode_entry,
    decode_hard_state,
    decode_message,
    decode_snapshot,
    encode_conf_change,
    encode_entry,
    encode_hard_state,
    encode_message,
    encode_snapshot,
)
from keyraft.raft.messages import LOCAL_MESSAGES, is_local

u64 = st.integers(min_value=0, max_value=2**64 - 1)
wire_index = st.integers(min_value=0, max_value=MAX_WIRE_INDEX - 8)  # room for an append's entries
small_bytes = st.binary(max_size=64)
entries = st.builds(Entry, term=u64, index=u64, type=st.sampled_from(EntryType), data=small_bytes)
ids = st.lists(u64, max_size=5).map(tuple)
conf_states = st.builds(ConfState, voters=ids, learners=ids)
snapshots = st.builds(Snapshot, index=u64, term=u64, conf_state=conf_states, data=small_bytes)
wire_entries = st.builds(
    Entry, term=wire_index, index=wire_index, type=st.sampled_from(EntryType), data=small_bytes
)
wire_snapshots = st.builds(
    Snapshot, index=wire_index, term=wire_index, conf_state=conf_states, data=small_bytes
)


def _as_sent(message: Message) -> Message:
    """What a correct peer sends: an append's entries follow its index, in its term or before."""
    if message.type == MessageType.APPEND:
        message.entries = [
            Entry(
                min(entry.term, message.term), message.index + 1 + position, entry.type, entry.data
            )
            for position, entry in enumerate(message.entries)
        ]
    return message


messages = st.builds(
    Message,
    type=st.sampled_from([kind for kind in MessageType if not is_local(kind)]),
    to=u64,
    sender=u64,
    term=wire_index,
    log_term=wire_index,
    index=wire_index,
    entries=st.lists(wire_entries, max_size=4),
    commit=wire_index,
    snapshot=st.none() | wire_snapshots,
    reject=st.booleans(),
    reject_hint=wire_index,
    context=small_bytes,
).map(_as_sent)


@given(messages)
def test_message_round_trip(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@given(entries)
def test_entry_round_trip(entry: Entry) -> None:
    assert decode_entry(encode_entry(entry)) == entry


@given(snapshots)
def test_snapshot_round_trip(snapshot: Snapshot) -> None:
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot


@given(st.builds(HardState, term=u64, vote=u64, commit=u64))
def test_hard_state_round_trip(state: HardState) -> None:
    assert decode_hard_state(encode_hard_state(state)) == state


@given(
    st.builds(ConfChange, type=st.sampled_from(ConfChangeType), node_id=u64, context=small_bytes)
)
def test_conf_change_round_trip(change: ConfChange) -> None:
    assert decode_conf_change(encode_conf_change(change)) == change


@given(messages, st.data())
def test_truncated_messages_are_refused(message: Message, data: st.DataObject) -> None:
    encoded = encode_message(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(CodecError):
        decode_message(encoded[:cut])


def test_unknown_version_and_trailing_bytes_are_refused() -> None:
    encoded = encode_message(Message(type=MessageType.HEARTBEAT, to=2, sender=1, term=3))
    with pytest.raises(CodecError, match="version"):
        decode_message(bytes([2]) + encoded[1:])
    with pytest.raises(CodecError, match="trailing"):
        decode_message(encoded + b"\0")


def test_unknown_message_type_is_refused() -> None:
    encoded = bytearray(encode_message(Message(type=MessageType.HEARTBEAT)))
    encoded[1] = 200
    with pytest.raises(CodecError, match="MessageType"):
        decode_message(bytes(encoded))


def test_a_heartbeat_is_small() -> None:
    heartbeat = Message(type=MessageType.HEARTBEAT, to=2, sender=1, term=3, commit=10)
    assert len(encode_message(heartbeat)) < 80


# ---- range checks: what no correct peer sends never reaches the core ----


def heartbeat(**fields: object) -> Message:
    return Message(**{"type": MessageType.HEARTBEAT, "to": 2, "sender": 1, "term": 3, **fields})


@pytest.mark.parametrize("field", ["term", "log_term", "index", "commit", "reject_hint"])
@pytest.mark.parametrize("value", [MAX_WIRE_INDEX + 1, 2**64 - 1])
def test_terms_and_indexes_from_2_to_the_63_are_refused(field: str, value: int) -> None:
    with pytest.raises(CodecError, match="out of range"):
        decode_message(encode_message(heartbeat(**{field: value})))
    largest = decode_message(encode_message(heartbeat(**{field: MAX_WIRE_INDEX})))
    assert getattr(largest, field) == MAX_WIRE_INDEX


def test_out_of_range_entries_and_snapshots_are_refused() -> None:
    huge = Entry(term=1, index=MAX_WIRE_INDEX + 1)
    with pytest.raises(CodecError, match="entry index"):
        decode_message(encode_message(Message(MessageType.PROPOSE, entries=[huge])))
    snapshot = Snapshot(index=5, term=2**64 - 1, conf_state=ConfState((1, 2, 3)))
    with pytest.raises(CodecError, match="snapshot term"):
        decode_message(encode_message(Message(MessageType.SNAPSHOT, snapshot=snapshot)))


def test_counts_the_frame_cannot_hold_are_refused_before_any_loop() -> None:
    encoded = bytearray(encode_message(heartbeat()))
    count_at = len(encoded) - 4  # the entry count closes an entry-less, snapshot-less message
    encoded[count_at:] = (2**32 - 1).to_bytes(4, "little")
    with pytest.raises(CodecError, match="items announced"):
        decode_message(bytes(encoded))


@pytest.mark.parametrize("kind", sorted(LOCAL_MESSAGES))
def test_local_message_types_never_arrive_from_a_peer(kind: MessageType) -> None:
    with pytest.raises(CodecError, match="local"):
        decode_message(encode_message(Message(type=kind, to=2, sender=1)))


def test_an_oversized_context_is_refused() -> None:
    with pytest.raises(CodecError, match="context"):
        decode_message(encode_message(heartbeat(context=b"x" * (MAX_CONTEXT_BYTES + 1))))


@pytest.mark.parametrize(
    "entries",
    [
        [Entry(term=2, index=12)],  # a gap after index 10
        [Entry(term=2, index=11), Entry(term=2, index=11)],  # a repeat
        [Entry(term=4, index=11)],  # a term later than the leader's own
    ],
)
def test_an_append_whose_entries_do_not_follow_its_index_is_refused(entries: list[Entry]) -> None:
    append = Message(MessageType.APPEND, to=2, sender=1, term=3, index=10, entries=entries)
    with pytest.raises(CodecError, match="append after 10"):
        decode_message(encode_message(append))
    good = [Entry(term=2, index=11), Entry(term=3, index=12)]
    append.entries = good
    assert decode_message(encode_message(append)).entries == good


def test_unknown_enum_values_are_refused() -> None:
    change = encode_conf_change(ConfChange(type=ConfChangeType.ADD_NODE, node_id=1, context=b""))
    assert change[1] == ConfChangeType.ADD_NODE
    with pytest.raises(CodecError, match="unknown ConfChangeType 250"):
        decode_conf_change(change[:1] + bytes((250,)) + change[2:])
    entry = encode_entry(Entry(term=1, index=2, type=EntryType.NORMAL, data=b"x"))
    type_at = 1 + 16  # version byte, then term and index (8 bytes each)
    assert entry[type_at] == EntryType.NORMAL
    with pytest.raises(CodecError, match="unknown EntryType 99"):
        decode_entry(entry[:type_at] + bytes((99,)) + entry[type_at + 1 :])
