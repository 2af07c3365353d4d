"""The Raft state machine: roles, terms, elections, and what followers do.

`Raft` consumes messages (`step`) and ticks (`tick`) and produces messages
(`msgs`), log changes (in `log.unstable`) and read states. It never performs
I/O; `node.RawNode` packages its output as a `Ready`.

The leader's half (replication, commit, ReadIndex, leader transfer) lives in
`raft.leader`; membership rules in `raft.membership`.

Election (§5.2, thesis §9.6): a follower that hears nothing for a randomized
timeout in [election_tick, 2*election_tick) first runs a *pre-vote* (if
enabled): it asks whether it could win at term+1 without changing anyone's
term. Only if a majority says yes does it start a real election. With
check-quorum on, a node that heard from a live leader within the election
timeout ignores (pre-)vote requests ("leader stickiness"), so a node that
rejoins after a partition cannot depose a healthy leader.
"""

from __future__ import annotations

from enum import Enum

from . import leader, membership, quorum
from .config import Config
from .errors import ProposalDropped, ReadIndexDropped
from .log import RaftLog
from .messages import (
    NO_LEADER,
    ConfChange,
    ConfState,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SoftState,
    StateRole,
    vote_response_type,
)
from .read_only import ReadOnly
from .storage import LogStorage
from .tracker import ProgressTracker

CAMPAIGN_TRANSFER = b"CampaignTransfer"
"""Context of a vote request sent because the leader asked us to take over."""


class CampaignType(Enum):
    PRE_ELECTION = "pre-election"
    ELECTION = "election"
    TRANSFER = "transfer"


BOOTSTRAP_INDEX = 1
BOOTSTRAP_TERM = 1


class Raft:
    def __init__(self, config: Config, storage: LogStorage) -> None:
        config.validate()
        self.id = config.id
        self.rng = config.rng
        self.log = RaftLog(storage, config.max_committed_size_per_ready)
        self.max_msg_size = config.max_size_per_msg
        self.tracker = ProgressTracker(config.max_inflight_msgs, config.max_inflight_bytes)
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick

        self.term = 0
        self.vote = NO_LEADER
        self.leader = NO_LEADER
        self.role = StateRole.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_read_index: list[Message] = []  # reads waiting for a commit in our term
        self.leader_transferee = NO_LEADER
        self.pending_conf_index = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout

        hard_state, conf_state = storage.initial_state()
        fresh = storage.last_index() == 0 and hard_state == HardState() and not conf_state.voters
        if fresh and config.voters:
            self._bootstrap(ConfState(tuple(sorted(config.voters)), tuple(sorted(config.learners))))
        else:
            self.tracker.restore(conf_state, self.log.last_index() + 1)
            self._load_hard_state(hard_state)
        if config.applied > 0:
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NO_LEADER)

    def _bootstrap(self, conf_state: ConfState) -> None:
        """Start a new cluster: the founding membership arrives as a snapshot at index 1.

        It reaches storage through the first Ready like any snapshot, and a member
        that joins later receives the membership the same way (entries up to 1 are
        "compacted", so the leader must send it a snapshot).
        """
        snapshot = Snapshot(index=BOOTSTRAP_INDEX, term=BOOTSTRAP_TERM, conf_state=conf_state)
        self.log.restore(snapshot)
        self.tracker.restore(conf_state, BOOTSTRAP_INDEX + 1)
        self.term = BOOTSTRAP_TERM

    def _load_hard_state(self, hard_state: HardState) -> None:
        if hard_state == HardState():
            return
        self.log.commit_to(hard_state.commit)
        self.term = hard_state.term
        self.vote = hard_state.vote

    # ---- observable state ----

    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(leader=self.leader, role=self.role)

    def promotable(self) -> bool:
        """May this node become leader? Voters only, and not while installing a snapshot."""
        return self.id in self.tracker.voters and not self.log.has_pending_snapshot()

    def committed_entry_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    # ---- output ----

    def send(self, message: Message) -> None:
        """Queue `message`, stamping our id (unless set) and, except on requests, our term."""
        if message.sender == NO_LEADER:
            message.sender = self.id
        if message.type in (
            MessageType.VOTE,
            MessageType.PRE_VOTE,
            MessageType.VOTE_RESPONSE,
            MessageType.PRE_VOTE_RESPONSE,
        ):
            # Vote traffic carries its term explicitly: a pre-vote names the future term.
            if message.term == 0 and message.type in (MessageType.VOTE, MessageType.PRE_VOTE):
                raise ValueError(f"{message.type.name} must carry a term")
        elif message.type not in (MessageType.PROPOSE, MessageType.READ_INDEX):
            message.term = self.term
        self.msgs.append(message)

    # ---- role changes ----

    def reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NO_LEADER
        self.leader = NO_LEADER
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.election_timeout
        )
        self.leader_transferee = NO_LEADER
        self.tracker.reset_votes()
        last_index = self.log.last_index()
        for node_id, progress in list(self.tracker.progress.items()):
            fresh = self.tracker.new_progress(last_index + 1, is_learner=progress.is_learner)
            fresh.recent_active = False
            if node_id == self.id:
                fresh.match = last_index
                fresh.recent_active = True
            self.tracker.progress[node_id] = fresh
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_read_index = []

    def become_follower(self, term: int, leader: int) -> None:
        self.reset(term)
        self.leader = leader
        self.role = StateRole.FOLLOWER

    def become_pre_candidate(self) -> None:
        if self.role == StateRole.LEADER:
            raise ValueError("a leader cannot become a pre-candidate")
        # No term change: a pre-vote must not disturb anyone.
        self.tracker.reset_votes()
        self.leader = NO_LEADER
        self.role = StateRole.PRE_CANDIDATE

    def become_candidate(self) -> None:
        if self.role == StateRole.LEADER:
            raise ValueError("a leader cannot become a candidate")
        self.reset(self.term + 1)
        self.vote = self.id
        self.role = StateRole.CANDIDATE

    def become_leader(self) -> None:
        if self.role == StateRole.FOLLOWER:
            raise ValueError("a follower cannot become leader without an election")
        self.reset(self.term)
        self.leader = self.id
        self.role = StateRole.LEADER
        self.tracker.progress[self.id].become_replicate()
        # An empty entry in our term lets us commit (and learn the commit index of)
        # everything before it; until it is applied, no membership change is accepted.
        leader.append_entries(self, [leader.empty_entry()])
        self.pending_conf_index = self.log.last_index()
        leader.bcast_append(self)

    # ---- inputs ----

    def tick(self) -> None:
        if self.role == StateRole.LEADER:
            leader.tick_heartbeat(self)
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(type=MessageType.HUP))

    def step(self, m: Message) -> None:
        """Handle one message. Raises `ProposalDropped`/`ReadIndexDropped` for refused requests."""
        if m.term == 0:
            pass  # local message (or a forwarded proposal / read request)
        elif m.term > self.term:
            if m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
                forced = m.context == CAMPAIGN_TRANSFER
                in_lease = (
                    self.check_quorum
                    and self.leader != NO_LEADER
                    and self.election_elapsed < self.election_timeout
                )
                if in_lease and not forced:
                    return  # we heard from a leader recently: stay with it
            if m.type == MessageType.PRE_VOTE:
                pass  # a pre-vote never changes our term
            elif m.type == MessageType.PRE_VOTE_RESPONSE and not m.reject:
                pass  # a granted pre-vote names the term we have not started yet
            elif m.type in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
                self.become_follower(m.term, m.sender)
            else:
                self.become_follower(m.term, NO_LEADER)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (
                MessageType.HEARTBEAT,
                MessageType.APPEND,
            ):
                # A stale leader (e.g. cut off, then healed) learns our term and steps down.
                self.send(Message(type=MessageType.APPEND_RESPONSE, to=m.sender))
            elif m.type == MessageType.PRE_VOTE:
                self.send(
                    Message(
                        type=MessageType.PRE_VOTE_RESPONSE, to=m.sender, term=self.term, reject=True
                    )
                )
            return

        if m.type == MessageType.HUP:
            self.hup(CampaignType.PRE_ELECTION if self.pre_vote else CampaignType.ELECTION)
        elif m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
            self._handle_vote_request(m)
        elif self.role == StateRole.LEADER:
            leader.step_leader(self, m)
        elif self.role == StateRole.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    # ---- elections ----

    def hup(self, campaign_type: CampaignType) -> None:
        if self.role == StateRole.LEADER:
            return
        if not self.promotable():
            return
        if self.log.has_unapplied_conf_changes():
            return  # our membership view is stale until those are applied
        self.campaign(campaign_type)

    def campaign(self, campaign_type: CampaignType) -> None:
        if campaign_type == CampaignType.PRE_ELECTION:
            self.become_pre_candidate()
            vote_type = MessageType.PRE_VOTE
            term = self.term + 1
        else:
            self.become_candidate()
            vote_type = MessageType.VOTE
            term = self.term
        if self.poll(self.id, True) == quorum.VoteResult.WON:
            # A single-voter cluster wins at once.
            if campaign_type == CampaignType.PRE_ELECTION:
                self.campaign(CampaignType.ELECTION)
            else:
                self.become_leader()
            return
        context = CAMPAIGN_TRANSFER if campaign_type == CampaignType.TRANSFER else b""
        last_index = self.log.last_index()
        last_term = self.log.last_term()
        for voter in sorted(self.tracker.voters):
            if voter == self.id:
                continue
            self.send(
                Message(
                    type=vote_type,
                    to=voter,
                    term=term,
                    index=last_index,
                    log_term=last_term,
                    context=context,
                )
            )

    def poll(self, node_id: int, granted: bool) -> quorum.VoteResult:
        self.tracker.record_vote(node_id, granted)
        return self.tracker.tally_votes()

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self.vote == m.sender
            or (self.vote == NO_LEADER and self.leader == NO_LEADER)
            or (m.type == MessageType.PRE_VOTE and m.term > self.term)
        )
        response_type = vote_response_type(m.type)
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self.send(Message(type=response_type, to=m.sender, term=m.term))
            if m.type == MessageType.VOTE:
                self.election_elapsed = 0
                self.vote = m.sender
        else:
            self.send(Message(type=response_type, to=m.sender, term=self.term, reject=True))

    def _step_candidate(self, m: Message) -> None:
        my_response = (
            MessageType.PRE_VOTE_RESPONSE
            if self.role == StateRole.PRE_CANDIDATE
            else MessageType.VOTE_RESPONSE
        )
        if m.type == MessageType.PROPOSE:
            raise ProposalDropped("no leader: an election is in progress")
        if m.type == MessageType.READ_INDEX:
            raise ReadIndexDropped("no leader: an election is in progress")
        if m.type in (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT):
            self.become_follower(m.term, m.sender)  # someone won this term
            self._step_follower(m)
        elif m.type == my_response:
            result = self.poll(m.sender, not m.reject)
            if result == quorum.VoteResult.WON:
                if self.role == StateRole.PRE_CANDIDATE:
                    self.campaign(CampaignType.ELECTION)
                else:
                    self.become_leader()
            elif result == quorum.VoteResult.LOST:
                self.become_follower(self.term, NO_LEADER)

    # ---- following ----

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MessageType.PROPOSE:
            if self.leader == NO_LEADER:
                raise ProposalDropped("no leader to forward the proposal to")
            m.to = self.leader
            self.send(m)
        elif t == MessageType.APPEND:
            self.election_elapsed = 0
            self.leader = m.sender
            self._handle_append(m)
        elif t == MessageType.HEARTBEAT:
            self.election_elapsed = 0
            self.leader = m.sender
            self.log.commit_to(m.commit)
            self.send(Message(type=MessageType.HEARTBEAT_RESPONSE, to=m.sender, context=m.context))
        elif t == MessageType.SNAPSHOT:
            self.election_elapsed = 0
            self.leader = m.sender
            self._handle_snapshot(m)
        elif t == MessageType.TRANSFER_LEADER:
            if self.leader != NO_LEADER:
                m.to = self.leader
                self.send(m)
        elif t == MessageType.TIMEOUT_NOW:
            # The leader chose us: campaign now, skipping pre-vote and the lease check.
            self.hup(CampaignType.TRANSFER)
        elif t == MessageType.READ_INDEX:
            if self.leader == NO_LEADER:
                raise ReadIndexDropped("no leader to forward the read request to")
            m.to = self.leader
            self.send(m)
        elif t == MessageType.READ_INDEX_RESPONSE:
            self.read_states.append(ReadState(index=m.index, context=m.context))

    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            self.send(
                Message(type=MessageType.APPEND_RESPONSE, to=m.sender, index=self.log.committed)
            )
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.send(Message(type=MessageType.APPEND_RESPONSE, to=m.sender, index=last_new))
            return
        # Tell the leader where our log could match: the last entry at or below m.index
        # whose term is not above m.log_term. It may skip everything after it.
        hint_index, hint_term = self.log.find_conflict_by_term(
            min(m.index, self.log.last_index()), m.log_term
        )
        self.send(
            Message(
                type=MessageType.APPEND_RESPONSE,
                to=m.sender,
                index=m.index,
                reject=True,
                reject_hint=hint_index,
                log_term=hint_term,
            )
        )

    def _handle_snapshot(self, m: Message) -> None:
        assert m.snapshot is not None
        index = self.log.last_index() if self.restore(m.snapshot) else self.log.committed
        self.send(Message(type=MessageType.APPEND_RESPONSE, to=m.sender, index=index))

    def restore(self, snapshot: Snapshot) -> bool:
        """Adopt a leader's snapshot if it is news to us. False if it was ignored."""
        if snapshot.index <= self.log.committed:
            return False
        if self.role != StateRole.FOLLOWER:
            self.become_follower(self.term + 1, NO_LEADER)  # defensive; cannot happen
            return False
        # A snapshot whose membership lacks us is still taken: either it predates our
        # addition (the entry adding us follows it in the log) or we were removed since.
        conf_state = snapshot.conf_state
        if self.log.match_term(snapshot.index, snapshot.term):
            # We already hold that entry: just move the commit index forward.
            self.log.commit_to(snapshot.index)
            return False
        self.log.restore(snapshot)
        self.tracker.restore(conf_state, self.log.last_index() + 1)
        if self.id in self.tracker.progress:
            self.tracker.progress[self.id].match = snapshot.index
        return True

    # ---- membership ----

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Apply a committed membership change; the application calls this when it applies one."""
        membership.apply_change(self.tracker, change, self.log.last_index() + 1)
        if self.role == StateRole.LEADER:
            if self.id not in self.tracker.voters:
                self.become_follower(self.term, NO_LEADER)  # removed or demoted: step down
            else:
                if self.leader_transferee not in self.tracker.voters:
                    leader.abort_leader_transfer(self)
                if leader.maybe_commit(self):
                    leader.bcast_append(self)
        return self.tracker.conf_state()
