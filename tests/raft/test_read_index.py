"""ReadIndex (thesis §6.4): linearizable reads without writing to the log."""

from __future__ import annotations

import pytest

from keyraft.raft import MessageType, ReadIndexDropped, ReadState
from tests.raft.harness import Cluster, make_node


def test_single_voter_answers_at_once_with_its_commit_index() -> None:
    cluster = Cluster.create(1)
    cluster.tick(1, 20)
    cluster.propose(1, b"x")
    cluster.nodes[1].read_index(b"r1")
    cluster.stabilize()
    assert cluster.read_states[1] == [ReadState(index=cluster.raft(1).log.committed, context=b"r1")]


def test_leader_answers_after_a_heartbeat_round_reaches_a_quorum() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose(1, b"x")
    committed = cluster.raft(1).log.committed
    cluster.delivered.clear()
    cluster.nodes[1].read_index(b"r1")
    cluster.stabilize()
    heartbeats = [m for m in cluster.delivered if m.type == MessageType.HEARTBEAT]
    assert heartbeats and all(m.context == b"r1" for m in heartbeats)
    assert cluster.read_states[1] == [ReadState(index=committed, context=b"r1")]


def test_a_leader_cut_off_from_the_quorum_never_answers() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(1)
    cluster.nodes[1].read_index(b"r1")
    cluster.stabilize()
    cluster.tick(1, 5)
    assert cluster.read_states[1] == []


def test_one_ack_besides_the_leader_is_enough_in_three_nodes() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    cluster.nodes[1].read_index(b"r1")
    cluster.stabilize()
    assert [state.context for state in cluster.read_states[1]] == [b"r1"]


def test_a_new_leader_defers_reads_until_it_commits_in_its_term() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(2)
    cluster.isolate(3)
    raft = cluster.raft(1)
    raft.become_follower(raft.term, 0)
    raft.become_candidate()
    raft.become_leader()
    own_entry = raft.log.last_index()
    cluster.stabilize()
    cluster.nodes[1].read_index(b"r1")
    cluster.stabilize()
    assert cluster.read_states[1] == [] and len(raft.pending_read_index) == 1
    cluster.heal()
    cluster.tick(1, 2)
    assert [state.context for state in cluster.read_states[1]] == [b"r1"]
    assert cluster.read_states[1][0].index >= own_entry


def test_follower_forwards_the_read_and_receives_the_leaders_index() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.propose(1, b"x")
    cluster.nodes[2].read_index(b"from-2")
    cluster.stabilize()
    assert cluster.read_states[2] == [
        ReadState(index=cluster.raft(1).log.committed, context=b"from-2")
    ]
    assert cluster.read_states[1] == []


def test_reads_answered_in_order_when_a_later_round_completes_first() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(2)
    cluster.isolate(3)
    cluster.nodes[1].read_index(b"a")
    cluster.nodes[1].read_index(b"b")
    cluster.stabilize()
    cluster.heal()
    cluster.tick(1, 1)  # the next heartbeat carries the latest context, "b"
    assert [state.context for state in cluster.read_states[1]] == [b"a", b"b"]


def test_read_without_a_leader_is_refused() -> None:
    node = make_node(1, (1, 2, 3))
    with pytest.raises(ReadIndexDropped):
        node.read_index(b"r")
    with pytest.raises(ValueError):
        node.read_index(b"")
