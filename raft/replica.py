"""What the leader's functions (`raft.leader`) need from a Raft node.

`core.Raft` satisfies this structurally. Typing `raft.leader` against it, rather than
against `core.Raft`, keeps the import arrow one way: core imports leader, and leader
imports neither core nor anything that imports core.
"""

from __future__ import annotations

from typing import Protocol

from .log import RaftLog
from .messages import Message, ReadState, StateRole
from .read_only import ReadOnly
from .tracker import ProgressTracker


class Replica(Protocol):
    id: int
    term: int
    role: StateRole
    log: RaftLog
    tracker: ProgressTracker
    read_only: ReadOnly
    read_states: list[ReadState]
    pending_read_index: list[Message]
    pending_conf_index: int
    leader_transferee: int
    max_msg_size: int
    check_quorum: bool
    election_elapsed: int
    heartbeat_elapsed: int
    election_timeout: int
    heartbeat_timeout: int

    def step(self, m: Message) -> None: ...

    def send(self, message: Message) -> None: ...

    def become_follower(self, term: int, leader: int) -> None: ...

    def committed_entry_in_current_term(self) -> bool: ...
