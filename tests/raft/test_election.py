"""Elections: Raft Figure 2 "RequestVote" and "Rules for Servers", thesis §9.6 (pre-vote), §6.2 (check-quorum)."""

from __future__ import annotations

import random

import pytest

from keyraft.raft import Config, HardState, MemoryStorage, MessageType, ProposalDropped, StateRole
from keyraft.raft.core import Raft
from tests.raft.harness import Cluster, make_node, settle, step_raw


def bare(node_id: int = 1, voters: tuple[int, ...] = (1, 2, 3), **options: object) -> Raft:
    """A bootstrapped node whose first Ready was persisted, driven through its bare `Raft`."""
    node = make_node(node_id, voters, **options)  # type: ignore[arg-type]
    settle(node)
    return node.raft


def test_single_node_elects_itself_on_timeout_and_commits_its_empty_entry() -> None:
    cluster = Cluster.create(1)
    cluster.tick(1, 20)
    raft = cluster.raft(1)
    assert raft.role == StateRole.LEADER
    assert raft.term == 2  # bootstrap term 1, then one election
    assert raft.log.committed == raft.log.last_index() == 2


def test_three_nodes_elect_exactly_one_leader_and_agree_on_it() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    assert cluster.raft(1).role == StateRole.LEADER
    for node_id in (2, 3):
        assert cluster.raft(node_id).role == StateRole.FOLLOWER
        assert cluster.raft(node_id).leader == 1
        assert cluster.raft(node_id).term == cluster.raft(1).term
        assert cluster.raft(node_id).vote == 1


def test_candidate_increments_term_votes_for_itself_and_requests_votes() -> None:
    raft = bare()
    out = step_raw(raft, MessageType.HUP)
    assert raft.role == StateRole.CANDIDATE
    assert raft.term == 2 and raft.vote == 1
    assert sorted(m.to for m in out) == [2, 3]
    assert all(m.type == MessageType.VOTE and m.term == 2 for m in out)
    assert all(m.index == raft.log.last_index() and m.log_term == raft.log.last_term() for m in out)


def test_a_voter_grants_at_most_one_vote_per_term() -> None:
    raft = bare(1)
    first = step_raw(raft, MessageType.VOTE, sender=2, to=1, term=5, index=1, log_term=1)
    second = step_raw(raft, MessageType.VOTE, sender=3, to=1, term=5, index=1, log_term=1)
    again = step_raw(raft, MessageType.VOTE, sender=2, to=1, term=5, index=1, log_term=1)
    assert not first[0].reject
    assert second[0].reject
    assert not again[0].reject  # repeating the same vote is fine (duplicated request)
    assert raft.vote == 2


@pytest.mark.parametrize(
    ("candidate_index", "candidate_term", "granted"),
    [(1, 1, False), (5, 1, False), (2, 2, True), (3, 2, True), (1, 3, True)],
)
def test_vote_needs_a_log_at_least_as_up_to_date(
    candidate_index: int, candidate_term: int, granted: bool
) -> None:
    cluster = Cluster.create(1)
    cluster.tick(1, 20)  # our log ends at (2, term 2)
    raft = cluster.raft(1)
    assert (raft.log.last_index(), raft.log.last_term()) == (2, 2)
    out = step_raw(
        raft,
        MessageType.VOTE,
        sender=2,
        term=10,
        index=candidate_index,
        log_term=candidate_term,
    )
    assert out[0].reject is (not granted)
    assert raft.term == 10 and raft.role == StateRole.FOLLOWER


def test_any_message_with_a_higher_term_turns_a_leader_into_a_follower() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    raft = cluster.raft(1)
    step_raw(raft, MessageType.APPEND, sender=2, term=raft.term + 1, index=0, log_term=0)
    assert raft.role == StateRole.FOLLOWER
    assert raft.leader == 2


def test_a_message_from_an_older_term_is_ignored() -> None:
    raft = bare()
    step_raw(raft, MessageType.HUP)
    step_raw(raft, MessageType.HUP)  # term 3
    out = step_raw(raft, MessageType.VOTE_RESPONSE, sender=2, term=2)
    assert out == [] and raft.role == StateRole.CANDIDATE


def test_a_stale_leader_is_told_the_newer_term_so_it_steps_down() -> None:
    raft = bare(check_quorum=True)
    raft.become_follower(7, 2)
    out = step_raw(raft, MessageType.APPEND, sender=3, term=4, index=0, log_term=0)
    assert [(m.type, m.term, m.to) for m in out] == [(MessageType.APPEND_RESPONSE, 7, 3)]


def test_candidate_yields_to_a_leader_of_its_own_term() -> None:
    raft = bare()
    step_raw(raft, MessageType.HUP)
    step_raw(raft, MessageType.HEARTBEAT, sender=3, term=raft.term, commit=0)
    assert raft.role == StateRole.FOLLOWER and raft.leader == 3


def test_candidate_that_loses_the_majority_becomes_follower() -> None:
    raft = bare()
    step_raw(raft, MessageType.HUP)
    step_raw(raft, MessageType.VOTE_RESPONSE, sender=2, term=raft.term, reject=True)
    step_raw(raft, MessageType.VOTE_RESPONSE, sender=3, term=raft.term, reject=True)
    assert raft.role == StateRole.FOLLOWER


def test_randomized_election_timeout_stays_in_one_to_two_election_timeouts() -> None:
    seen = set()
    for seed in range(200):
        raft = make_node(1, (1, 2, 3), seed=seed, election_tick=10).raft
        raft.reset(raft.term)
        seen.add(raft.randomized_election_timeout)
    assert seen == set(range(10, 20))


def test_follower_campaigns_once_its_randomized_timeout_elapses() -> None:
    raft = bare()
    raft.randomized_election_timeout = 13
    for _ in range(12):
        raft.tick()
    assert raft.role == StateRole.FOLLOWER
    raft.tick()
    assert raft.role == StateRole.CANDIDATE


def test_learners_and_non_members_never_campaign() -> None:
    learner_node = make_node(4, (1, 2, 3), learners=(4,))
    settle(learner_node)
    learner = learner_node.raft
    stranger = make_node(9).raft
    assert 4 in learner.tracker.learners
    for raft in (learner, stranger):
        for _ in range(100):
            raft.tick()
        assert raft.role == StateRole.FOLLOWER and raft.term <= 1


def test_proposals_without_a_leader_are_dropped_with_a_clear_signal() -> None:
    node = make_node(1, (1, 2, 3))
    with pytest.raises(ProposalDropped):
        node.propose(b"x")
    node.campaign()
    with pytest.raises(ProposalDropped):
        node.propose(b"x")  # a candidate has no leader either


# ---- pre-vote (thesis §9.6) ----


def test_pre_vote_does_not_change_any_term() -> None:
    raft = bare(pre_vote=True)
    out = step_raw(raft, MessageType.HUP)
    assert raft.role == StateRole.PRE_CANDIDATE and raft.term == 1 and raft.vote == 0
    assert all(m.type == MessageType.PRE_VOTE and m.term == 2 for m in out)
    voter = bare(2, pre_vote=True)
    answer = step_raw(voter, MessageType.PRE_VOTE, sender=1, term=2, index=1, log_term=1)
    assert not answer[0].reject and answer[0].term == 2
    assert voter.term == 1 and voter.vote == 0


def test_pre_vote_success_leads_to_a_real_election() -> None:
    cluster = Cluster.create(3, pre_vote=True)
    cluster.campaign(2)
    assert cluster.raft(2).role == StateRole.LEADER
    assert cluster.raft(2).term == 2


def test_a_partitioned_node_with_pre_vote_does_not_inflate_its_term_or_disrupt_on_return() -> None:
    cluster = Cluster.create(3, pre_vote=True, check_quorum=True)
    cluster.campaign(1)
    term = cluster.raft(1).term
    cluster.isolate(3)
    for _ in range(100):
        cluster.nodes[3].tick()
        cluster.stabilize()
    assert cluster.raft(3).term == term  # pre-votes failed, so no real election started
    cluster.heal()
    cluster.tick_all(3)
    assert cluster.raft(1).role == StateRole.LEADER and cluster.raft(1).term == term


def test_without_pre_vote_a_returning_node_forces_a_new_term() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    term = cluster.raft(1).term
    cluster.isolate(3)
    for _ in range(30):
        cluster.nodes[3].tick()
        cluster.stabilize()
    assert cluster.raft(3).term > term
    cluster.heal()
    cluster.tick_all(30)
    assert cluster.raft(1).term > term  # the old leader had to step down


# ---- check-quorum and leader stickiness ----


def test_leader_that_cannot_hear_a_quorum_steps_down_after_an_election_timeout() -> None:
    cluster = Cluster.create(3, check_quorum=True)
    cluster.campaign(1)
    cluster.isolate(1)
    for _ in range(2 * 10 + 1):
        cluster.nodes[1].tick()
        cluster.stabilize()
    assert cluster.raft(1).role == StateRole.FOLLOWER


def test_leader_with_a_live_quorum_keeps_leading() -> None:
    cluster = Cluster.create(3, check_quorum=True)
    cluster.campaign(1)
    cluster.isolate(3)
    for _ in range(50):
        cluster.nodes[1].tick()
        cluster.stabilize()
    assert cluster.raft(1).role == StateRole.LEADER


def test_follower_that_heard_from_a_leader_recently_ignores_vote_requests() -> None:
    cluster = Cluster.create(3, check_quorum=True)
    cluster.campaign(1)
    follower = cluster.raft(2)
    term = follower.term
    out = step_raw(follower, MessageType.VOTE, sender=3, term=term + 1, index=99, log_term=99)
    assert out == [] and follower.term == term and follower.leader == 1


def test_leader_transfer_overrides_stickiness() -> None:
    cluster = Cluster.create(3, check_quorum=True)
    cluster.campaign(1)
    cluster.nodes[1].transfer_leader(3)
    cluster.stabilize()
    assert cluster.raft(3).role == StateRole.LEADER


def test_restart_keeps_term_and_vote() -> None:
    storage = MemoryStorage()
    storage.set_hard_state(HardState(term=5, vote=3, commit=0))
    raft = Raft(Config(id=1, rng=random.Random(0)), storage)
    assert (raft.term, raft.vote) == (5, 3)
    out = step_raw(raft, MessageType.VOTE, sender=2, term=5, index=9, log_term=9)
    assert out[0].reject  # already voted for 3 in term 5
