"""A/B two keyraft builds or settings on one workload, both clusters up side by side.

Separate bench runs on this shared VM differ by more than most changes are worth (the
same code's throughput moved by a third between runs), so a change is judged here
against its baseline in one run: both clusters start, and the load alternates between
them in pairs (A then B, then B then A, ...) of a few seconds, so that drift hits both
alike. Each side is a git revision (checked out in a temporary worktree) or the working
tree, with its own extra flags. Prints every pair and the median B/A ratios of
throughput and of CPU per request.

    python -m bench.ab put-all --a-rev HEAD~1            # the last commit's effect
    python -m bench.ab put-leader --b-flags "--cpu-scheduling normal"
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.perf import prepare
from bench.workloads import WORKLOADS_BY_NAME, Cluster, Sample, Workload, measured
from tests.support.servers import ROOT, Member, find_leader, keyraft_cluster, started

WARM_UP_S = 3


@dataclass(frozen=True)
class Side:
    """One build under test: code from `revision` (None: the working tree), with `flags`."""

    name: str
    revision: str | None
    flags: tuple[str, ...]


def ratios(a: list[Sample], b: list[Sample]) -> tuple[float, float]:
    """Median B/A of throughput and of CPU per request, over pairs run back to back."""
    throughput = [float(y.result) / float(x.result) for x, y in zip(a, b, strict=True)]
    cpu = [y.cpu_us / x.cpu_us for x, y in zip(a, b, strict=True)]
    return statistics.median(throughput), statistics.median(cpu)


def pair_order(number: int) -> str:
    """A then B, then B then A, ...: neither side always runs second."""
    return "AB" if number % 2 == 0 else "BA"


@contextlib.contextmanager
def _code(side: Side, directory: Path) -> Iterator[Path]:
    """A directory whose `keyraft` is `side`'s code, to put first on PYTHONPATH (the
    package is installed as keyraft -> the project's root, editable)."""
    root = directory / side.name
    root.mkdir()
    if side.revision is None:
        (root / "keyraft").symlink_to(ROOT)
        yield root
        return
    tree = directory / f"{side.name}-tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), side.revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        (root / "keyraft").symlink_to(tree)
        yield root
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
        )


def _cluster(side: Side, code: Path, directory: Path, workload: Workload) -> list[Member]:
    members = keyraft_cluster(directory, workload.size, ("--log-level", "warn", *side.flags))
    for member in members:
        member.command = ["env", f"PYTHONPATH={code}", *member.command]
    return members


def compare(
    workload: Workload, sides: tuple[Side, Side], duration: int, pairs: int, connections: int
) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ab-") as temporary, contextlib.ExitStack() as stack:
        directory = Path(temporary)
        clusters: dict[str, Cluster] = {}
        for side in sides:
            code = stack.enter_context(_code(side, directory))
            (directory / f"{side.name}-data").mkdir()
            members = _cluster(side, code, directory / f"{side.name}-data", workload)
            stack.enter_context(started(members))
            cluster = Cluster(members, find_leader(members))
            prepare(cluster, False)
            measured(cluster.members, workload.run, cluster, WARM_UP_S, connections)
            clusters[side.name] = cluster
        samples: dict[str, list[Sample]] = {"A": [], "B": []}
        for number in range(pairs):
            for name in pair_order(number):
                cluster = clusters[name]
                sample = measured(cluster.members, workload.run, cluster, duration, connections)
                samples[name].append(sample)
            a, b = samples["A"][-1], samples["B"][-1]
            print(
                f"pair {number + 1}: A {float(a.result):.0f} req/s p99 {a.result.p99_ms} ms "
                f"CPU {a.cpu_us:.0f} us/req | B {float(b.result):.0f} req/s p99 "
                f"{b.result.p99_ms} ms CPU {b.cpu_us:.0f} us/req | B/A {b.result / a.result:.3f}",
                flush=True,
            )
        return ratios(samples["A"], samples["B"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS_BY_NAME))
    parser.add_argument("--a-rev", help="git revision for A (default: the working tree)")
    parser.add_argument("--b-rev", help="git revision for B (default: the working tree)")
    parser.add_argument("--a-flags", default="", help="extra keyraft flags for A")
    parser.add_argument("--b-flags", default="", help="extra keyraft flags for B")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    sides = (
        Side("A", args.a_rev, tuple(args.a_flags.split())),
        Side("B", args.b_rev, tuple(args.b_flags.split())),
    )
    workload = WORKLOADS_BY_NAME[args.workload]
    throughput, cpu = compare(workload, sides, args.duration, args.pairs, args.connections)
    print(
        f"{workload.name}: B/A throughput {throughput:.3f}, CPU per request {cpu:.3f} "
        f"(medians over {args.pairs} pairs)"
    )


if __name__ == "__main__":
    main()
