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
import concurrent.futures

import httpx

from bench.clusters import cpu_seconds, measure_both, print_ratios, put_many, resident_mib
from bench.kv_bench import wrk
from tests.support.servers import Member, find_leader, started


def _throughput(
    members: list[Member], leader: Member, duration: int, connections: int
) -> dict[str, float]:
    follower = next(m for m in members if m is not leader)
    share = max(1, connections // len(members))

    def spread(script: str) -> float:
        with concurrent.futures.ThreadPoolExecutor(len(members)) as pool:
            return sum(pool.map(lambda m: wrk(m.client_url, script, duration, share), members))

    workloads = {
        "put (leader)": lambda: wrk(leader.client_url, "put.lua", duration, connections),
        "put (all members)": lambda: spread("put.lua"),
        "range (follower)": lambda: wrk(follower.client_url, "range.lua", duration, connections),
        "range (serializable)": lambda: wrk(
            follower.client_url, "range.lua", duration, connections, {"BENCH_SERIALIZABLE": "1"}
        ),
    }
    results: dict[str, float] = {}
    cpu_per_request: dict[str, float] = {}
    for name, run in workloads.items():
        before = cpu_seconds(members)
        results[name] = run()
        used = cpu_seconds(members) - before
        # Throughput swings with the machine's neighbours; CPU per request much less.
        cpu_per_request[f"{name} CPU us/req"] = 1e6 * used / (results[name] * duration)
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
