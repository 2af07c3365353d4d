"""Flow control (progress states, inflights) and quorum arithmetic."""

from __future__ import annotations

import pytest

from keyraft.raft.progress import Inflights, Progress, ProgressState
from keyraft.raft.quorum import VoteResult, committed_index, has_quorum, vote_result


def test_inflights_fill_and_free_in_order() -> None:
    window = Inflights(3)
    for last in (5, 7, 9):
        window.add(last, 10)
    assert window.full()
    with pytest.raises(OverflowError):
        window.add(11, 1)
    window.free_le(7)
    assert len(window) == 1 and not window.full() and window.bytes == 10
    window.free_first_one()
    assert len(window) == 0


def test_inflights_byte_limit() -> None:
    window = Inflights(100, max_bytes=25)
    window.add(1, 10)
    window.add(2, 15)
    assert window.full()


def test_probe_pauses_after_one_send_and_resumes_on_ack() -> None:
    progress = Progress(5, Inflights(4))
    assert not progress.is_paused()
    progress.sent_entries(3, 30)
    assert progress.is_paused() and progress.next == 5  # probe does not move next optimistically
    assert progress.maybe_update(7)
    assert not progress.is_paused() and progress.next == 8


def test_replicate_advances_next_optimistically_and_pauses_when_window_full() -> None:
    progress = Progress(5, Inflights(2), match=4)
    progress.become_replicate()
    progress.sent_entries(2, 20)
    progress.sent_entries(1, 10)
    assert progress.next == 8 and progress.is_paused()
    progress.maybe_update(6)
    progress.inflights.free_le(6)
    assert not progress.is_paused()


def test_stale_rejections_are_ignored() -> None:
    progress = Progress(10, Inflights(4), match=5)
    progress.become_replicate()
    assert not progress.maybe_decrease_to(4, 4)  # below match: old news
    assert progress.maybe_decrease_to(8, 6)
    assert progress.next == 6
    progress.become_probe()
    assert not progress.maybe_decrease_to(9, 1)  # we did not send after 9
    assert progress.maybe_decrease_to(5, 2) and progress.next == 6  # never below match + 1


def test_snapshot_state_pauses_and_probes_after_it() -> None:
    progress = Progress(3, Inflights(4), match=2)
    progress.become_snapshot(20)
    assert progress.is_paused() and progress.state == ProgressState.SNAPSHOT
    progress.become_probe()
    assert progress.next == 21


@pytest.mark.parametrize(
    ("matches", "expected"),
    [([5], 5), ([5, 3], 3), ([5, 3, 1], 3), ([9, 8, 1, 1], 1), ([9, 8, 7, 1, 1], 7)],
)
def test_committed_index_is_the_majority_match(matches: list[int], expected: int) -> None:
    voters = list(range(len(matches)))
    assert committed_index(voters, lambda v: matches[v]) == expected


def test_vote_results() -> None:
    voters = {1, 2, 3, 4, 5}
    assert vote_result(voters, {1: True, 2: True}) == VoteResult.PENDING
    assert vote_result(voters, {1: True, 2: True, 3: True}) == VoteResult.WON
    assert vote_result(voters, {1: True, 2: False, 3: False, 4: False}) == VoteResult.LOST
    assert vote_result(voters, {1: True, 9: True, 8: True}) == VoteResult.PENDING  # outsiders
    assert has_quorum({1, 2, 3}, {1, 3}) and not has_quorum({1, 2, 3, 4}, {1, 3})
