"""Membership changes: one server at a time, effective when applied.

Why single-server changes rather than joint consensus:

- Between a configuration and one that adds or removes a single voter, every
  majority of the old set intersects every majority of the new set. So no
  intermediate "joint" configuration is needed for safety, as long as only one
  change is in flight at a time (Ongaro's thesis §4.1-4.3).
- It is what the etcd server itself uses (v1 `ConfChange`: add, remove, update,
  add-learner). Our server mirrors etcd's member API, which changes one member
  per request, so joint consensus would buy nothing the API can express.
- It is much less state to get right: no outgoing voter set, no auto-leave,
  no joint quorum arithmetic. Every rule below fits in a sentence.

The rules, and where they are enforced:

1. A change is an ordinary log entry (type CONF_CHANGE, data = encoded
   `ConfChange`). It takes effect on a node when the application *applies* it
   and calls `apply_conf_change`, as in etcd.
2. At most one change is pending: the leader refuses a new one while an
   earlier one is not yet applied on the leader (`core.Raft`, pending_conf_index).
3. A new leader accepts a change only after it applied the empty entry it
   appended on election, i.e. after it committed an entry in its own term. This
   closes the known hole in single-server changes where a stale configuration
   could otherwise commit concurrently (Ongaro, raft-dev, 2015).
4. A node that has a committed but not yet applied change does not start an
   election (it could count votes with a stale membership).
5. A leader removed (or demoted to learner) by an applied change steps down;
   the remaining voters elect a new leader.

Learners receive the log but never vote, never campaign and never count
towards a quorum. Promoting a learner is an ADD_NODE of its id.
"""

from __future__ import annotations

from .errors import ProposalDropped
from .messages import ConfChange, ConfChangeType
from .tracker import ProgressTracker


def check_change(tracker: ProgressTracker, change: ConfChange) -> None:
    """Raise `ProposalDropped` if applying `change` could leave the cluster without voters."""
    if change.node_id <= 0:
        raise ProposalDropped(f"membership change for invalid node id {change.node_id}")
    removes_voter = change.type in (ConfChangeType.REMOVE_NODE, ConfChangeType.ADD_LEARNER_NODE)
    if removes_voter and tracker.voters == {change.node_id}:
        raise ProposalDropped("membership change would remove the last voter")


def apply_change(tracker: ProgressTracker, change: ConfChange, next_index: int) -> None:
    """Change the membership in `tracker`; new members start probing at `next_index`."""
    node_id = change.node_id
    if change.type == ConfChangeType.ADD_NODE:
        tracker.learners.discard(node_id)
        tracker.voters.add(node_id)
        progress = tracker.progress.get(node_id)
        if progress is None:
            tracker.progress[node_id] = tracker.new_progress(next_index, is_learner=False)
        else:
            progress.is_learner = False
    elif change.type == ConfChangeType.ADD_LEARNER_NODE:
        if tracker.voters == {node_id}:
            return  # never demote the last voter (check_change refuses to propose it)
        tracker.voters.discard(node_id)
        tracker.learners.add(node_id)
        progress = tracker.progress.get(node_id)
        if progress is None:
            tracker.progress[node_id] = tracker.new_progress(next_index, is_learner=True)
        else:
            progress.is_learner = True
    elif change.type == ConfChangeType.REMOVE_NODE:
        if tracker.voters == {node_id}:
            return
        tracker.voters.discard(node_id)
        tracker.learners.discard(node_id)
        tracker.progress.pop(node_id, None)
        tracker.votes.pop(node_id, None)
    # UPDATE_NODE changes nothing Raft cares about.
