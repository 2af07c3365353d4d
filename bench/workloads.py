"""The wrk workloads the cluster benches run against a cluster, and their cost: one
definition, shared by bench.perf and bench.cluster_bench."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

from bench.clusters import cpu_seconds
from bench.kv_bench import wrk
from bench.wrk_output import WrkResult, combined
from tests.support.servers import Member

MIX_KEYS = 1000  # the fixed key set mix.lua reads and writes, pre-filled


@dataclass(frozen=True, slots=True)
class Sample:
    """One wrk run and the CPU the servers (all members) spent per request in it."""

    result: WrkResult
    cpu_us: float


@dataclass(frozen=True)
class Cluster:
    """A running cluster and the member it elected."""

    members: list[Member]
    leader: Member

    @property
    def follower(self) -> Member:
        return next((m for m in self.members if m is not self.leader), self.leader)


Run = Callable[[Cluster, int, int], WrkResult]


def spread(script: str) -> Run:
    """`script` against every member at once, the connections shared among them."""

    def run(cluster: Cluster, duration: int, connections: int) -> WrkResult:
        share = max(1, connections // len(cluster.members))
        with concurrent.futures.ThreadPoolExecutor(len(cluster.members)) as pool:
            return combined(
                list(
                    pool.map(lambda m: wrk(m.client_url, script, duration, share), cluster.members)
                )
            )

    return run


@dataclass(frozen=True)
class Workload:
    """A named wrk load against a cluster of `size` members."""

    name: str
    size: int
    description: str
    run: Run


WORKLOADS = (
    Workload(
        "put-leader", 3, "put, 3 members, to the leader",
        lambda c, d, n: wrk(c.leader.client_url, "put.lua", d, n),
    ),
    Workload("put-all", 3, "put, 3 members, spread over all", spread("put.lua")),
    Workload(
        "range-follower", 3, "linearizable range, 3 members, on a follower",
        lambda c, d, n: wrk(c.follower.client_url, "range.lua", d, n),
    ),
    Workload(
        "range-serializable", 3, "serializable range, 3 members, on a follower",
        lambda c, d, n: wrk(c.follower.client_url, "range.lua", d, n, {"BENCH_SERIALIZABLE": "1"}),
    ),
    Workload(
        "mix", 3, "90% range / 10% put, 3 members, on the leader",
        lambda c, d, n: wrk(c.leader.client_url, "mix.lua", d, n, {"BENCH_KEYS": str(MIX_KEYS)}),
    ),
    Workload(
        "put-single", 1, "put, 1 member",
        lambda c, d, n: wrk(c.leader.client_url, "put.lua", d, n),
    ),
    Workload(
        "range-single", 1, "linearizable range, 1 member",
        lambda c, d, n: wrk(c.leader.client_url, "range.lua", d, n),
    ),
)  # fmt: skip


def measured(members: list[Member], run: Callable[..., WrkResult], *arguments: object) -> Sample:
    """`run(*arguments)`, a wrk run, with the CPU `members` spent on it per request."""
    before = cpu_seconds(members)
    result = run(*arguments)
    used = cpu_seconds(members) - before
    return Sample(result, 1e6 * used / max(1, result.requests))


WORKLOADS_BY_NAME = {workload.name: workload for workload in WORKLOADS}
