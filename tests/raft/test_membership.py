"""Membership changes (thesis chapter 4): single-server changes, learners, removal of the leader."""

from __future__ import annotations

import pytest

from keyraft.raft import ConfChange, ConfChangeType, MessageType, ProposalDropped, StateRole
from keyraft.raft.codec import encode_conf_change
from keyraft.raft.messages import Entry, EntryType, Message
from tests.raft.harness import Cluster


def add_learner(cluster: Cluster, leader: int, node_id: int) -> None:
    cluster.add(node_id)
    cluster.propose_conf_change(leader, ConfChange(ConfChangeType.ADD_LEARNER_NODE, node_id))
    cluster.tick(leader, 2)


def test_a_learner_receives_the_log_but_does_not_vote_or_count() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose(1, b"before")
    add_learner(cluster, 1, 4)
    cluster.propose(1, b"after")
    assert cluster.applied[4][-1] == b"after"
    learner = cluster.raft(4)
    assert 4 in learner.tracker.learners and 4 not in learner.tracker.voters
    # It is not counted: with both other voters cut off nothing commits.
    cluster.isolate(2)
    cluster.isolate(3)
    committed = cluster.raft(1).log.committed
    cluster.nodes[1].propose(b"needs a voter")
    cluster.stabilize()
    assert cluster.raft(1).log.committed == committed
    # And it never campaigns.
    cluster.heal()
    cluster.isolate(1)
    for _ in range(60):
        cluster.nodes[4].tick()
        cluster.stabilize()
    assert cluster.raft(4).role == StateRole.FOLLOWER


def test_promoted_learner_votes_and_counts() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    add_learner(cluster, 1, 4)
    cluster.propose_conf_change(1, ConfChange(ConfChangeType.ADD_NODE, 4))
    assert cluster.raft(1).tracker.voters == {1, 2, 3, 4}
    assert cluster.raft(4).tracker.voters == {1, 2, 3, 4}
    cluster.isolate(1)
    cluster.campaign(4)
    assert cluster.raft(4).role == StateRole.LEADER


def test_only_one_membership_change_may_be_pending() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(2)
    cluster.isolate(3)
    cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    with pytest.raises(ProposalDropped):
        cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 5))
    cluster.heal()
    cluster.tick(1, 2)
    cluster.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 5))
    assert cluster.raft(1).tracker.learners == {4, 5}


def test_a_pending_change_inside_a_batch_becomes_an_empty_entry() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(2)
    cluster.isolate(3)
    cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    data = encode_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 5))
    cluster.raft(1).step(
        Message(
            type=MessageType.PROPOSE,
            entries=[Entry(0, 0, data=b"x"), Entry(0, 0, EntryType.CONF_CHANGE, data)],
        )
    )
    log = cluster.raft(1).log
    last = log.slice(log.last_index(), log.last_index() + 1)[0]
    assert last.type == EntryType.NORMAL and last.data == b""


def test_a_new_leader_accepts_changes_only_after_committing_in_its_term() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(2)
    cluster.isolate(3)
    raft = cluster.raft(1)
    raft.become_follower(raft.term, 0)
    raft.become_candidate()
    raft.become_leader()  # a new term whose empty entry cannot commit yet
    cluster.stabilize()
    change = ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4)
    with pytest.raises(ProposalDropped):
        cluster.nodes[1].propose_conf_change(change)
    cluster.heal()
    cluster.tick(1, 1)  # the empty entry commits and is applied
    cluster.propose_conf_change(1, change)
    assert 4 in raft.tracker.learners


def test_the_last_voter_cannot_be_removed() -> None:
    cluster = Cluster.create(1)
    cluster.tick(1, 20)
    cluster.propose(1, b"x")
    with pytest.raises(ProposalDropped):
        cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 1))


def test_removed_leader_steps_down_and_the_rest_elect_a_new_one() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose_conf_change(1, ConfChange(ConfChangeType.REMOVE_NODE, 1))
    assert cluster.raft(1).role == StateRole.FOLLOWER
    assert cluster.raft(2).tracker.voters == {2, 3}
    cluster.isolate(1)
    cluster.tick_all(40)
    leader = cluster.leader()
    assert leader in (2, 3)
    cluster.propose(leader, b"two members")
    assert cluster.applied[2][-1] == b"two members"


def test_removing_a_voter_shrinks_the_quorum() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose_conf_change(1, ConfChange(ConfChangeType.REMOVE_NODE, 3))
    cluster.isolate(3)
    cluster.isolate(2)
    cluster.nodes[1].propose(b"needs 2 of 2")
    cluster.stabilize()
    assert cluster.applied[1] == []
    cluster.heal()
    cluster.isolate(3)
    cluster.tick(1, 1)
    assert cluster.applied[1] == [b"needs 2 of 2"]


def test_a_node_with_an_unapplied_committed_change_does_not_campaign() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    raft = cluster.raft(2)
    change_index = raft.log.committed
    assert raft.log.slice(change_index, change_index + 1)[0].type == EntryType.CONF_CHANGE
    cluster.isolate(1)
    raft.log.applied = change_index - 1  # as if the change were committed but not yet applied
    cluster.campaign(2)
    assert raft.role == StateRole.FOLLOWER
    raft.log.applied = change_index
    cluster.campaign(2)
    assert raft.role == StateRole.LEADER
