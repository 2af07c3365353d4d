"""Forcing a member alone: the log keeps what was committed, loses the uncommitted tail,
and ends with committed removals of every other member."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.raft.codec import decode_conf_change, encode_conf_change
from keyraft.raft.io.standalone import StandaloneError, force_standalone
from keyraft.raft.io.wal import WriteAheadLog
from keyraft.raft.messages import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
)


def data(index: int, term: int = 2) -> Entry:
    return Entry(term, index, data=b"put-%d" % index)


def conf(index: int, kind: ConfChangeType, node: int) -> Entry:
    return Entry(2, index, EntryType.CONF_CHANGE, encode_conf_change(ConfChange(kind, node)))


def test_the_others_are_removed_after_the_committed_log(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path))
    wal.rewrite(Snapshot(3, 1, ConfState((1, 2, 3))), HardState(1, 1, 3), [])
    log = [data(4), conf(5, ConfChangeType.ADD_LEARNER_NODE, 4), data(6), data(7), data(8)]
    wal.save(HardState(3, 2, 6), log)
    wal.close()

    removed = force_standalone(str(tmp_path), 2, ConfState((1, 2, 3)), b"ctx")

    assert removed == [1, 3, 4]
    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.hard_state == HardState(3, 2, 9)
    assert recovered.entries[:3] == log[:3]  # 7 and 8 were never committed: gone
    removals = recovered.entries[3:]
    assert [(entry.index, entry.term) for entry in removals] == [(7, 3), (8, 3), (9, 3)]
    changes = [decode_conf_change(entry.data) for entry in removals]
    assert changes == [ConfChange(ConfChangeType.REMOVE_NODE, node, b"ctx") for node in (1, 3, 4)]


def test_nothing_to_do_for_a_new_or_a_lone_member(tmp_path: Path) -> None:
    assert force_standalone(str(tmp_path / "new"), 1, ConfState(), b"") == []
    assert not (tmp_path / "new").exists()
    wal = WriteAheadLog(str(tmp_path / "alone"))
    wal.save(HardState(2, 1, 2), [conf(1, ConfChangeType.ADD_NODE, 1), data(2)])
    wal.close()
    before = sorted(path.read_bytes() for path in (tmp_path / "alone").glob("*.wal"))
    assert force_standalone(str(tmp_path / "alone"), 1, ConfState((1,)), b"") == []
    assert sorted(path.read_bytes() for path in (tmp_path / "alone").glob("*.wal")) == before


def test_a_learner_or_a_stranger_cannot_be_forced_alone(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path))
    wal.save(HardState(2, 0, 1), [data(1)])
    wal.close()
    with pytest.raises(StandaloneError, match="learner"):
        force_standalone(str(tmp_path), 4, ConfState((1, 2), (4,)), b"")
    with pytest.raises(StandaloneError, match="not in its cluster"):
        force_standalone(str(tmp_path), 5, ConfState((1, 2), (4,)), b"")
