"""Leadership transfer (thesis §3.10): catch the target up, then tell it to campaign now."""

from __future__ import annotations

from keyraft.raft import MessageType, StateRole
from tests.raft.harness import Cluster


def test_transfer_to_an_up_to_date_follower() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.delivered.clear()
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    assert any(m.type == MessageType.TIMEOUT_NOW and m.to == 2 for m in cluster.delivered)
    assert cluster.raft(2).role == StateRole.LEADER
    assert cluster.raft(1).role == StateRole.FOLLOWER and cluster.raft(1).leader == 2


def test_transfer_to_a_lagging_follower_catches_it_up_first() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    for index in range(5):
        cluster.propose(1, b"%d" % index)
    cluster.heal()
    cluster.delivered.clear()
    cluster.nodes[1].transfer_leader(3)
    cluster.stabilize()
    kinds = [m.type for m in cluster.delivered if m.to == 3]
    assert MessageType.APPEND in kinds and MessageType.TIMEOUT_NOW in kinds
    assert kinds.index(MessageType.APPEND) < kinds.index(MessageType.TIMEOUT_NOW)
    assert cluster.raft(3).role == StateRole.LEADER
    assert cluster.applied[3] == [b"%d" % index for index in range(5)]


def test_transfer_is_abandoned_after_an_election_timeout() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    cluster.nodes[1].transfer_leader(3)
    cluster.stabilize()
    assert cluster.raft(1).leader_transferee == 3
    cluster.tick(1, 10)
    assert cluster.raft(1).leader_transferee == 0
    assert cluster.raft(1).role == StateRole.LEADER
    cluster.propose(1, b"accepted again")
    assert cluster.applied[2] == [b"accepted again"]


def test_transfer_request_on_a_follower_is_forwarded_to_the_leader() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.nodes[3].transfer_leader(3)
    cluster.stabilize()
    assert cluster.raft(3).role == StateRole.LEADER


def test_transfer_to_self_or_a_learner_does_nothing() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.nodes[1].transfer_leader(1)
    cluster.stabilize()
    assert cluster.raft(1).role == StateRole.LEADER and cluster.raft(1).leader_transferee == 0
    cluster.raft(1).tracker.progress[2].is_learner = True
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    assert cluster.raft(1).role == StateRole.LEADER and cluster.raft(1).leader_transferee == 0
