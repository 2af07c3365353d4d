"""The log: MemoryStorage, the unstable tail, and RaftLog's matching and commit rules."""

from __future__ import annotations

import pytest

from keyraft.raft import (
    CompactedError,
    ConfState,
    Entry,
    LogInvariantError,
    MemoryStorage,
    UnavailableError,
)
from keyraft.raft.log import RaftLog


def ents(start: int, *terms: int) -> list[Entry]:
    return [Entry(term=term, index=start + offset) for offset, term in enumerate(terms)]


def storage_with(*terms: int) -> MemoryStorage:
    storage = MemoryStorage()
    storage.append(ents(1, *terms))
    return storage


def test_memory_storage_reads_terms_and_ranges() -> None:
    storage = storage_with(1, 1, 2, 3)
    assert (storage.first_index(), storage.last_index()) == (1, 4)
    assert [storage.term(i) for i in range(0, 5)] == [0, 1, 1, 2, 3]
    assert [e.index for e in storage.entries(2, 4)] == [2, 3]
    with pytest.raises(UnavailableError):
        storage.term(5)
    with pytest.raises(UnavailableError):
        storage.entries(2, 6)


def test_memory_storage_append_overwrites_the_conflicting_suffix() -> None:
    storage = storage_with(1, 1, 2, 3)
    storage.append(ents(3, 5))
    assert storage.last_index() == 3 and storage.term(3) == 5


def test_memory_storage_append_rejects_a_gap() -> None:
    storage = storage_with(1)
    with pytest.raises(LogInvariantError):
        storage.append(ents(5, 1))


def test_memory_storage_compaction_needs_a_snapshot_and_keeps_the_boundary_term() -> None:
    storage = storage_with(1, 1, 2, 3)
    with pytest.raises(LogInvariantError):
        storage.compact(2)
    storage.create_snapshot(3, ConfState((1,)), b"s")
    storage.compact(3)
    assert storage.first_index() == 4 and storage.term(3) == 2
    with pytest.raises(CompactedError):
        storage.term(2)
    with pytest.raises(CompactedError):
        storage.entries(3, 4)


def test_max_size_limits_but_always_returns_one_entry() -> None:
    storage = MemoryStorage()
    storage.append([Entry(term=1, index=i, data=b"x" * 100) for i in range(1, 6)])
    assert len(storage.entries(1, 6, max_size=1)) == 1
    assert len(storage.entries(1, 6, max_size=250)) == 2


def test_raft_log_spans_storage_and_unstable() -> None:
    log = RaftLog(storage_with(1, 1))
    log.append(ents(3, 2, 2))
    assert log.last_index() == 4 and log.term(4) == 2
    assert [e.index for e in log.slice(1, 5)] == [1, 2, 3, 4]
    log.stable_to(4, 2)
    assert log.unstable.entries == [] and log.unstable.offset == 5


def test_stable_to_ignores_an_entry_that_was_overwritten_meanwhile() -> None:
    log = RaftLog(storage_with(1))
    log.append(ents(2, 1, 1))
    log.append(ents(3, 2))  # index 3 rewritten with term 2 before the old Ready was persisted
    log.stable_to(3, 1)
    assert [e.term for e in log.unstable.entries] == [1, 2]


def test_maybe_append_rejects_on_mismatch_and_truncates_only_conflicts() -> None:
    log = RaftLog(storage_with(1, 1, 1))
    assert log.maybe_append(3, 2, 0, ents(4, 2)) is None
    assert log.maybe_append(2, 1, 2, ents(3, 2, 2)) == 4
    assert [log.term(i) for i in range(1, 5)] == [1, 1, 2, 2]
    assert log.committed == 2
    assert log.maybe_append(1, 1, 2, ents(2, 1)) == 2  # already held: nothing truncated
    assert log.last_index() == 4


def test_committed_entries_cannot_be_overwritten() -> None:
    log = RaftLog(storage_with(1, 1, 1))
    log.commit_to(3)
    with pytest.raises(LogInvariantError):
        log.maybe_append(1, 1, 3, ents(2, 5))


def test_commit_beyond_the_last_index_is_a_bug() -> None:
    log = RaftLog(storage_with(1))
    with pytest.raises(LogInvariantError):
        log.commit_to(2)


@pytest.mark.parametrize(
    ("index", "term", "expected"),
    [(7, 3, (5, 3)), (7, 2, (3, 2)), (7, 9, (7, 4)), (7, 0, (0, 0)), (2, 3, (2, 1))],
)
def test_find_conflict_by_term(index: int, term: int, expected: tuple[int, int]) -> None:
    log = RaftLog(storage_with(1, 1, 2, 3, 3, 4, 4))
    assert log.find_conflict_by_term(index, term) == expected


def test_up_to_date_compares_last_term_then_length() -> None:
    log = RaftLog(storage_with(1, 2, 2))
    assert log.is_up_to_date(3, 2) and log.is_up_to_date(1, 3)
    assert not log.is_up_to_date(2, 2) and not log.is_up_to_date(9, 1)


def test_next_committed_entries_are_handed_out_once() -> None:
    log = RaftLog(storage_with(1, 1, 1))
    log.commit_to(2)
    assert [e.index for e in log.next_committed_entries()] == [1, 2]
    log.accept_applying(2)
    assert log.next_committed_entries() == []
    log.commit_to(3)
    assert [e.index for e in log.next_committed_entries()] == [3]
