"""Disk and memory under a sustained write load over a fixed key set: do they plateau?

    python -m bench.soak [--duration 600] [--size 3] [--keys 1000] [--compact-every 10000]

wrk puts 256-byte values on `--keys` keys through the leader for `--duration` seconds.
Whenever the revision has moved `--compact-every` past the last compaction, the history
is compacted, keeping `--retain` revisions: what etcd users get from
`--auto-compaction-mode=revision`. keyraft has no auto-compaction, so the workload does
it through the API. Every `--interval` seconds a row shows each kind of file in the data
dirs (the largest member's figure per kind) and the members' resident memory. The verdict
compares the last third of the run with the middle third: a plateau means the peak did
not grow by more than a margin. Exit status 1 if disk or memory kept growing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.clusters import resident_mib
from bench.kv_bench import wrk
from tests.support.servers import Member, find_leader, keyraft_cluster, started

KINDS = ("rocks .log", "rocks .sst", "rocks meta", "raft wal", "other")
MIB = 1024 * 1024
# A peak may grow this much between the middle and the last third and still be a plateau:
# RocksDB's WAL and memtables fill and empty in steps of up to 16 MiB (storage/backend.py).
DISK_MARGIN = 0.10, 16 * MIB
RSS_MARGIN = 0.10, 16.0


def kind_of(path: Path) -> str:
    """Which kind of file in a keyraft data dir this is (see KINDS)."""
    name = path.name
    if path.parent.name == "wal":
        return "raft wal"
    if path.parent.name != "kv":
        return "other"
    if name.endswith(".log"):
        return "rocks .log"  # RocksDB's own write-ahead log
    if name.endswith(".sst"):
        return "rocks .sst"
    return "rocks meta"  # MANIFEST, OPTIONS, the info LOG and its rolled copies, CURRENT


def data_dir_usage(data_dir: Path) -> dict[str, int]:
    """Bytes per kind of file under a data dir (files that vanish meanwhile count 0)."""
    usage = dict.fromkeys(KINDS, 0)
    for path in data_dir.rglob("*"):
        try:
            if path.is_file():
                usage[kind_of(path)] += path.stat().st_size
        except FileNotFoundError:
            continue
    return usage


@dataclass
class Sample:
    seconds: float
    revision: int
    usage: dict[str, int]  # per kind, the largest member's bytes
    total: int  # the largest member's whole data dir
    rss_mib: list[float]  # per member


def sample(members: list[Member], seconds: float, revision: int) -> Sample:
    usages = []
    for member in members:
        if member.process is None or member.process.poll() is not None:
            raise RuntimeError(f"{member.name} exited:\n{member.log_tail()}")
        usages.append(data_dir_usage(member.data_dir))
    return Sample(
        seconds,
        revision,
        {kind: max(usage[kind] for usage in usages) for kind in KINDS},
        max(sum(usage.values()) for usage in usages),
        [resident_mib(member) for member in members],
    )


class Compactor:
    """Compacts through the API, as an etcd user's auto-compaction would."""

    def __init__(self, client: httpx.Client, url: str, every: int, retain: int) -> None:
        self.client, self.url, self.every, self.retain = client, url, every, retain
        self.compacted = 0
        self.count = 0

    def revision(self) -> int:
        answer = self.client.post(
            self.url + "/v3/kv/range", json={"key": "AA==", "serializable": True}
        )
        return int(answer.json()["header"]["revision"])

    def poll(self) -> int:
        """Compact if the revision has moved far enough; return the current revision."""
        revision = self.revision()
        if revision - self.compacted >= self.every + self.retain:
            target = revision - self.retain
            answer = self.client.post(self.url + "/v3/kv/compaction", json={"revision": target})
            if answer.status_code != 200:
                raise RuntimeError(f"compaction to {target}: {answer.status_code} {answer.text}")
            self.compacted = target
            self.count += 1
        return revision


def plateaued(series: list[float], margin: tuple[float, float]) -> tuple[bool, float, float]:
    """Did the peak of the last third stay within `margin` of the middle third's peak?"""
    third = max(1, len(series) // 3)
    middle = max(series[third : 2 * third] or series)
    last = max(series[2 * third :] or series)
    ratio, slack = margin
    return last <= middle * (1 + ratio) + slack, middle, last


def print_row(row: Sample, previous: Sample | None) -> None:
    rate = 0.0
    if previous is not None and row.seconds > previous.seconds:
        rate = (row.revision - previous.revision) / (row.seconds - previous.seconds)
    sizes = "".join(f"{row.usage[kind] / MIB:>14.1f}" for kind in KINDS)
    rss = "/".join(f"{value:.0f}" for value in row.rss_mib)
    print(
        f"{row.seconds:>7.0f}{row.revision:>10}{rate:>8.0f}{sizes}{row.total / MIB:>10.1f}  {rss}",
        flush=True,
    )


def print_header(size: int) -> None:
    kinds = "".join(f"{kind + ' MB':>14}" for kind in KINDS)
    rss = "/".join(f"kr{index + 1}" for index in range(size))
    print(f"{'t (s)':>7}{'revision':>10}{'puts/s':>8}{kinds}{'total MB':>10}  RSS MiB {rss}")


def soak(members: list[Member], args: argparse.Namespace) -> list[Sample]:
    """Run the load and the compactor; sample every `args.interval` seconds."""
    with started(members), httpx.Client(timeout=30) as client:
        leader = find_leader(members)
        compactor = Compactor(client, leader.client_url, args.compact_every, args.retain)
        outcome: dict[str, object] = {}

        def load() -> None:
            try:
                outcome["puts/s"] = wrk(
                    leader.client_url,
                    "put.lua",
                    args.duration,
                    args.connections,
                    {"BENCH_KEYS": str(args.keys)},
                )
            except Exception as error:  # reported after the run
                outcome["error"] = error

        loader = threading.Thread(target=load, name="wrk")
        start = time.monotonic()
        loader.start()
        print_header(len(members))
        samples = [sample(members, 0.0, compactor.poll())]
        print_row(samples[0], None)
        next_sample = start + args.interval
        while loader.is_alive():
            loader.join(1.0)
            revision = compactor.poll()
            now = time.monotonic()
            if now >= next_sample or not loader.is_alive():
                samples.append(sample(members, now - start, revision))
                print_row(samples[-1], samples[-2])
                next_sample += args.interval
        peaks = "/".join(f"{resident_mib(member, 'VmHWM'):.0f}" for member in members)
    if "error" in outcome:
        raise RuntimeError(f"the load failed: {outcome['error']}")
    print(
        f"\nwrk: {outcome['puts/s']:.0f} puts/s on {args.keys} keys; "
        f"{compactor.count} compactions (to revision {compactor.compacted}); "
        f"peak RSS MiB {peaks}"
    )
    return samples


def verdict(samples: list[Sample]) -> bool:
    disk_ok, disk_middle, disk_last = plateaued([s.total for s in samples], DISK_MARGIN)
    rss_ok, rss_middle, rss_last = plateaued([max(s.rss_mib) for s in samples], RSS_MARGIN)
    print(
        f"data dir (largest member): peak {disk_middle / MIB:.1f} MB in the middle third, "
        f"{disk_last / MIB:.1f} MB in the last: {'plateau' if disk_ok else 'STILL GROWING'}"
    )
    print(
        f"RSS (largest member): peak {rss_middle:.0f} MiB in the middle third, "
        f"{rss_last:.0f} MiB in the last: {'plateau' if rss_ok else 'STILL GROWING'}"
    )
    return disk_ok and rss_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=600, help="seconds of load")
    parser.add_argument("--size", type=int, default=3, help="members")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--compact-every", type=int, default=10_000, help="revisions")
    parser.add_argument("--retain", type=int, default=1000, help="revisions kept")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds per row")
    parser.add_argument("--keep", help="keep the data dirs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as directory:
        workdir = Path(args.keep or directory)
        workdir.mkdir(parents=True, exist_ok=True)
        members = keyraft_cluster(workdir, args.size, ("--log-level", "warn"))
        print(
            f"soak: {args.size} member(s), {args.duration} s, {args.keys} keys, "
            f"{args.connections} connections, compact every {args.compact_every} revisions "
            f"keeping {args.retain}",
            flush=True,
        )
        samples = soak(members, args)
    sys.exit(0 if verdict(samples) else 1)


if __name__ == "__main__":
    main()
