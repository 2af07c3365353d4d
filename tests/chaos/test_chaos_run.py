"""`make test`'s chaos run: 60 s on 3 keyraft members with every fault kind.

The seed is fixed so a failure here reproduces with
`python -m tests.chaos.run --seed <seed> --duration 60 --nodes 3`; set CHAOS_SEED to try
another schedule.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.chaos.nemesis import FAULT_KINDS
from tests.chaos.run import Config, run


def test_sixty_second_chaos_run_is_linearizable_and_loses_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", "1"))
    report = run(Config(seed=seed, duration=60, nodes=3, workdir=tmp_path))
    print(report.render())
    assert report.ok, report.render()
    assert {fault.kind for fault in report.faults} == set(FAULT_KINDS), report.render()
    assert report.counts["total"] > 1000, report.render()
