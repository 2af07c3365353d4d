"""The current membership, one `Progress` per member, and the votes of an election."""

from __future__ import annotations

from . import quorum
from .messages import ConfState
from .progress import Inflights, Progress


class ProgressTracker:
    __slots__ = ("voters", "learners", "progress", "votes", "max_inflight", "max_inflight_bytes")

    def __init__(self, max_inflight: int, max_inflight_bytes: int | None = None) -> None:
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes

    def conf_state(self) -> ConfState:
        return ConfState(voters=tuple(sorted(self.voters)), learners=tuple(sorted(self.learners)))

    def new_progress(self, next_index: int, *, is_learner: bool) -> Progress:
        progress = Progress(
            next_index, Inflights(self.max_inflight, self.max_inflight_bytes), is_learner=is_learner
        )
        progress.recent_active = True  # a new member gets a grace period before check-quorum
        return progress

    def restore(self, conf_state: ConfState, next_index: int) -> None:
        """Replace the membership (from a snapshot or at start-up); all progress starts over."""
        self.voters = set(conf_state.voters)
        self.learners = set(conf_state.learners) - self.voters
        self.progress = {}
        for node_id in self.voters:
            self.progress[node_id] = self.new_progress(next_index, is_learner=False)
        for node_id in self.learners:
            self.progress[node_id] = self.new_progress(next_index, is_learner=True)
        self.votes = {}

    def is_single_voter(self, node_id: int) -> bool:
        return self.voters == {node_id}

    def committed(self) -> int:
        """The largest index a majority of voters hold."""
        progress = self.progress
        return quorum.committed_index(self.voters, lambda node_id: progress[node_id].match)

    def quorum_active(self, self_id: int) -> bool:
        """Has a majority of voters (us included) been heard from since the last check?"""
        active = {node_id for node_id, p in self.progress.items() if p.recent_active}
        active.add(self_id)
        return quorum.has_quorum(self.voters, active)

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        if node_id not in self.votes:
            self.votes[node_id] = granted

    def tally_votes(self) -> quorum.VoteResult:
        return quorum.vote_result(self.voters, self.votes)
