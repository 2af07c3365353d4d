"""Log replication: Raft Figure 2 "AppendEntries" and the leader's commit rule (§5.3, §5.4.2)."""

from __future__ import annotations

import pytest

from keyraft.raft import Entry, MessageType, ProgressState, ProposalDropped, StateRole
from keyraft.raft.log import RaftLog
from tests.raft.harness import Cluster, make_node, settle, step_raw


def entries(*terms: int, start: int = 2) -> list[Entry]:
    return [Entry(term=term, index=start + offset) for offset, term in enumerate(terms)]


def follower_with_log(*terms: int) -> object:
    """Node 2 of {1,2,3}: bootstrap entry 1 (term 1) then entries of `terms` from index 2."""
    node = make_node(2, (1, 2, 3))
    settle(node)
    raft = node.raft
    raft.become_follower(max(terms, default=1), 1)
    raft.log.append(entries(*terms))
    settle(node)
    return raft


def test_replicated_entries_commit_and_apply_everywhere_in_order() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    for value in (b"a", b"b", b"c"):
        cluster.propose(1, value)
    for node_id in (1, 2, 3):
        assert cluster.applied[node_id] == [b"a", b"b", b"c"]
        assert cluster.raft(node_id).log.committed == cluster.raft(1).log.last_index()


def test_follower_rejects_append_when_it_lacks_the_previous_entry() -> None:
    raft = follower_with_log(1, 1)  # last index 3
    out = step_raw(raft, MessageType.APPEND, sender=1, term=raft.term, index=5, log_term=1)
    assert out[0].reject and out[0].index == 5
    assert out[0].reject_hint == 3  # our last index: the leader may jump straight there


def test_follower_rejects_append_whose_previous_term_differs_and_hints_by_term() -> None:
    raft = follower_with_log(2, 2, 2, 3, 3)  # indexes 2..6
    out = step_raw(raft, MessageType.APPEND, sender=1, term=5, index=6, log_term=2)
    # Entries 5 and 6 have term 3 > 2: none can match, so the hint skips to index 4 (term 2).
    assert out[0].reject and (out[0].reject_hint, out[0].log_term) == (4, 2)


def test_conflicting_uncommitted_entries_are_replaced_by_the_leaders() -> None:
    raft = follower_with_log(2, 2, 3)
    new = entries(4, 4, start=3)
    out = step_raw(raft, MessageType.APPEND, sender=1, term=4, index=2, log_term=2, entries=new)
    assert not out[0].reject and out[0].index == 4
    assert [raft.log.term(i) for i in range(2, 5)] == [2, 4, 4]


def test_a_stale_duplicate_append_never_truncates_a_longer_matching_log() -> None:
    raft = follower_with_log(2, 2, 2)
    out = step_raw(
        raft, MessageType.APPEND, sender=1, term=2, index=1, log_term=1, entries=entries(2)
    )
    assert out[0].index == 2
    assert raft.log.last_index() == 4


def test_follower_commit_is_min_of_leader_commit_and_last_new_entry() -> None:
    raft = follower_with_log(2, 2, 2, 2)
    step_raw(raft, MessageType.APPEND, sender=1, term=2, index=2, log_term=2, commit=9)
    assert raft.log.committed == 2
    step_raw(raft, MessageType.APPEND, sender=1, term=2, index=3, log_term=2, commit=9, entries=[])
    assert raft.log.committed == 3


def figure_8_commit_after_old_entry_ack() -> tuple[int, int, int]:
    """Leader of a new term whose older entry reaches a majority before its own entry does.

    Returns (commit after the old entry's ack, old entry index, commit after the new entry's ack).
    """
    cluster = Cluster.create(3)
    cluster.campaign(1)
    leader = cluster.raft(1)
    # Pretend node 1 leads term 5 with an old term-3 entry at index 3 that it replicated.
    leader.become_follower(4, 0)
    leader.log.append([Entry(term=3, index=leader.log.last_index() + 1)])
    old_index = leader.log.last_index()
    settle(cluster.nodes[1])
    leader.become_candidate()
    leader.become_leader()
    leader.msgs.clear()
    noop_index = leader.log.last_index()
    assert noop_index == old_index + 1
    # Node 2 acknowledges only the old entry: a majority holds it.
    step_raw(leader, MessageType.APPEND_RESPONSE, sender=2, term=leader.term, index=old_index)
    after_old = leader.log.committed
    step_raw(leader, MessageType.APPEND_RESPONSE, sender=2, term=leader.term, index=noop_index)
    assert noop_index == old_index + 1
    return after_old, old_index, leader.log.committed


def test_leader_commits_only_entries_of_its_own_term_by_counting() -> None:
    """Figure 8: an old-term entry on a majority is not committed until a current-term one is."""
    after_old, old_index, after_new = figure_8_commit_after_old_entry_ack()
    assert after_old < old_index
    assert after_new == old_index + 1  # once the current-term entry is on a majority, both commit


def test_the_figure_8_check_fails_when_old_terms_are_committed_by_counting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The random simulator rarely reaches Figure 8's schedule; this scripted one always does."""

    def commit_by_counting(self: RaftLog, index: int, term: int) -> bool:
        if index > self.committed and self.term_or_zero(index) > 0:
            self.commit_to(index)
            return True
        return False

    monkeypatch.setattr(RaftLog, "maybe_commit", commit_by_counting)
    after_old, old_index, _ = figure_8_commit_after_old_entry_ack()
    assert after_old >= old_index  # the bug commits the old entry: the check above would fail


def test_appends_respect_max_size_per_message() -> None:
    cluster = Cluster.create(3, max_size_per_msg=100)
    cluster.campaign(1)
    cluster.delivered.clear()
    cluster.nodes[1].propose_batch([b"x" * 40] * 6)
    cluster.stabilize()
    appends = [m for m in cluster.delivered if m.type == MessageType.APPEND and m.entries]
    assert appends and all(len(m.entries) <= 1 for m in appends)  # 40 + 21 bytes each
    assert cluster.applied[2] == [b"x" * 40] * 6


def test_replicate_state_pipelines_up_to_the_inflight_limit() -> None:
    cluster = Cluster.create(3, max_inflight_msgs=2)
    cluster.campaign(1)
    leader = cluster.raft(1)
    cluster.isolate(2)
    cluster.isolate(3)
    for index in range(5):
        cluster.nodes[1].propose(b"%d" % index)
        cluster.stabilize()
    progress = leader.tracker.progress[2]
    assert progress.state == ProgressState.REPLICATE
    assert len(progress.inflights) == 2 and progress.is_paused()


def test_probe_state_sends_one_append_per_heartbeat() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    leader = cluster.raft(1)
    progress = leader.tracker.progress[2]
    progress.become_probe()
    cluster.isolate(2)
    cluster.delivered.clear()
    for index in range(3):
        cluster.nodes[1].propose(b"%d" % index)
    sent = [m for m in settle(cluster.nodes[1]) if m.to == 2 and m.type == MessageType.APPEND]
    assert len(sent) == 1 and progress.probe_sent


def test_fast_backtracking_needs_few_round_trips() -> None:
    """A follower with a long divergent tail is repaired in a handful of rejections, not one per entry."""
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(1)
    for index in range(50):  # node 1 leads alone: 50 entries that will never commit
        cluster.nodes[1].propose(b"stale%d" % index)
        cluster.stabilize()
    cluster.heal()
    cluster.isolate(1)
    cluster.campaign(2)
    for index in range(50):
        cluster.propose(2, b"new%d" % index)
    # A fresh leader probes node 1 right after its own last index, far beyond the match.
    cluster.nodes[2].transfer_leader(3)
    cluster.stabilize()
    assert cluster.raft(3).role == StateRole.LEADER
    assert cluster.raft(3).tracker.progress[1].next == cluster.raft(3).log.last_index()
    cluster.heal()
    cluster.delivered.clear()
    cluster.tick(3, 1)
    rejects = [m for m in cluster.delivered if m.type == MessageType.APPEND_RESPONSE and m.reject]
    assert 1 <= len(rejects) <= 2
    assert cluster.raft(1).log.last_index() == cluster.raft(3).log.last_index()
    assert cluster.applied[1][-1] == b"new49"


def test_follower_forwards_proposals_to_the_leader() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose(3, b"via follower")
    assert cluster.applied[1] == [b"via follower"]


def test_a_leader_that_was_partitioned_away_loses_its_uncommitted_entries() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(1)
    cluster.nodes[1].propose(b"lost")
    cluster.stabilize()
    cluster.campaign(2)
    cluster.propose(2, b"kept")
    cluster.heal()
    cluster.tick(2, 1)
    assert cluster.raft(1).role == StateRole.FOLLOWER
    for node_id in (1, 2, 3):
        assert cluster.applied[node_id] == [b"kept"]


def test_propose_during_leader_transfer_is_dropped() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    cluster.nodes[1].transfer_leader(3)
    with pytest.raises(ProposalDropped):
        cluster.nodes[1].propose(b"x")
