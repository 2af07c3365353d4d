"""Restarting one member alone (etcd's --force-new-cluster), done on its log before the
core starts, so the pure core learns no special case.

As etcd's restartAsStandaloneNode: the committed log stays, what was never committed is
dropped, and a conf change removing each other member (as the snapshot's configuration
and the log's conf changes name them) is appended and marked committed. Applied like any
committed conf change, they shrink the configuration to this member, which then elects
itself; a restart without the flag finds the same log and the same single member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..codec import decode_conf_change, encode_conf_change
from ..errors import CodecError
from ..messages import ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState
from .wal import WriteAheadLog, has_log


class StandaloneError(Exception):
    """The member cannot be made the only one of its cluster."""


@dataclass(slots=True)
class _Configuration:
    voters: set[int] = field(default_factory=set)
    learners: set[int] = field(default_factory=set)

    def add(self, conf_state: ConfState) -> None:
        self.voters.update(conf_state.voters)
        self.learners.update(conf_state.learners)

    def change(self, change: ConfChange) -> None:
        node = change.node_id
        if change.type == ConfChangeType.ADD_NODE:
            self.voters.add(node)
            self.learners.discard(node)
        elif change.type == ConfChangeType.ADD_LEARNER_NODE and node not in self.voters:
            self.learners.add(node)
        elif change.type == ConfChangeType.REMOVE_NODE:
            self.voters.discard(node)
            self.learners.discard(node)


def _configuration(snapshot: ConfState, entries: list[Entry], known: ConfState) -> _Configuration:
    """Every member the log or `known` (the state machine's view) may still count."""
    configuration = _Configuration()
    configuration.add(snapshot)
    for entry in entries:
        if entry.type != EntryType.CONF_CHANGE:
            continue
        try:
            configuration.change(decode_conf_change(entry.data))
        except CodecError:
            continue  # the state machine refuses it on apply as well
    configuration.add(known)
    configuration.learners -= configuration.voters
    return configuration


def force_standalone(directory: str, node_id: int, known: ConfState, context: bytes) -> list[int]:
    """Rewrite the log in `directory` so that `node_id` is its cluster's only member; the
    IDs removed (none: nothing to do, e.g. a new member or one already alone). `context`
    goes in each removal, for the state machine that applies it."""
    if not has_log(directory):
        return []  # nothing to recover: the member starts as a new cluster
    wal = WriteAheadLog(directory)
    try:
        recovered = wal.recovered
        hard_state = recovered.hard_state
        commit = max(hard_state.commit, recovered.snapshot.index)
        committed = [entry for entry in recovered.entries if entry.index <= commit]
        configuration = _configuration(recovered.snapshot.conf_state, committed, known)
        others = sorted((configuration.voters | configuration.learners) - {node_id})
        if not others:
            return []
        if node_id in configuration.learners:
            raise StandaloneError(f"member {node_id:x} is a learner: a learner cannot lead")
        if node_id not in configuration.voters:
            raise StandaloneError(f"member {node_id:x} is not in its cluster's configuration")
        removals = [
            Entry(
                hard_state.term,
                commit + offset,
                EntryType.CONF_CHANGE,
                encode_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, node, context)),
            )
            for offset, node in enumerate(others, start=1)
        ]
        # Written at commit + 1 on, the removals replace any uncommitted tail on recovery.
        forced = HardState(hard_state.term, hard_state.vote, removals[-1].index)
        wal.save(forced, removals)
        return others
    finally:
        wal.close()
