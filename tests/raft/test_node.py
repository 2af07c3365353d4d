"""The RawNode contract: what a Ready holds, when, and what advance() does."""

from __future__ import annotations

import pytest

from keyraft.raft import (
    ConfChange,
    ConfChangeType,
    HardState,
    Message,
    MessageType,
    ProgressState,
    ReadyNotAdvancedError,
    SoftState,
    StateRole,
    StepLocalMessageError,
)
from tests.raft.harness import Cluster, make_node, settle


def test_bootstrap_ready_carries_the_founding_snapshot_and_hard_state() -> None:
    node = make_node(1, (1, 2, 3))
    assert node.has_ready()
    ready = node.ready()
    assert ready.snapshot is not None and ready.snapshot.conf_state.voters == (1, 2, 3)
    assert ready.hard_state == HardState(term=1, vote=0, commit=1)
    assert ready.must_sync is True
    assert ready.entries == [] and ready.committed_entries == [] and ready.messages == []
    node.advance(ready)
    assert not node.has_ready()


def test_single_node_ready_cycle() -> None:
    node = make_node(1, (1,))
    settle(node)
    node.campaign()
    ready = node.ready()
    assert ready.soft_state == SoftState(leader=1, role=StateRole.LEADER)
    assert [e.index for e in ready.entries] == [2]
    assert ready.hard_state == HardState(term=2, vote=1, commit=2)
    assert [e.index for e in ready.committed_entries] == [2]
    with pytest.raises(ReadyNotAdvancedError):
        node.ready()
    assert not node.has_ready()  # nothing new until the outstanding Ready is advanced
    node.raft.log.storage.append(ready.entries)  # type: ignore[attr-defined]
    node.advance(ready)
    assert node.raft.log.applied == 2 and node.raft.log.unstable.entries == []
    node.propose(b"x")
    ready = node.ready()
    assert ready.soft_state is None  # unchanged
    assert ready.must_sync is True
    assert [e.data for e in ready.committed_entries] == [b"x"]


def test_messages_stepped_between_ready_and_advance_go_in_the_next_ready() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    node = cluster.nodes[1]
    node.propose(b"a")
    ready = node.ready()
    node.propose(b"b")
    cluster.storages[1].append(ready.entries)
    node.advance(ready)
    second = node.ready()
    assert [e.data for e in second.entries] == [b"b"]


def test_local_message_types_are_refused_from_the_network() -> None:
    node = make_node(1, (1, 2, 3))
    with pytest.raises(StepLocalMessageError):
        node.step(Message(type=MessageType.HUP, sender=2, term=5))


def test_responses_from_unknown_nodes_are_dropped() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.nodes[1].step(Message(type=MessageType.APPEND_RESPONSE, sender=42, term=2, index=9))
    assert cluster.raft(1).role == StateRole.LEADER


def test_status_reports_progress_on_the_leader() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    status = cluster.nodes[1].status()
    assert status.soft_state.role == StateRole.LEADER
    assert set(status.progress) == {1, 2, 3}
    assert status.progress[2].state == ProgressState.REPLICATE
    assert status.conf_state.voters == (1, 2, 3)
    assert cluster.nodes[2].status().progress == {}


def test_report_unreachable_moves_a_replicating_follower_to_probe() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.nodes[1].report_unreachable(2)
    assert cluster.raft(1).tracker.progress[2].state == ProgressState.PROBE


def test_apply_conf_change_returns_the_new_membership() -> None:
    node = make_node(1, (1, 2, 3))
    settle(node)
    conf = node.apply_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    assert conf.voters == (1, 2, 3) and conf.learners == (4,)
    conf = node.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4))
    assert conf.voters == (1, 2, 3, 4) and conf.learners == ()
    conf = node.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2))
    assert conf.voters == (1, 3, 4)
