"""Snapshots and log compaction (§7): a follower behind the compacted log catches up by snapshot."""

from __future__ import annotations

import random

from keyraft.raft import (
    Config,
    ConfState,
    MemoryStorage,
    MessageType,
    ProgressState,
    RawNode,
    Snapshot,
    StateRole,
)
from tests.raft.harness import Cluster, make_node, settle, step_raw


def compact(cluster: Cluster, node_id: int, data: bytes = b"state") -> Snapshot:
    raft = cluster.raft(node_id)
    storage = cluster.storages[node_id]
    snapshot = storage.create_snapshot(raft.log.applied, raft.tracker.conf_state(), data)
    storage.compact(raft.log.applied)
    return snapshot


def test_follower_behind_the_compacted_log_receives_and_installs_a_snapshot() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    for index in range(10):
        cluster.propose(1, b"%d" % index)
    snapshot = compact(cluster, 1)
    cluster.heal()
    cluster.delivered.clear()
    cluster.tick(1, 1)
    assert any(m.type == MessageType.SNAPSHOT and m.to == 3 for m in cluster.delivered)
    follower = cluster.raft(3)
    assert cluster.storages[3].snapshot() == snapshot
    assert follower.log.committed == cluster.raft(1).log.committed
    assert follower.log.last_index() == cluster.raft(1).log.last_index()
    # After the snapshot the follower is replicated normally again.
    cluster.tick(1, 1)
    cluster.propose(1, b"after")
    assert cluster.applied[3] == [b"after"]
    assert cluster.raft(1).tracker.progress[3].state == ProgressState.REPLICATE


def test_snapshot_not_newer_than_our_commit_is_ignored() -> None:
    node = make_node(2, (1, 2, 3))
    settle(node)
    raft = node.raft
    raft.become_follower(2, 1)
    old = Snapshot(index=1, term=1, conf_state=ConfState((1, 2, 3)))
    out = step_raw(raft, MessageType.SNAPSHOT, sender=1, term=2, snapshot=old)
    assert not raft.log.has_pending_snapshot()
    assert out[0].type == MessageType.APPEND_RESPONSE and out[0].index == raft.log.committed


def test_failed_snapshot_report_returns_the_follower_to_probing() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    leader = cluster.raft(1)
    progress = leader.tracker.progress[2]
    progress.become_snapshot(7)
    cluster.nodes[1].report_snapshot(2, ok=False)
    assert progress.state == ProgressState.PROBE and progress.pending_snapshot == 0
    assert progress.next == progress.match + 1


def test_snapshot_is_not_sent_to_a_follower_that_is_not_recently_active() -> None:
    cluster = Cluster.create(3)
    cluster.campaign(1)
    cluster.isolate(3)
    for index in range(5):
        cluster.propose(1, b"%d" % index)
    compact(cluster, 1)
    leader = cluster.raft(1)
    leader.tracker.progress[3].recent_active = False
    leader.tracker.progress[3].become_probe()
    out = [m for m in settle(cluster.nodes[1])]
    cluster.nodes[1].propose(b"more")
    out = settle(cluster.nodes[1])
    assert not any(m.type == MessageType.SNAPSHOT for m in out)


def test_restart_from_a_snapshot_restores_membership_and_indexes() -> None:
    storage = MemoryStorage()
    storage.apply_snapshot(Snapshot(index=10, term=3, conf_state=ConfState((1, 2), (5,))))
    node = RawNode(Config(id=2, applied=10, rng=random.Random(1)), storage)
    raft = node.raft
    assert raft.tracker.voters == {1, 2} and raft.tracker.learners == {5}
    assert raft.log.first_index() == 11 and raft.log.last_index() == 10
    assert raft.log.committed == 10 and raft.log.applied == 10
    assert raft.role == StateRole.FOLLOWER


def test_storage_compaction_and_snapshot_rules() -> None:
    cluster = Cluster.create(1)
    cluster.tick(1, 20)
    for index in range(5):
        cluster.propose(1, b"%d" % index)
    storage = cluster.storages[1]
    snapshot = storage.create_snapshot(5, ConfState((1,)), b"s")
    storage.compact(4)
    assert storage.first_index() == 5 and storage.snapshot() == snapshot
    assert storage.term(4) == snapshot.term or storage.term(4) > 0
