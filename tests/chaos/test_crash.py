"""kill -9 a member 20 times during heavy writes: nothing acknowledged is lost."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.crash import run_crashes


def test_twenty_kill_9_restarts_under_load_lose_no_acknowledged_write(tmp_path: Path) -> None:
    report = run_crashes(tmp_path, seed=1, rounds=20)
    assert not report.problems, report.problems
    assert len(report.victims) == 20
    assert len(report.acknowledged) > 200, "the writes should be heavy"
    print(
        f"crash consistency: {len(report.acknowledged)} acknowledged of {report.attempts} "
        f"answered writes, victims {report.victims}, {report.seconds:.0f}s"
    )
