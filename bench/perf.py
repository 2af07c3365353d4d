"""keyraft against real etcd on this machine, in one run: the figures issue #18 asks for.

    python -m bench.perf [--rounds 3] [--duration 10] [--connections 64]
                         [--only NAME ...] [--no-scale]

Both clusters of a size run at once and the workloads interleave: in each round, each
workload runs against etcd and then keyraft, so machine noise that drifts over the run hits
both alike. Per workload: median throughput, p99 and server CPU per request over the
rounds, keyraft/etcd ratios, and a verdict (keyraft >= 1.5x etcd's throughput in every
round and a median p99 no worse). Then scale tables (connections, value sizes; one run
each), peak memory after 100,000 puts on fresh clusters, and watch delivery with 1,000
watchers over 3 members. The output ends with a markdown table of every figure.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench import cluster_bench, watch_bench
from bench.clusters import measure_both, put_many
from bench.kv_bench import wrk
from bench.perf_report import Report
from bench.workloads import MIX_KEYS, WORKLOADS, Cluster, Workload, measured
from tests.support.servers import etcd_cluster, find_leader, keyraft_cluster, started

KINDS = ("etcd", "keyraft")
SCALE_CONNECTIONS = (16, 64, 256, 1024)
SCALE_VALUES = (1024, 10 * 1024, 100 * 1024)
SECTIONS = ("scale", "memory", "watch")


def _value_key(size: int) -> str:
    return f"bench/value/{size}"


def prepare(cluster: Cluster, scale: bool) -> None:
    """The keys the workloads read: range.lua's key, mix.lua's key set, the scale values."""
    url = cluster.leader.client_url
    values = {"bench/key": 1, **({_value_key(s): s for s in SCALE_VALUES} if scale else {})}
    for key, size in values.items():
        httpx.post(
            url + "/v3/kv/put",
            json={
                "key": base64.b64encode(key.encode()).decode(),
                "value": base64.b64encode(b"v" * size).decode(),
            },
            timeout=30,
        ).raise_for_status()
    put_many(url, MIX_KEYS, threads=8, key_format=b"bench/fixed/%d")


@contextlib.contextmanager
def _clusters(size: int, scale: bool) -> Iterator[dict[str, Cluster]]:
    """An etcd and a keyraft cluster of `size` members, both running, data pre-filled."""
    with tempfile.TemporaryDirectory(prefix="perf-") as directory, contextlib.ExitStack() as stack:
        root = Path(directory)
        (root / "etcd").mkdir()
        (root / "keyraft").mkdir()
        members = {
            "etcd": etcd_cluster(root / "etcd", size),
            "keyraft": keyraft_cluster(root / "keyraft", size, ("--log-level", "warn")),
        }
        clusters = {}
        for kind in KINDS:
            stack.enter_context(started(members[kind]))
            clusters[kind] = Cluster(members[kind], find_leader(members[kind]))
            prepare(clusters[kind], scale)
        yield clusters


def _throughput(
    clusters: dict[str, Cluster],
    workloads: list[Workload],
    args: argparse.Namespace,
    report: Report,
) -> None:
    for round_number in range(1, args.rounds + 1):
        for workload in workloads:
            for kind in KINDS:
                cluster = clusters[kind]
                sample = measured(
                    cluster.members, workload.run, cluster, args.duration, args.connections
                )
                report.add_sample(workload.name, kind, round_number, sample)


def _scale(clusters: dict[str, Cluster], args: argparse.Namespace, report: Report) -> None:
    """One run per point, etcd then keyraft: puts to the leader by client count, then
    linearizable ranges of one key on the leader by value size."""

    def point(table: str, label: str, script: str, connections: int, env: dict) -> None:
        for kind in KINDS:
            cluster = clusters[kind]
            sample = measured(
                cluster.members,
                wrk,
                cluster.leader.client_url,
                script,
                args.duration,
                connections,
                env,
            )
            report.add_scale(table, label, kind, sample)

    for connections in SCALE_CONNECTIONS:
        point("put, 3 members, by connections", str(connections), "put.lua", connections, {})
    for size in SCALE_VALUES:
        point(
            f"range, 3 members, {args.connections} connections, by value size",
            f"{size // 1024} KiB",
            "range.lua",
            args.connections,
            {"BENCH_KEY": _value_key(size)},
        )


def _raise_open_files() -> None:
    """Enough descriptors for 1,024 connections (wrk and the servers inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[w.name for w in WORKLOADS] + list(SECTIONS),
        help="run only these workloads and sections",
    )
    parser.add_argument(
        "--scale", dest="scale", action="store_true", default=None, help="(default unless --only)"
    )
    parser.add_argument("--no-scale", dest="scale", action="store_false")
    parser.add_argument("--puts", type=int, default=100_000, help="puts before reading memory")
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--watch-puts", type=int, default=200)
    args = parser.parse_args()
    chosen = set(args.only or [w.name for w in WORKLOADS] + list(SECTIONS))
    scale = "scale" in chosen if args.scale is None else args.scale
    _raise_open_files()
    report = Report(args.rounds, args.duration, args.connections)
    for workload in WORKLOADS:
        report.describe(workload.name, workload.description)
    for size in (3, 1):
        workloads = [w for w in WORKLOADS if w.size == size and w.name in chosen]
        with_scale = scale and size == 3
        if workloads or with_scale:
            with (
                report.section(f"{size}-member workloads"),
                _clusters(size, with_scale) as clusters,
            ):
                _throughput(clusters, workloads, args, report)
                if with_scale:
                    _scale(clusters, args, report)
    if "memory" in chosen:
        with report.section("memory"):
            print(f"memory: {args.puts:,} puts on fresh clusters, etcd then keyraft", flush=True)
            etcd, keyraft = measure_both(
                "perf-memory-",
                lambda members: cluster_bench.measure(members, 0, args.connections, args.puts),
            )
            report.add_figure(
                f"peak RSS MiB, 3 members summed, after {args.puts:,} puts of 256 B", etcd, keyraft
            )
    if "watch" in chosen:
        with report.section("watch"):
            print(f"watch: {args.watchers} watchers on 3 members, etcd then keyraft", flush=True)
            etcd, keyraft = measure_both(
                "perf-watch-",
                lambda members: watch_bench.measure(members, args.watchers, args.watch_puts),
            )
            report.add_watch(args.watchers, args.watch_puts, etcd, keyraft)
    report.print_summary()


if __name__ == "__main__":
    main()
