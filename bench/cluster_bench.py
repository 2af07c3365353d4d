"""3-member throughput and memory, keyraft vs real etcd, same machine, same run.

    python -m bench.cluster_bench [--duration 10] [--puts 100000]

Workloads (wrk, 64 connections): put with unique keys and 256-byte values, to the leader
and spread over all members; linearizable single-key range on a follower; serializable
range; for each, also the CPU the three members used per request (lower is better: the
ratio there is keyraft's cost over etcd's). Then the summed peak resident memory of the
members after --puts puts.
"""

from __future__ import annotations

import argparse

import httpx

from bench.clusters import measure_both, print_ratios, put_many, resident_mib
from bench.workloads import WORKLOADS_BY_NAME, Cluster, measured
from tests.support.servers import Member, find_leader, started

# This bench's names for the shared workloads (bench.perf runs them, and more, in rounds).
NAMES = {
    "put (leader)": "put-leader",
    "put (all members)": "put-all",
    "range (follower)": "range-follower",
    "range (serializable)": "range-serializable",
}


def _throughput(
    members: list[Member], leader: Member, duration: int, connections: int
) -> dict[str, float]:
    cluster = Cluster(members, leader)
    results: dict[str, float] = {}
    cpu_per_request: dict[str, float] = {}
    for name, workload in NAMES.items():
        sample = measured(members, WORKLOADS_BY_NAME[workload].run, cluster, duration, connections)
        results[name] = float(sample.result)
        # Throughput swings with the machine's neighbours; CPU per request much less.
        cpu_per_request[f"{name} CPU us/req"] = sample.cpu_us
    return {**results, **cpu_per_request}


def measure(members: list[Member], duration: int, connections: int, puts: int) -> dict[str, float]:
    with started(members):
        leader = find_leader(members)
        httpx.post(leader.client_url + "/v3/kv/put", json={"key": "YmVuY2gva2V5", "value": "dg=="})
        results: dict[str, float] = {}
        if duration > 0:
            results.update(_throughput(members, leader, duration, connections))
        put_many(leader.client_url, puts)
        results["peak RSS MiB (sum)"] = sum(resident_mib(m, "VmHWM") for m in members)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--puts", type=int, default=100_000)
    args = parser.parse_args()
    etcd, keyraft = measure_both(
        "cluster-bench-",
        lambda members: measure(members, args.duration, args.connections, args.puts),
    )
    print_ratios(etcd, keyraft)


if __name__ == "__main__":
    main()
