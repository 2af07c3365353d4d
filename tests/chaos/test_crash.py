"""kill -9 a member again and again during heavy writes (10 times; 20 in make test-long):
nothing acknowledged is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.crash import run_crashes


@pytest.mark.parametrize("rounds", [10, pytest.param(20, marks=pytest.mark.long)])
def test_kill_9_restarts_under_load_lose_no_acknowledged_write(tmp_path: Path, rounds: int) -> None:
    report = run_crashes(tmp_path, seed=1, rounds=rounds)
    assert not report.problems, report.problems
    assert len(report.victims) == rounds
    assert len(report.acknowledged) > 10 * rounds, "the writes should be heavy"
    print(
        f"crash consistency: {len(report.acknowledged)} acknowledged of {report.attempts} "
        f"answered writes, victims {report.victims}, {report.seconds:.0f}s"
    )
