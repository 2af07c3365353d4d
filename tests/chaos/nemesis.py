"""Faults on a seeded schedule, one at a time: inject, hold, heal, pause, repeat.

Kinds: `kill` (kill -9, restart on the same data dir), `pause` (SIGSTOP the leader,
SIGCONT), `partition` (cut a minority, often the leader, from the rest through the peer
proxy), `torn-wal` (kill -9, append half a record to the newest WAL segment, restart:
the member must repair the tail and lose nothing acknowledged), `disk-full` (cap the
member's file sizes with RLIMIT_FSIZE a little above its largest file: its writes fail
as on a full disk; it must stop rather than go on half-alive, and come back after a
restart), `hostile-peer` (forged and malformed Raft frames at random members' peer
ports, `tests.support.hostile_peer`: each must be refused with the status that says
why, while the clients' history stays linearizable and nothing acknowledged is lost),
`membership` (add, remove or replace a member, `tests.chaos.membership`, sometimes while
another member is killed or partitioned; only when asked for by name).
The schedule's sleeps are the schedule itself; everything else polls with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import signal
import struct
import threading
import time
from dataclasses import dataclass, field

from tests.chaos import membership
from tests.chaos.harness import Cluster, wal_files
from tests.support import hostile_peer
from tests.support.servers import Member

FAULT_KINDS = ("kill", "pause", "partition", "torn-wal", "disk-full", "hostile-peer")
# Asked for by name (--faults): it changes the member set, which the default run keeps.
KNOWN_KINDS = (*FAULT_KINDS, "membership")
MIN_MEMBERS, MAX_MEMBERS = 3, 5
HOSTILE_FRAME_GAP_S = 0.05
DISK_HEADROOM_BYTES = 4096
RESTART_TIMEOUT_S = 60.0


@dataclass
class Fault:
    kind: str
    targets: list[str]
    start: float
    end: float = 0.0
    note: str = ""

    def describe(self) -> str:
        extra = f" ({self.note})" if self.note else ""
        span = f"{self.start:6.1f}s-{self.end:6.1f}s"
        return f"{span} {self.kind:<9} {','.join(self.targets)}{extra}"


@dataclass
class Nemesis:
    cluster: Cluster
    seed: int
    kinds: tuple[str, ...] = FAULT_KINDS
    hold: tuple[float, float] = (1.5, 4.0)
    gap: tuple[float, float] = (1.0, 3.0)
    # Sizes to grow or shrink to, one member at a time, before the random faults.
    plan: tuple[int, ...] = ()
    faults: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/nemesis")
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def run(self, until: float, stop: threading.Event) -> None:
        """Inject faults until `until` seconds (of this nemesis's clock) have passed.

        Kinds come round in a shuffled cycle, so a run long enough for one cycle sees
        every kind. Whatever happens, the cluster is healed before returning.
        """
        cycle: list[str] = []
        try:
            self.resize(self.plan)
            while self.kinds and not stop.wait(self.rng.uniform(*self.gap)):
                hold = self.rng.uniform(*self.hold)
                if self.now() + hold + 2 > until:
                    break
                if not cycle:
                    cycle = list(self.kinds)
                    self.rng.shuffle(cycle)
                kind = cycle.pop()
                fault = Fault(kind, [], self.now())
                self.faults.append(fault)
                getattr(self, "_" + kind.replace("-", "_"))(fault, hold, stop)
                fault.end = self.now()
        except Exception as error:  # noqa: BLE001 - reported, and the run fails on it
            self.errors.append(f"nemesis: {type(error).__name__}: {error}")
        finally:
            self.heal()

    def heal(self) -> None:
        """Undo every fault: reconnect, resume, restart whoever is down."""
        self.cluster.proxy.heal()
        for member in self.cluster.members:
            if member.process is not None and member.process.poll() is None:
                os.kill(member.pid, signal.SIGCONT)
        for member in self.cluster.members:
            if member.process is None or member.process.poll() is not None:
                member.process = None
                try:
                    member.start(RESTART_TIMEOUT_S)
                except (RuntimeError, TimeoutError) as error:
                    self.errors.append(f"restart of {member.name} failed: {error}")

    # ---- fault kinds -----------------------------------------------------------------------

    def _victim(self, prefer_leader: float = 0.5) -> Member:
        if self.rng.random() < prefer_leader:
            leader = self.cluster.leader()
            if leader is not None:
                return leader
        return self.rng.choice(self.cluster.members)

    def _kill(
        self, fault: Fault, hold: float, stop: threading.Event, member: Member | None = None
    ) -> None:
        member = member or self._victim()
        fault.targets = [member.name]
        member.kill()
        stop.wait(hold)
        member.start(RESTART_TIMEOUT_S)

    def resize(self, sizes: tuple[int, ...]) -> None:
        """Grow or shrink to each size in turn, one member at a time. Adds alternate
        between a learner (then promoted) and a voter; the first removal is the leader's."""
        learner, leader_removed = True, False
        for size in sizes:
            while len(self.cluster.members) != size:
                fault = Fault("membership", [], self.now())
                self.faults.append(fault)
                if len(self.cluster.members) < size:
                    fault.note = self._change("add", None, learner)
                    learner = not learner
                elif leader_removed:
                    victim = self._victim(prefer_leader=0.0)
                    leading = victim is self.cluster.leader()
                    fault.note = self._change("remove", victim, False, leading)
                else:
                    victim = self.cluster.wait_leader()
                    fault.note = self._change("remove", victim, False, leading=True)
                    leader_removed = True
                fault.targets = [fault.note.split()[-1]]
                fault.end = self.now()

    def _membership(self, fault: Fault, hold: float, stop: threading.Event) -> None:
        """Add, remove or replace a member, keeping 3 to 5, often while another member
        is killed or cut off (the change then waits for strict reconfig's health check).
        The member to remove is sometimes killed first (a failed member replaced) or cut
        off (it must learn of its removal once the cut heals)."""
        size = len(self.cluster.members)
        actions = ["replace"]
        actions += ["add"] if size < MAX_MEMBERS else []
        actions += ["remove"] if size > MIN_MEMBERS else []
        action = self.rng.choice(actions)
        victim = None if action == "add" else self._victim()
        leading = victim is not None and victim is self.cluster.leader()
        learner = self.rng.random() < 0.5
        state = self.rng.choice(["up", "up", "killed", "cut"]) if victim else "up"
        if victim is not None and state == "killed":
            victim.kill()  # etcd's recipe for a failed member: remove it, add a new one
        elif victim is not None and state == "cut":
            others = [member.name for member in self.cluster.members if member is not victim]
            self.cluster.proxy.partition([victim.name], others)
        side = self._side_fault(victim, hold, stop)
        fault.note = "" if state == "up" else f"{state}, "
        fault.targets = [victim.name] if victim else []
        try:
            fault.note += self._change(action, victim, learner, leading, cut=state == "cut")
        finally:
            if side is not None:
                side.join()
        fault.targets = [name for name in (victim and victim.name, fault.note.split()[-1]) if name]

    def _change(
        self,
        action: str,
        victim: Member | None,
        learner: bool,
        leading: bool = False,
        cut: bool = False,
    ) -> str:
        """Carry out one change (`leading`: the victim led when chosen); the note ends with
        the name of the member it affected."""
        as_learner = " as a learner, promoted," if learner else ""
        if action == "remove":
            assert victim is not None
            membership.remove_member(self.cluster, victim, cut)
            return f"removed{' (the leader)' if leading else ''} {victim.name}"
        if action == "replace":
            assert victim is not None
            new = membership.replace_member(self.cluster, victim, learner, cut)
            led = " (the leader)" if leading else ""
            return f"replaced{led} {victim.name}, wiped,{as_learner} by {new.name}"
        new = membership.add_member(self.cluster, learner)
        return f"added{as_learner} {new.name}"

    def _side_fault(
        self, spared: Member | None, hold: float, stop: threading.Event
    ) -> threading.Thread | None:
        """Sometimes a kill or a partition of another member, begun during a change."""
        kind = self.rng.choice(["kill", "partition", None])
        others = [member for member in self.cluster.members if member is not spared]
        if kind is None or not others:
            return None
        target, delay = self.rng.choice(others), self.rng.uniform(0.0, 1.0)
        fault = Fault(kind, [], 0.0, note="during a membership change")

        def inject() -> None:
            stop.wait(delay)
            fault.start = self.now()
            try:
                getattr(self, "_" + kind)(fault, hold, stop, target)
            except Exception as error:  # noqa: BLE001 - reported, and the run fails on it
                self.errors.append(f"nemesis ({kind} during membership): {error}")
            fault.end = self.now()

        self.faults.append(fault)
        thread = threading.Thread(target=inject, name=f"nemesis-{kind}")
        thread.start()
        return thread

    def _torn_wal(self, fault: Fault, hold: float, stop: threading.Event) -> None:
        member = self._victim()
        fault.targets = [member.name]
        member.kill()
        if self.cluster.kind != "keyraft":
            # etcd preallocates its segments, so "the end of the file" is not the end of the
            # log; for etcd this is a plain kill.
            fault.note = "plain kill on etcd"
        else:
            segments = wal_files(member)
            if segments:
                fault.note = tear(segments[-1], self.rng)
        stop.wait(hold)
        member.start(RESTART_TIMEOUT_S)

    def _disk_full(self, fault: Fault, hold: float, stop: threading.Event) -> None:
        member = self._victim()
        fault.targets = [member.name]
        files = [path for path in member.data_dir.rglob("*") if path.is_file()]
        limit = max((path.stat().st_size for path in files), default=0) + DISK_HEADROOM_BYTES
        unlimited = resource.RLIM_INFINITY
        resource.prlimit(member.pid, resource.RLIMIT_FSIZE, (limit, unlimited))
        fault.note = f"files capped at {limit} bytes"
        stop.wait(hold)
        if member.process is not None and member.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(member.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
            return
        fault.note += f", member exited with {member.process.returncode}; restarted"
        member.process = None
        member.start(RESTART_TIMEOUT_S)

    def _pause(self, fault: Fault, hold: float, stop: threading.Event) -> None:
        member = self._victim(prefer_leader=1.0)
        fault.targets = [member.name]
        os.kill(member.pid, signal.SIGSTOP)
        try:
            stop.wait(hold)
        finally:
            os.kill(member.pid, signal.SIGCONT)

    def _partition(
        self, fault: Fault, hold: float, stop: threading.Event, member: Member | None = None
    ) -> None:
        names = [member.name for member in self.cluster.members]
        first = (member or self._victim()).name
        minority_size = 1 if len(names) <= 3 else self.rng.choice([1, (len(names) - 1) // 2])
        others = [name for name in names if name != first]
        self.rng.shuffle(others)
        minority = [first, *others[: minority_size - 1]]
        majority = [name for name in names if name not in minority]
        fault.targets = minority
        fault.note = f"cut from {','.join(majority)}"
        self.cluster.proxy.partition(minority, majority)
        try:
            stop.wait(hold)
        finally:
            self.cluster.proxy.heal()

    def _hostile_peer(self, fault: Fault, hold: float, stop: threading.Event) -> None:
        if self.cluster.kind != "keyraft":
            fault.note = "skipped on etcd (its peer port speaks another protocol)"
            stop.wait(hold)
            return
        targets = {member.name: hostile_peer.target(member) for member in self.cluster.members}
        fault.targets = sorted(targets)
        attacks = list(hostile_peer.EXPECTED)
        deadline = time.monotonic() + hold
        counts: dict[int, int] = {}
        while time.monotonic() < deadline and not stop.wait(HOSTILE_FRAME_GAP_S):
            name = self.rng.choice(fault.targets)
            attack = self.rng.choice(attacks)
            status = attack(targets[name], self.rng)
            counts[status] = counts.get(status, 0) + 1
            if status != hostile_peer.EXPECTED[attack]:
                self.errors.append(
                    f"hostile-peer: {name} answered {attack.__name__} with {status}, "
                    f"not {hostile_peer.EXPECTED[attack]}"
                )
        fault.note = "frames refused: " + ", ".join(
            f"{count}x{status}" for status, count in sorted(counts.items())
        )


def tear(segment: os.PathLike, rng: random.Random) -> str:
    """Append a record cut short (or with a bad checksum) to a keyraft WAL segment.

    Only bytes after the last complete record are touched, so nothing fsynced is lost:
    this is what a crash in the middle of an append leaves behind.
    """
    header = struct.Struct("<IIB")
    if rng.random() < 0.5:
        torn = header.pack(4096, 0xDEADBEEF, 1) + bytes(rng.randrange(256) for _ in range(100))
        what = "half a record"
    else:
        payload = bytes(rng.randrange(256) for _ in range(64))
        torn = header.pack(len(payload), 0xDEADBEEF, 1) + payload
        what = "a record with a bad checksum"
    with open(segment, "ab") as handle:
        handle.write(torn)
        handle.flush()
        os.fsync(handle.fileno())
    return f"appended {what}, {len(torn)} bytes"
