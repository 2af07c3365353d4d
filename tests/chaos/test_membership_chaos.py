"""Issue #14's acceptance runs for dynamic membership, through the chaos harness: a
cluster grown 1 -> 3 -> 5 and shrunk back to 3 under steady writes, and the membership
nemesis (add, remove, replace) mixed with kills and partitions. Each run checks the
clients' history for linearizability, that nothing acknowledged was lost, and equal
HashKV on every member at the end. CHAOS_SEED picks another schedule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.run import Config, Report, run

SEED = int(os.environ.get("CHAOS_SEED", "1"))
MIXED = ("membership", "kill", "partition")


def _changes(report: Report) -> list[str]:
    return [fault.note for fault in report.faults if fault.kind == "membership"]


def test_grow_from_one_to_five_members_and_shrink_to_three_under_writes(tmp_path: Path) -> None:
    config = Config(SEED, duration=5, nodes=1, clients=4, faults=(), resize=(3, 5, 3))
    report = run(Config(**{**vars(config), "workdir": tmp_path}))
    print(report.render())
    assert report.ok, report.render()
    changes = _changes(report)
    assert [note.split()[0] for note in changes] == ["added"] * 4 + ["removed"] * 2, changes
    assert sum("learner" in note for note in changes) == 2, changes
    assert changes[4].startswith("removed (the leader)"), changes
    assert len(report.members) == 3, report.render()
    assert report.counts["put"] + report.counts["cas"] > 100, report.render()


def _mixed_run(tmp_path: Path, nodes: int, duration: float) -> Report:
    report = run(Config(SEED, duration=duration, nodes=nodes, faults=MIXED, workdir=tmp_path))
    print(report.render())
    assert report.ok, report.render()
    assert _changes(report), report.render()
    assert 3 <= len(report.members) <= 5, report.render()
    return report


def test_membership_nemesis_with_kills_and_partitions_on_three_members(tmp_path: Path) -> None:
    _mixed_run(tmp_path, nodes=3, duration=25)


@pytest.mark.long
def test_membership_nemesis_with_kills_and_partitions_on_five_members(tmp_path: Path) -> None:
    report = _mixed_run(tmp_path, nodes=5, duration=90)
    assert {fault.kind for fault in report.faults} == set(MIXED), report.render()
