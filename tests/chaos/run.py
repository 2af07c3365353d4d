"""One chaos run: cluster, clients, nemesis, heal, checks, report.

    python -m tests.chaos.run --seed 7 --duration 60 --nodes 5 [--kind etcd]
    python -m tests.chaos.run --seed 7 --duration 25 --faults membership,kill,partition
    python -m tests.chaos.run --seed 7 --nodes 1 --resize 3,5,3 --faults ''  # grow, shrink

The seed fixes the fault schedule and every client's choices; the report names it so a
failing run can be repeated (timing still varies, so a repeat is likely, not certain,
to fail the same way). Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.checker import Result, Verdict, check
from tests.chaos.harness import KINDS, Cluster, make_cluster
from tests.chaos.history import History, revision_regressions, timeline
from tests.chaos.nemesis import FAULT_KINDS, KNOWN_KINDS, Fault, Nemesis
from tests.chaos.verify import final_reads, lost_writes, wait_converged
from tests.chaos.workload import run_clients

SETTLE_S = 2.0


@dataclass
class Config:
    seed: int
    duration: float = 60.0
    nodes: int = 3
    kind: str = "keyraft"
    clients: int = 6
    keys: int = 4
    faults: tuple[str, ...] = FAULT_KINDS
    serializable: bool = False
    workdir: Path | None = None
    resize: tuple[int, ...] = ()  # sizes to change to, one member at a time, before faults

    def command_line(self) -> str:
        """The command that repeats this run's schedule."""
        words = [
            "python -m tests.chaos.run",
            f"--seed {self.seed} --duration {self.duration:g} --nodes {self.nodes}",
            f"--kind {self.kind} --clients {self.clients} --keys {self.keys}",
        ]
        if self.faults != FAULT_KINDS:
            words.append(f"--faults '{','.join(self.faults)}'")
        if self.resize:
            words.append(f"--resize {','.join(map(str, self.resize))}")
        if self.serializable:
            words.append("--serializable")
        return " ".join(words)


@dataclass
class Report:
    config: Config
    counts: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    linearizability: Result | None = None
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    history: History | None = None
    timeline: list[int] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # at the end

    @property
    def ok(self) -> bool:
        verdict = self.linearizability.verdict if self.linearizability else None
        return verdict is Verdict.LINEARIZABLE and not self.problems

    def render(self) -> str:
        config = self.config
        lines = [
            f"chaos run: {config.kind} x{config.nodes}, seed {config.seed}, "
            f"{config.duration:.0f}s, {config.clients} clients on {config.keys} keys"
            + (", serializable reads" if config.serializable else ""),
            "ops: " + ", ".join(f"{name} {count}" for name, count in self.counts.items()),
            "completed per 5 s: " + " ".join(str(count) for count in self.timeline),
            "members at the end: " + ",".join(self.members),
            f"faults ({len(self.faults)}):",
            *("  " + fault.describe() for fault in self.faults),
        ]
        if self.linearizability is not None:
            lines.append("linearizability: " + self.linearizability.summary())
            lines.extend(
                f"  {item.key}: {item.verdict.value} ({item.operations} ops, {item.steps} steps)"
                for item in self.linearizability.keys
            )
        lines.append("problems: " + ("none" if not self.problems else ""))
        lines.extend("  " + problem for problem in self.problems)
        lines.append("timing: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()))
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}  (reproduce: {config.command_line()})")
        return "\n".join(lines)


def run(config: Config) -> Report:
    """Run the whole scenario; the cluster is always stopped, also on failure."""
    report = Report(config)
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{config.seed}-"))
    cluster = make_cluster(workdir, config.nodes, config.kind)
    history = History()
    keys = [f"hot/{index}" for index in range(config.keys)]
    stop = threading.Event()
    threads: list[threading.Thread] = []
    started = time.monotonic()
    try:
        cluster.start()
        cluster.wait_leader()
        report.seconds["start"] = time.monotonic() - started
        history = History()
        threads = run_clients(
            cluster, history, keys, config.clients, config.seed, stop, config.serializable
        )
        nemesis = Nemesis(cluster, config.seed, kinds=config.faults, plan=config.resize)
        nemesis.run(config.duration, stop=threading.Event())
        # The nemesis stops early enough to heal; clients run on to the deadline (and a
        # little past a resize that outlasted it), so the history covers the healed cluster.
        stop.wait(max(config.duration - nemesis.now(), SETTLE_S))
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        report.faults = nemesis.faults
        report.problems.extend(nemesis.errors)
        report.seconds["traffic"] = time.monotonic() - started - report.seconds["start"]
        report.members = [member.name for member in cluster.members]
        _after_healing(cluster, history, keys, report)
    except Exception as error:  # noqa: BLE001 - a cluster that never recovers is a finding
        report.problems.append(f"run aborted: {type(error).__name__}: {error}")
    finally:
        stop.set()
        cluster.stop()
    report.history = history
    report.timeline = timeline(history)
    report.counts = history.counts()
    checking = time.monotonic()
    report.linearizability = check(history.snapshot())
    report.seconds["check"] = time.monotonic() - checking
    return report


def _after_healing(cluster: Cluster, history: History, keys: list[str], report: Report) -> None:
    healing = time.monotonic()
    cluster.wait_leader(timeout=60)
    report.problems.extend(final_reads(cluster, history, keys))
    report.problems.extend(wait_converged(cluster))
    report.problems.extend(lost_writes(cluster.members[0], history))
    if not report.config.serializable:
        report.problems.extend(revision_regressions(history))
    report.seconds["verify"] = time.monotonic() - healing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--nodes", type=int, default=3, choices=(1, 3, 5))
    parser.add_argument("--kind", default="keyraft", choices=KINDS)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated")
    parser.add_argument("--serializable", action="store_true", help="stale reads allowed")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--resize", default="", help="sizes to go through first, e.g. 3,5,3")
    flags = parser.parse_args(argv)
    seed = flags.seed if flags.seed is not None else random.SystemRandom().randrange(10**6)
    faults = tuple(kind for kind in flags.faults.split(",") if kind)
    unknown = set(faults) - set(KNOWN_KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {KNOWN_KINDS}")
    try:
        resize = tuple(int(size) for size in flags.resize.split(",") if size)
    except ValueError:
        parser.error(f"--resize wants sizes like 3,5,3, not {flags.resize!r}")
    config = Config(
        seed,
        flags.duration,
        flags.nodes,
        flags.kind,
        flags.clients,
        flags.keys,
        faults,
        flags.serializable,
        flags.workdir,
        resize,
    )
    print(f"seed {seed}", flush=True)
    report = run(config)
    print(report.render(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
