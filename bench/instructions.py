"""Instructions per request: a cost figure far steadier than time on a shared machine.

On this VM, throughput and even CPU time per request swing by a third between runs of
the same code (other tenants share the cores and their caches), so a 5% saving cannot be
seen in `bench.perf`. Valgrind's callgrind counts the instructions a member executes, the
same on every run: each member runs under callgrind, its counters are zeroed after a
warm-up, a fixed number of requests is sent on a fixed number of connections, and the
count is read. The figure covers every thread of the member (the event loop, the disk
thread, RocksDB's), as CPU time does; it leaves out cache misses and syscall cost in the
kernel, so confirm a change it favours with `bench.perf`'s CPU per request. With several
members the figure depends on the batch size (requests per WAL sync, printed): 3 members,
puts, 4/16/64 connections cost 1.30M/0.71M/0.56M instructions per put over all members
(about 0.5M per put plus 3M per batch, if a batch holds a request of every connection).
Compare runs at the same batch size, on an otherwise idle machine: load shrinks batches.

    python -m bench.instructions --workload put --members 3 --requests 2000

Slow (a member runs some 50 times slower under callgrind); not part of `make bench-perf`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.servers import Member, find_leader, keyraft_cluster, start_all

START_TIMEOUT_S = 600.0
VALUE = base64.b64encode(b"v" * 256).decode()


@dataclass(frozen=True)
class Request:
    """One HTTP request of a workload, ready to send."""

    path: str
    body: bytes


def workload_requests(name: str, count: int) -> list[Request]:
    """`count` requests of a workload: unique keys for puts (as bench/wrk/put.lua)."""
    requests = []
    for number in range(count):
        key = base64.b64encode(b"bench/0/%d" % number).decode()
        if name == "put" or (name == "mix" and number % 10 == 0):
            requests.append(Request("/v3/kv/put", _json({"key": key, "value": VALUE})))
        elif name in ("range", "mix"):
            requests.append(Request("/v3/kv/range", _json({"key": key})))
        elif name == "range-serializable":
            requests.append(Request("/v3/kv/range", _json({"key": key, "serializable": True})))
        else:
            raise ValueError(f"unknown workload {name}")
    return requests


def _json(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _send_all(urls: list[str], requests: list[Request], connections: int) -> None:
    """Send `requests` over `connections` keep-alive connections, dealt round-robin over
    `urls`, each waiting for its answer before sending the next (as wrk does)."""
    queue = list(reversed(requests))

    async def connection(url: str) -> None:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while queue:
                request = queue.pop()
                head = (
                    f"POST {request.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(request.body)}\r\n\r\n"
                )
                writer.write(head.encode() + request.body)
                await _read_response(reader)
        finally:
            writer.close()

    await asyncio.gather(*(connection(urls[n % len(urls)]) for n in range(connections)))


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"request refused: {status.decode()} {body[:200]!r}")


def _callgrind(member: Member, out: Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    member.command = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={out}/{member.name}.%p",
        *member.command,
    ]


def _control(option: str, member: Member) -> None:
    subprocess.run(["callgrind_control", option, str(member.pid)], check=True, capture_output=True)


def _newest_dump(out: Path, member: Member) -> Path:
    """The member's newest dump (callgrind_control -d returns once it is written)."""
    dumps = sorted(out.glob(f"{member.name}.{member.pid}.*"), key=lambda p: p.stat().st_mtime)
    return dumps[-1]


def _collected(dump: Path) -> int:
    """The instructions a dump counts."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def _wal_syncs(member: Member) -> float:
    """How many synced WAL writes the member has made (its fsync histogram's count)."""
    text = httpx.get(member.client_url + "/metrics", timeout=60).text
    found = re.search(r"^etcd_disk_wal_fsync_duration_seconds_count (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def measure(
    workload: str,
    members_count: int,
    count: int,
    connections: int,
    keep: Path | None = None,
    spread: bool = False,
) -> dict[str, int]:
    """Instructions per request of each member, by name (with its role); with `keep`, the
    members' callgrind dumps are copied there (for callgrind_annotate); with `spread`, the
    connections go to every member in turn (bench.perf's put-all), else to the leader."""
    with tempfile.TemporaryDirectory(prefix="instructions-") as directory:
        root = Path(directory)
        members = keyraft_cluster(root, members_count, ("--log-level", "warn"))
        for member in members:
            _callgrind(member, root)
        try:
            start_all(members, START_TIMEOUT_S)
            leader = find_leader(members, timeout=START_TIMEOUT_S)
            warm = workload_requests(workload, count // 5 + 50)
            fill = workload_requests("put", count) if workload != "put" else []
            urls = [m.client_url for m in members] if spread else [leader.client_url]
            asyncio.run(_send_all(urls, fill + warm, connections))
            syncs_before = {member.name: _wal_syncs(member) for member in members}
            for member in members:
                _control("-z", member)
            started_at = time.monotonic()
            asyncio.run(_send_all(urls, workload_requests(workload, count), connections))
            elapsed = time.monotonic() - started_at
            for member in members:
                _control("-d", member)
            syncs = {
                member.name: _wal_syncs(member) - syncs_before[member.name] for member in members
            }
            print(
                "requests per WAL sync (the batch size: cost per request falls as it grows): "
                + ", ".join(f"{name} {count / max(1.0, n):.1f}" for name, n in syncs.items())
            )
            result = {}
            for member in members:
                role = "leader" if member is leader else "follower"
                dump = _newest_dump(root, member)
                result[f"{member.name} ({role})"] = _collected(dump) // count
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(dump, keep / dump.name)
        finally:
            for member in members:
                member.stop(timeout=60.0)
        print(f"{count} {workload} requests in {elapsed:.1f} s under callgrind")
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="put")
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--keep", type=Path, help="copy the callgrind dumps to this directory")
    parser.add_argument(
        "--spread", action="store_true", help="connections to every member, not the leader"
    )
    args = parser.parse_args()
    result = measure(
        args.workload, args.members, args.requests, args.connections, args.keep, args.spread
    )
    for name, per_request in result.items():
        print(f"{name}: {per_request:,} instructions per request")
    print(f"all members: {sum(result.values()):,} instructions per request")


if __name__ == "__main__":
    main()
