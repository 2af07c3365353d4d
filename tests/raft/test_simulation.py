"""The simulator over many seeds, and proof that it catches known bugs.

`make test` runs SEEDS_IN_TESTS seeds here (3- and 5-node clusters alternate);
`make simulate SEEDS=N` runs more. A failure names the command that replays it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keyraft.raft import leader as raft_leader
from keyraft.raft import quorum
from keyraft.raft.core import Raft
from keyraft.raft.log import RaftLog
from tests.raft.simulate import main as simulate_main
from tests.raft.simulate import nodes_for
from tests.raft.simulator import Simulation, SimulationConfig, Violation, run_seed

SEEDS_IN_TESTS = 500
CHUNK = 100
STEPS = 1000


@pytest.mark.parametrize("first", range(0, SEEDS_IN_TESTS, CHUNK))
def test_simulated_clusters_stay_safe_and_live(first: int) -> None:
    for seed in range(first, first + CHUNK):
        run_seed(seed, nodes=nodes_for(seed, None), steps=STEPS)


def test_the_simulator_is_deterministic() -> None:
    first = Simulation(SimulationConfig(seed=7, nodes=5, steps=300)).run()
    second = Simulation(SimulationConfig(seed=7, nodes=5, steps=300)).run()
    assert first == second


def test_the_simulator_exercises_what_it_claims_to() -> None:
    totals: dict[str, int] = {}
    for seed in range(40):
        stats = run_seed(seed, nodes=nodes_for(seed, None), steps=STEPS)
        for name in stats.__slots__:
            totals[name] = totals.get(name, 0) + getattr(stats, name)
    for name in ("leaders", "committed", "acknowledged", "reads", "crashes", "conf_changes"):
        assert totals[name] > 20, (name, totals)
    assert totals["snapshots_sent"] > 0
    assert totals["leaders"] > 40 * 1.5  # leadership changes, not just the first election


def test_cli_reports_success_and_the_reproducing_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert simulate_main(["--seeds", "2", "--steps", "100"]) == 0
    assert "2 seeds passed" in capsys.readouterr().out
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    assert simulate_main(["--seeds", "50", "--steps", "400"]) == 1
    error = capsys.readouterr().err
    assert "FAILED" in error
    assert "python -m tests.raft.simulate --seed " in error and "--nodes" in error


# ---- injected bugs: the checks must notice each within a bounded number of seeds ----


def count_own_vote_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    def poll(self: Raft, node_id: int, granted: bool) -> quorum.VoteResult:
        self.tracker.record_vote(node_id, granted)
        votes = self.tracker.votes
        count = sum(1 for voter in self.tracker.voters if votes.get(voter) is True)
        if votes.get(self.id):
            count += 1  # our own vote, counted a second time
        if count >= quorum.majority(len(self.tracker.voters)):
            return quorum.VoteResult.WON
        return self.tracker.tally_votes()

    monkeypatch.setattr(Raft, "poll", poll)


def grant_votes_to_stale_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)


def commit_by_counting_old_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    def maybe_commit(self: RaftLog, index: int, term: int) -> bool:
        if index > self.committed and self.term_or_zero(index) > 0:
            self.commit_to(index)
            return True
        return False

    monkeypatch.setattr(RaftLog, "maybe_commit", maybe_commit)


def read_without_heartbeat_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    def read_index(node: Raft, message: object) -> None:
        raft_leader._answer_read(node, message, node.log.committed)  # type: ignore[arg-type]

    monkeypatch.setattr(raft_leader, "read_index", read_index)


BUGS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], int]] = {
    "count_own_vote_twice": (count_own_vote_twice, 50),
    "grant_votes_to_stale_logs": (grant_votes_to_stale_logs, 50),
    "read_without_heartbeat_quorum": (read_without_heartbeat_quorum, 100),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_the_simulator_catches_an_injected_bug(bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inject, seeds = BUGS[bug]
    inject(monkeypatch)
    for seed in range(seeds):
        try:
            run_seed(seed, nodes=nodes_for(seed, None), steps=STEPS)
        except Violation as violation:
            assert "reproduce: python -m tests.raft.simulate --seed" in str(violation)
            return
    pytest.fail(f"{bug} went unnoticed over {seeds} seeds")
