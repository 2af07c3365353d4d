"""A deterministic cluster simulator for the Raft core, with safety checks after every step.

One seed fixes everything: the network (drops, delays, duplicates, reordering,
partitions), crashes and restarts, membership changes, proposals and reads.
Each node persists a Ready into a `MemoryStorage` before sending; a crash
throws away everything else, so a restarted node has exactly what it persisted.

Checked after every step (a breach raises `Violation`):
- election safety: at most one leader per term;
- log matching: two persisted entries with the same index and term have the
  same data and the same predecessor term (so logs agree up to there);
- committed entries never change: any node's view of a committed index agrees,
  and no node overwrites a committed entry in its storage;
- leader completeness: a leader of term U holds every entry committed in a term < U;
- state machine safety: every node applies the same entry at each index, in order;
- linearizable reads: a ReadIndex answer is >= every write acknowledged before
  the read was issued.
Liveness, checked at the end: after healing everything, a leader appears within
a bounded number of ticks and a new proposal is applied on every member, which
also proves every earlier acknowledged write reached every member.
"""

from __future__ import annotations

import contextlib
import random
import zlib
from dataclasses import dataclass, field

from keyraft.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    RawNode,
    ReadIndexDropped,
    Ready,
    StateRole,
    decode_conf_change,
)
from keyraft.raft.errors import CompactedError, UnavailableError


class Violation(AssertionError):
    """A safety or liveness property failed. `invariant` names it."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


@dataclass(slots=True)
class SimulationConfig:
    seed: int
    nodes: int = 3
    steps: int = 1000
    drop: float = 0.05
    duplicate: float = 0.03
    max_delay: int = 4
    long_delay: float = 0.02  # chance that one message is held back for much longer
    tick_chance: float = 0.3
    fault_chance: float = 0.025
    propose_chance: float = 0.15
    read_chance: float = 0.04
    process_chance: float = 0.85  # a node may leave a Ready unprocessed (and crash with it)
    election_tick: int = 10
    liveness_steps: int = 800

    def command(self) -> str:
        return (
            f"python -m tests.raft.simulate --seed {self.seed} --nodes {self.nodes} "
            f"--steps {self.steps}"
        )


@dataclass(slots=True)
class SimNode:
    id: int
    storage: MemoryStorage
    founder: bool
    raw: RawNode | None = None
    applied: int = 0
    chain: int = 0  # crc32 over applied data: the state machine's fingerprint
    conf_state: ConfState = field(default_factory=ConfState)
    seen_commit: int = 0
    removed: bool = False


@dataclass(slots=True)
class Stats:
    steps: int = 0
    leaders: int = 0
    committed: int = 0
    acknowledged: int = 0
    reads: int = 0
    crashes: int = 0
    conf_changes: int = 0
    snapshots_sent: int = 0


def _encode_chain(chain: int) -> bytes:
    return chain.to_bytes(4, "big")


def _decode_chain(data: bytes) -> int:
    return int.from_bytes(data, "big") if data else 0


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        rng = self.rng
        self.pre_vote = rng.random() < 0.8
        self.check_quorum = rng.random() < 0.8
        self.max_size_per_msg = rng.choice([1, 64, 256, 4096])
        self.max_inflight = rng.choice([1, 4, 64])
        # Each seed gets its own weather: calm, stormy, or somewhere between.
        config.drop = rng.choice([0.0, config.drop, 4 * config.drop])
        config.fault_chance = rng.choice([config.fault_chance / 2, config.fault_chance, 0.08])
        self.leader_crash_bias = rng.choice([0.0, 0.5])
        # The adversary's favourite moment: right after a leader advanced its commit index,
        # before followers learnt of it. Cutting the leader off then tests what was decided.
        self.cut_on_commit = rng.choice([0.0, 0.0, 0.1, 0.3])
        self.now = 0
        self.queue: list[tuple[int, Message, bool]] = []  # due step, message, intact
        self.groups: dict[int, int] = {}  # node id -> partition side; empty = no partition
        self.founders = tuple(range(1, config.nodes + 1))
        self.nodes: dict[int, SimNode] = {}
        self.next_id = config.nodes + 1
        self.proposals = 0
        self.stats = Stats()
        # ---- what the checker has learnt ----
        self.leader_of_term: dict[int, int] = {}
        self.checked_leaders: set[tuple[int, int]] = set()
        self.entry_records: dict[tuple[int, int], tuple[bytes, int | None]] = {}
        self.committed_terms: dict[int, int] = {}  # index -> term of the committed entry
        self.commit_terms: dict[int, int] = {}  # index -> (upper bound of) the term it committed in
        self.new_commits: list[int] = []
        self.new_leader = False
        self.applied_records: dict[int, tuple[int, bytes, int]] = {}  # index -> term, data, chain
        self.acknowledged_max = 0
        self.pending_reads: dict[bytes, int] = {}  # context -> least index the answer must have
        for node_id in self.founders:
            node = SimNode(id=node_id, storage=MemoryStorage(), founder=True)
            self.nodes[node_id] = node
            self._start(node)

    # ---- node life cycle ----

    def _start(self, node: SimNode) -> None:
        storage = node.storage
        fresh = storage.last_index() == 0 and storage.snapshot().index == 0
        voters = self.founders if node.founder and fresh else ()
        snapshot = storage.snapshot()
        config = Config(
            id=node.id,
            voters=voters,
            applied=snapshot.index,
            election_tick=self.config.election_tick,
            heartbeat_tick=1,
            max_size_per_msg=self.max_size_per_msg,
            max_inflight_msgs=self.max_inflight,
            check_quorum=self.check_quorum,
            pre_vote=self.pre_vote,
            rng=random.Random(self.rng.random()),
        )
        node.raw = RawNode(config, storage)
        # The state machine restarts from the persisted snapshot and re-applies the log.
        node.applied = snapshot.index
        node.chain = _decode_chain(snapshot.data)
        node.conf_state = snapshot.conf_state
        node.seen_commit = node.raw.raft.log.committed

    def _crash(self, node: SimNode) -> None:
        node.raw = None
        self.stats.crashes += 1

    def alive(self) -> list[SimNode]:
        return [node for node in self.nodes.values() if node.raw is not None]

    def leaders(self) -> list[SimNode]:
        return [
            node
            for node in self.nodes.values()
            if node.raw is not None and node.raw.raft.role == StateRole.LEADER
        ]

    # ---- network ----

    def _send(self, message: Message) -> None:
        config = self.config
        rng = self.rng
        if rng.random() < config.drop:
            if message.type == MessageType.SNAPSHOT:
                # The transport notices a lost snapshot and reports it (see _deliver_due).
                self.queue.append((self.now + config.max_delay, message, False))
            return
        copies = 2 if rng.random() < config.duplicate else 1
        for _ in range(copies):
            delay = rng.randint(1, config.max_delay)
            if rng.random() < config.long_delay:
                delay += rng.randint(5, 40)
            self.queue.append((self.now + delay, message, True))
        if message.type == MessageType.SNAPSHOT:
            self.stats.snapshots_sent += 1

    def _connected(self, a: int, b: int) -> bool:
        groups = self.groups
        return not groups or groups.get(a, 0) == groups.get(b, 0)

    def _deliver_due(self) -> None:
        due = [item for item in self.queue if item[0] <= self.now]
        if not due:
            return
        self.queue = [item for item in self.queue if item[0] > self.now]
        self.rng.shuffle(due)
        for _, message, intact in due:
            node = self.nodes.get(message.to)
            delivered = (
                intact
                and node is not None
                and node.raw is not None
                and self._connected(message.sender, message.to)
            )
            if delivered:
                node.raw.step(message)  # type: ignore[union-attr]
            if message.type == MessageType.SNAPSHOT:
                # The transport reports how sending the snapshot went.
                sender = self.nodes.get(message.sender)
                if sender is not None and sender.raw is not None:
                    sender.raw.report_snapshot(message.to, delivered)

    # ---- the application: persist, send, apply ----

    def _process_ready(self, node: SimNode) -> None:
        raw = node.raw
        assert raw is not None
        while raw.has_ready():
            ready = raw.ready()
            self._persist(node, ready)
            for message in ready.messages:
                self._send(message)
            self._apply(node, ready)
            raw.advance(ready)

    def _persist(self, node: SimNode, ready: Ready) -> None:
        storage = node.storage
        if ready.snapshot is not None:
            snapshot = ready.snapshot
            committed = self.committed_terms.get(snapshot.index)
            if committed is not None and committed != snapshot.term:
                raise Violation(
                    "committed entries never change",
                    f"node {node.id} installs a snapshot at {snapshot.index} with term "
                    f"{snapshot.term}, committed term is {committed}",
                )
            storage.apply_snapshot(snapshot)
        if ready.entries:
            self._check_new_entries(node, ready)
            storage.append(ready.entries)
        if ready.hard_state is not None:
            storage.set_hard_state(ready.hard_state)

    def _check_new_entries(self, node: SimNode, ready: Ready) -> None:
        storage = node.storage
        first = ready.entries[0]
        try:
            previous_term: int | None = storage.term(first.index - 1)
        except (CompactedError, UnavailableError):
            previous_term = None
        records = self.entry_records
        last_held = storage.last_index()
        first_held = storage.first_index()
        for entry in ready.entries:
            if entry.index < first_held:
                previous_term = entry.term
                continue
            key = (entry.index, entry.term)
            record = records.get(key)
            if record is None:
                records[key] = (entry.data, previous_term)
            else:
                data, recorded_previous = record
                if data != entry.data or (
                    previous_term is not None
                    and recorded_previous is not None
                    and previous_term != recorded_previous
                ):
                    raise Violation(
                        "log matching",
                        f"node {node.id} persists entry {key} that differs from another "
                        f"node's entry {key} (data or predecessor term)",
                    )
                if recorded_previous is None and previous_term is not None:
                    records[key] = (data, previous_term)
            committed = self.committed_terms.get(entry.index)
            if (
                committed is not None
                and committed != entry.term
                and entry.index <= last_held
                and storage.term(entry.index) == committed
            ):
                raise Violation(
                    "committed entries never change",
                    f"node {node.id} overwrites committed entry {entry.index} (term "
                    f"{committed}) with term {entry.term}",
                )
            previous_term = entry.term

    def _apply(self, node: SimNode, ready: Ready) -> None:
        raw = node.raw
        assert raw is not None
        if ready.snapshot is not None:
            snapshot = ready.snapshot
            chain = _decode_chain(snapshot.data)
            record = self.applied_records.get(snapshot.index)
            if record is not None and record[2] != chain:
                raise Violation(
                    "state machine safety",
                    f"node {node.id} installs a snapshot at {snapshot.index} whose state "
                    f"differs from what others applied",
                )
            node.applied = snapshot.index
            node.chain = chain
            node.conf_state = snapshot.conf_state
        for entry in ready.committed_entries:
            if entry.index != node.applied + 1:
                raise Violation(
                    "state machine safety",
                    f"node {node.id} applies {entry.index} after {node.applied}",
                )
            node.chain = zlib.crc32(entry.data, node.chain)
            node.applied = entry.index
            record = self.applied_records.get(entry.index)
            if record is None:
                self.applied_records[entry.index] = (entry.term, entry.data, node.chain)
                if entry.type == EntryType.NORMAL and entry.data:
                    self.acknowledged_max = max(self.acknowledged_max, entry.index)
                    self.stats.acknowledged += 1
            elif record[0] != entry.term or record[1] != entry.data or record[2] != node.chain:
                raise Violation(
                    "state machine safety",
                    f"node {node.id} applies a different entry at {entry.index} than others",
                )
            if entry.type == EntryType.CONF_CHANGE:
                change = decode_conf_change(entry.data)
                node.conf_state = raw.apply_conf_change(change)
                if change.type == ConfChangeType.REMOVE_NODE and change.node_id == node.id:
                    node.removed = True
        for read_state in ready.read_states:
            least = self.pending_reads.pop(read_state.context, None)
            if least is None:
                continue
            self.stats.reads += 1
            if read_state.index < least:
                raise Violation(
                    "linearizable reads",
                    f"node {node.id} got read index {read_state.index} for a read issued "
                    f"after write {least} was acknowledged",
                )

    # ---- checks ----

    def _check(self) -> None:
        new_commits = self.new_commits
        new_commits.clear()
        self.new_leader = False
        for node in self.nodes.values():
            raw = node.raw
            if raw is None:
                continue
            raft = raw.raft
            log = raft.log
            if log.committed > node.seen_commit:
                first_held = log.first_index() - 1
                for index in range(max(node.seen_commit + 1, first_held), log.committed + 1):
                    term = log.term(index)
                    known = self.committed_terms.get(index)
                    if known is None:
                        self.committed_terms[index] = term
                        self.commit_terms[index] = raft.term
                        new_commits.append(index)
                        self.stats.committed += 1
                    elif known != term:
                        raise Violation(
                            "committed entries never change",
                            f"node {node.id} commits term {term} at {index}, "
                            f"committed term there is {known}",
                        )
                    elif raft.term < self.commit_terms[index]:
                        self.commit_terms[index] = raft.term
                        new_commits.append(index)
                node.seen_commit = log.committed
        for node in self.leaders():
            raft = node.raw.raft  # type: ignore[union-attr]
            holder = self.leader_of_term.setdefault(raft.term, node.id)
            if holder != node.id:
                raise Violation(
                    "election safety",
                    f"nodes {holder} and {node.id} are both leader in term {raft.term}",
                )
            key = (node.id, raft.term)
            if key not in self.checked_leaders:
                self.new_leader = True
                self.checked_leaders.add(key)
                self.stats.leaders += 1
                self._check_leader_completeness(node, self.committed_terms)
            elif new_commits:
                self._check_leader_completeness(node, new_commits)

    def _check_leader_completeness(self, node: SimNode, indexes: object) -> None:
        raft = node.raw.raft  # type: ignore[union-attr]
        log = raft.log
        snapshot_index = log.first_index() - 1
        for index in indexes:  # type: ignore[attr-defined]
            if index < snapshot_index or self.commit_terms[index] >= raft.term:
                continue
            expected = self.committed_terms[index]
            if log.term_or_zero(index) != expected:
                raise Violation(
                    "leader completeness",
                    f"leader {node.id} of term {raft.term} lacks entry {index} (term "
                    f"{expected}) committed in term {self.commit_terms[index]}",
                )

    # ---- actions ----

    def _propose(self) -> None:
        alive = self.alive()
        if not alive:
            return
        node = self.rng.choice(alive)
        self.proposals += 1
        payload = b"%d:%d" % (self.config.seed, self.proposals)
        with contextlib.suppress(ProposalDropped):
            node.raw.propose(payload)  # type: ignore[union-attr]

    def _read(self) -> None:
        alive = self.alive()
        if not alive:
            return
        node = self.rng.choice(alive)
        self.proposals += 1
        context = b"read:%d" % self.proposals
        self.pending_reads[context] = self.acknowledged_max
        try:
            node.raw.read_index(context)  # type: ignore[union-attr]
        except ReadIndexDropped:
            self.pending_reads.pop(context, None)

    def _members(self) -> list[SimNode]:
        return [node for node in self.nodes.values() if not node.removed]

    def _fault(self) -> None:
        rng = self.rng
        kind = rng.choices(
            ["partition", "heal", "crash", "restart", "membership", "compact", "transfer"],
            weights=[20, 20, 15, 20, 12, 10, 5],
        )[0]
        if kind == "partition":
            ids = list(self.nodes)
            rng.shuffle(ids)
            cut = rng.randint(1, len(ids) - 1)
            self.groups = {node_id: (0 if i < cut else 1) for i, node_id in enumerate(ids)}
        elif kind == "heal":
            self.groups = {}
        elif kind == "crash":
            alive = [node for node in self._members() if node.raw is not None]
            down = sum(1 for node in self._members() if node.raw is None)
            if alive and down < (len(self._members()) - 1) // 2:
                leaders = [node for node in self.leaders() if node in alive]
                if leaders and rng.random() < self.leader_crash_bias:
                    self._crash(rng.choice(leaders))
                else:
                    self._crash(rng.choice(alive))
        elif kind == "restart":
            down = [node for node in self._members() if node.raw is None]
            if down:
                self._start(rng.choice(down))
        elif kind == "membership":
            self._change_membership()
        elif kind == "compact":
            self._compact()
        elif kind == "transfer":
            leaders = self.leaders()
            if leaders:
                leader = leaders[0]
                voters = [v for v in leader.raw.raft.tracker.voters if v != leader.id]  # type: ignore[union-attr]
                if voters:
                    leader.raw.transfer_leader(rng.choice(sorted(voters)))  # type: ignore[union-attr]

    def _change_membership(self) -> None:
        leaders = self.leaders()
        if not leaders:
            return
        leader = leaders[0]
        raft = leader.raw.raft  # type: ignore[union-attr]
        voters = sorted(raft.tracker.voters)
        learners = sorted(raft.tracker.learners)
        rng = self.rng
        options: list[ConfChange] = []
        if learners:
            options.append(ConfChange(ConfChangeType.ADD_NODE, rng.choice(learners)))
            options.append(ConfChange(ConfChangeType.REMOVE_NODE, rng.choice(learners)))
        elif len(voters) < self.config.nodes + 2:
            options.append(ConfChange(ConfChangeType.ADD_LEARNER_NODE, self.next_id))
        if len(voters) > 3:
            options.append(ConfChange(ConfChangeType.REMOVE_NODE, rng.choice(voters)))
        if not options:
            return
        change = rng.choice(options)
        try:
            leader.raw.propose_conf_change(change)  # type: ignore[union-attr]
        except ProposalDropped:
            return
        self.stats.conf_changes += 1
        if change.type == ConfChangeType.ADD_LEARNER_NODE:
            node = SimNode(id=change.node_id, storage=MemoryStorage(), founder=False)
            self.nodes[node.id] = node
            self.next_id += 1
            self._start(node)
            if self.groups:
                self.groups[node.id] = 0

    def _compact(self) -> None:
        candidates = [
            node
            for node in self.alive()
            if node.applied > node.storage.snapshot().index and node.applied > 1
        ]
        if not candidates:
            return
        node = self.rng.choice(candidates)
        storage = node.storage
        if node.applied > storage.last_index():
            return
        storage.create_snapshot(node.applied, node.conf_state, _encode_chain(node.chain))
        keep = self.rng.randint(0, 5)
        target = node.applied - keep
        if target > storage.first_index() - 1:
            storage.compact(target)

    # ---- the main loop ----

    def step(self, *, faults: bool = True) -> None:
        config = self.config
        rng = self.rng
        self.now += 1
        self.stats.steps += 1
        self._deliver_due()
        if rng.random() < config.tick_chance:
            for node in self.alive():
                if rng.random() < 0.95:
                    node.raw.tick()  # type: ignore[union-attr]
        if rng.random() < config.propose_chance:
            self._propose()
        if rng.random() < config.read_chance:
            self._read()
        if faults and rng.random() < config.fault_chance:
            self._fault()
        for node in self.alive():
            if not faults or rng.random() < config.process_chance:
                self._process_ready(node)
        self._check()

    def run(self) -> Stats:
        for _ in range(self.config.steps):
            self.step()
            self._cut_a_leader_at_a_bad_moment()
        self._check_liveness()
        return self.stats

    def _cut_a_leader_at_a_bad_moment(self) -> None:
        """Crash or isolate a leader right after it won, or right after it advanced its commit."""
        if self.cut_on_commit == 0.0:
            return
        rng = self.rng
        for node in self.leaders():
            raft = node.raw.raft  # type: ignore[union-attr]
            just_won = self.leader_of_term.get(raft.term) == node.id and self.new_leader
            just_committed = bool(self.new_commits) and raft.log.committed >= self.new_commits[-1]
            if not (just_won or just_committed) or rng.random() >= self.cut_on_commit:
                continue
            if rng.random() < 0.5:
                down = sum(1 for member in self._members() if member.raw is None)
                if down < (len(self._members()) - 1) // 2:
                    self._crash(node)
            else:
                self.groups = {node_id: int(node_id == node.id) for node_id in self.nodes}
            return

    def _check_liveness(self) -> None:
        """Heal everything; a leader must appear and a new write must reach every member."""
        config = self.config
        self.groups = {}
        config.drop = config.duplicate = config.long_delay = 0.0
        for node in self._members():
            if node.raw is None:
                self._start(node)
        budget = config.liveness_steps
        leader = None
        while budget > 0:
            budget -= 1
            self.step(faults=False)
            leader = self._stable_leader()
            if leader is not None:
                break
        if leader is None:
            raise Violation("liveness", f"no stable leader within {config.liveness_steps} steps")
        self.proposals += 1
        sentinel = b"sentinel:%d" % self.proposals
        target: int | None = None
        while budget > 0:
            budget -= 1
            if target is None:
                leader = self._stable_leader()
                if leader is not None:
                    try:
                        leader.raw.propose(sentinel)  # type: ignore[union-attr]
                        target = leader.raw.raft.log.last_index()  # type: ignore[union-attr]
                    except ProposalDropped:
                        pass
            self.step(faults=False)
            if target is None:
                continue
            record = self.applied_records.get(target)
            if record is not None and record[1] != sentinel:
                target = None  # the sentinel lost its slot to another leader: propose again
                continue
            if all(self.nodes[m].applied >= target for m in self._final_members()):
                return
        raise Violation(
            "liveness",
            f"a write proposed after healing did not reach every member within "
            f"{config.liveness_steps} steps",
        )

    def _stable_leader(self) -> SimNode | None:
        leaders = self.leaders()
        if not leaders:
            return None
        leader = max(leaders, key=lambda node: node.raw.raft.term)  # type: ignore[union-attr]
        raft = leader.raw.raft  # type: ignore[union-attr]
        for node_id in raft.tracker.voters:
            node = self.nodes.get(node_id)
            if node is None or node.raw is None or node.raw.raft.leader != leader.id:
                return None
        return leader

    def _final_members(self) -> list[int]:
        leader = self._stable_leader()
        if leader is None:
            return list(self.nodes)
        tracker = leader.raw.raft.tracker  # type: ignore[union-attr]
        return sorted(tracker.voters | tracker.learners)


def run_seed(seed: int, *, nodes: int = 3, steps: int = 1000) -> Stats:
    """Run one seed; raises `Violation` (with the reproducing command in its message)."""
    config = SimulationConfig(seed=seed, nodes=nodes, steps=steps)
    try:
        return Simulation(config).run()
    except Violation as violation:
        violation.args = (f"{violation.args[0]}\n  reproduce: {config.command()}",)
        raise
    except Exception as exc:  # a crash in the core is a failure too, with the same recipe
        raise Violation("no exceptions", f"{exc!r}\n  reproduce: {config.command()}") from exc
