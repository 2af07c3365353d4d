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

u64 = st.integers(min_value=0, max_value=2**64 - 1)
small_bytes = st.binary(max_size=64)
entries = st.builds(Entry, term=u64, index=u64, type=st.sampled_from(EntryType), data=small_bytes)
ids = st.lists(u64, max_size=5).map(tuple)
conf_states = st.builds(ConfState, voters=ids, learners=ids)
snapshots = st.builds(Snapshot, index=u64, term=u64, conf_state=conf_states, data=small_bytes)
messages = st.builds(
    Message,
    type=st.sampled_from(MessageType),
    to=u64,
    sender=u64,
    term=u64,
    log_term=u64,
    index=u64,
    entries=st.lists(entries, max_size=4),
    commit=u64,
    snapshot=st.none() | snapshots,
    reject=st.booleans(),
    reject_hint=u64,
    context=small_bytes,
)


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
