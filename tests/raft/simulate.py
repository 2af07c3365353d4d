"""Run the Raft simulator over many seeds: `python -m tests.raft.simulate --seeds N`.

Seeds run in this one process, in order. The first failing seed stops the run
and prints the single command that reproduces it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from tests.raft.simulator import Violation, run_seed


def nodes_for(seed: int, nodes: int | None) -> int:
    """Odd seeds run 5 nodes and even seeds 3, unless a size is given."""
    if nodes is not None:
        return nodes
    return 5 if seed % 2 else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="how many seeds to run")
    parser.add_argument("--seed", type=int, default=0, help="first seed (alone: run just it)")
    parser.add_argument("--nodes", type=int, default=None, help="cluster size (default 3/5)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per seed")
    args = parser.parse_args(argv)
    count = args.seeds if args.seeds is not None else 1
    started = time.perf_counter()
    totals: dict[str, int] = {}
    for seed in range(args.seed, args.seed + count):
        try:
            stats = run_seed(seed, nodes=nodes_for(seed, args.nodes), steps=args.steps)
        except Violation as violation:
            if violation.__cause__ is not None:
                traceback.print_exception(violation.__cause__, file=sys.stderr)
            print(f"seed {seed} FAILED: {violation}", file=sys.stderr)
            return 1
        for name in stats.__slots__:
            totals[name] = totals.get(name, 0) + getattr(stats, name)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{name} {value}" for name, value in totals.items())
    print(f"{count} seeds passed in {elapsed:.1f}s ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
