"""Large ranges on a 3-member keyraft cluster's leader: elections and small-request latency.

    python -m bench.big_ranges [--keys 200000] [--parallel 10]

Loads --keys keys (128 puts to a txn), then sends --parallel full-keyspace ranges to the
leader at once while another client sends small requests (put, then a one-key
linearizable range) to the leader one after another. Prints how long the ranges took,
the small requests' latency, and how many elections happened (Raft terms before and
after, on every member). A measurement, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.support.big_ranges import big_ranges, load_keys
from tests.support.servers import find_leader, keyraft_cluster, start_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="big-ranges-") as directory:
        members = keyraft_cluster(Path(directory), 3, ("--log-level", "warn"))
        try:
            start_all(members)
            leader = find_leader(members)
            started = time.perf_counter()
            load_keys(leader.client_url, args.keys)
            print(f"loaded {args.keys} keys in {time.perf_counter() - started:.1f} s")
            for _round in range(args.rounds):
                leader = find_leader(members)
                outcome = big_ranges(members, leader, args.parallel)
                assert set(outcome.range_counts) <= {args.keys, args.keys + 1}  # + the probe key
                print(outcome.summary())
        finally:
            for member in members:
                member.stop()


if __name__ == "__main__":
    main()
