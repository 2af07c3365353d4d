"""Appends to one peer that follow each other in a Ready leave as one message."""

from __future__ import annotations

from keyraft.raft.coalesce import coalesce_appends
from keyraft.raft.messages import Entry, Message, MessageType, entry_size

TERM = 3


def entries(first: int, last: int, size: int = 10) -> list[Entry]:
    return [Entry(term=TERM, index=i, data=b"x" * size) for i in range(first, last + 1)]


def append(to: int, after: int, carried: list[Entry], commit: int) -> Message:
    """An append to `to` of `carried`, which follow entry `after` (of this term)."""
    return Message(
        type=MessageType.APPEND,
        to=to,
        sender=1,
        term=TERM,
        index=after,
        log_term=TERM,
        entries=carried,
        commit=commit,
    )


def test_a_run_of_appends_to_a_peer_becomes_one_with_the_newest_commit() -> None:
    messages = [
        append(2, 10, [], commit=9),  # a commit notice
        append(3, 10, entries(11, 12), commit=9),
        append(2, 10, entries(11, 12), commit=10),
        append(2, 12, entries(13, 15), commit=10),
        append(2, 15, [], commit=12),  # the commit moved again
        append(3, 12, entries(13, 15), commit=10),
    ]
    kept = coalesce_appends(messages, 1 << 20)
    assert [(m.to, m.index, [e.index for e in m.entries], m.commit) for m in kept] == [
        (2, 10, [11, 12, 13, 14, 15], 12),
        (3, 10, [11, 12, 13, 14, 15], 10),
    ]


def test_another_message_to_the_peer_ends_the_run() -> None:
    heartbeat = Message(type=MessageType.HEARTBEAT, to=2, sender=1, term=TERM, commit=10)
    messages = [
        append(2, 10, entries(11, 11), 10),
        heartbeat,
        append(2, 11, entries(12, 12), 10),
        append(3, 10, entries(11, 11), 10),  # another peer's message does not end it
        append(2, 12, entries(13, 13), 10),
    ]
    kept = coalesce_appends(messages, 1 << 20)
    assert [(m.to, m.type, [e.index for e in m.entries]) for m in kept] == [
        (2, MessageType.APPEND, [11]),
        (2, MessageType.HEARTBEAT, []),
        (2, MessageType.APPEND, [12, 13]),
        (3, MessageType.APPEND, [11]),
    ]


def test_appends_that_do_not_continue_each_other_stay_apart() -> None:
    probe = append(2, 5, entries(6, 6), 4)  # after a rejection the leader backs up
    other_term = append(2, 6, entries(7, 7), 4)
    other_term.term = TERM + 1
    messages = [append(2, 10, entries(11, 12), 9), probe, other_term]
    assert coalesce_appends(messages, 1 << 20) == messages


def test_a_joined_append_stays_within_the_size_cap() -> None:
    first, second = entries(11, 12, size=100), entries(13, 14, size=100)
    cap = sum(entry_size(e) for e in first + second)
    messages = [append(2, 10, first, 9), append(2, 12, second, 9)]
    assert len(coalesce_appends(messages, cap)) == 1
    messages = [append(2, 10, entries(11, 12, 100), 9), append(2, 12, entries(13, 14, 100), 9)]
    assert len(coalesce_appends(messages, cap - 1)) == 2


def test_the_log_s_entry_lists_are_not_changed() -> None:
    """The entries an append carries may be the log's own list: joining copies."""
    carried = entries(11, 12)
    coalesce_appends([append(2, 10, carried, 9), append(2, 12, entries(13, 13), 9)], 1 << 20)
    assert [e.index for e in carried] == [11, 12]
