"""How to start one Raft node."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass(slots=True)
class Config:
    """Settings for a node. Time is counted in ticks: the application decides how long one is.

    `voters` and `learners` bootstrap a brand-new cluster: they are used only when the
    storage is empty, and then every founding member must be given the same lists. A
    node that joins later, or restarts, starts with empty lists and learns the
    membership from the log.
    """

    id: int
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    election_tick: int = 10
    heartbeat_tick: int = 1
    applied: int = 0
    max_size_per_msg: int = 1024 * 1024
    max_inflight_msgs: int = 256
    max_inflight_bytes: int | None = None
    max_committed_size_per_ready: int | None = None
    check_quorum: bool = True
    pre_vote: bool = True
    rng: random.Random = field(default_factory=random.Random)

    def validate(self) -> None:
        if self.id <= 0:
            raise ConfigError("node id must be positive (0 means 'nobody')")
        if self.heartbeat_tick <= 0:
            raise ConfigError("heartbeat_tick must be positive")
        if self.election_tick <= self.heartbeat_tick:
            raise ConfigError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ConfigError("max_inflight_msgs must be positive")
        if self.max_size_per_msg <= 0:
            raise ConfigError("max_size_per_msg must be positive")
        if set(self.voters) & set(self.learners):
            raise ConfigError("a node cannot be both a voter and a learner")
        if any(node_id <= 0 for node_id in (*self.voters, *self.learners)):
            raise ConfigError("node ids must be positive")
        if self.learners and not self.voters:
            raise ConfigError("learners need at least one voter")
