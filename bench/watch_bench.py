"""Watch event delivery, keyraft vs real etcd, same machine, same run.

    python -m bench.watch_bench [--puts 200]

For 100 and 1,000 watchers on one key prefix: latency from a put's request being sent to
each watcher receiving its event (p50, p99: never negative, and it counts the write), the
same from the put's acknowledgement (negative when events reach watchers before the
writer hears back), and resident memory per idle watcher.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.servers import Member, etcd_member, keyraft_member
from tests.support.watch_client import open_watch, read_messages


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _measure(member: Member, watchers: int, puts: int) -> dict[str, float]:
    host, port = member.client_url.removeprefix("http://").split(":")
    body = b'{"create_request":{"key":"%s","range_end":"%s"}}' % (
        base64.b64encode(b"wb/"),
        base64.b64encode(b"wb0"),
    )
    before = _rss_kib(member.pid)
    streams = [await open_watch(host, int(port), body) for _ in range(watchers)]
    await asyncio.sleep(1.0)  # let the server settle before reading its memory
    per_watcher = (_rss_kib(member.pid) - before) / watchers
    arrivals: dict[int, list[float]] = {}

    def on_message(message: dict) -> bool:
        now = time.perf_counter()
        for event in message["result"].get("events", []):
            arrivals.setdefault(int(event["kv"]["mod_revision"]), []).append(now)
        return True

    readers = [asyncio.create_task(read_messages(reader, on_message)) for reader, _w in streams]
    acknowledged: dict[int, float] = {}
    sent: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=member.client_url, timeout=30) as client:
        for index in range(puts):
            sent_at = time.perf_counter()
            answer = await client.post(
                "/v3/kv/put",
                json={"key": base64.b64encode(b"wb/%d" % index).decode(), "value": "dg=="},
            )
            revision = int(answer.json()["header"]["revision"])
            acknowledged[revision] = time.perf_counter()
            sent[revision] = sent_at
            await asyncio.sleep(0.005)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(
        len(arrivals.get(r, [])) < watchers for r in acknowledged
    ):
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for _reader, writer in streams:
        writer.close()
    from_request = _latencies(arrivals, sent)
    from_ack = _latencies(arrivals, acknowledged)
    return {
        "p50 ms (request)": statistics.median(from_request),
        "p99 ms (request)": from_request[int(len(from_request) * 0.99) - 1],
        "p50 ms (ack)": statistics.median(from_ack),
        "p99 ms (ack)": from_ack[int(len(from_ack) * 0.99) - 1],
        "KiB/idle watcher": per_watcher,
    }


def _latencies(arrivals: dict[int, list[float]], since: dict[int, float]) -> list[float]:
    """Milliseconds from `since[revision]` to each arrival of that revision's event, sorted."""
    return sorted(
        (arrival - since[revision]) * 1000
        for revision, times in arrivals.items()
        if revision in since
        for arrival in times
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--puts", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as directory:
        for watchers in (100, 1000):
            results = {}
            for kind, factory in (("etcd", etcd_member), ("keyraft", keyraft_member)):
                workdir = Path(directory) / f"{kind}{watchers}"
                workdir.mkdir()
                member = factory(workdir)
                member.start()
                try:
                    results[kind] = asyncio.run(_measure(member, watchers, args.puts))
                finally:
                    member.stop()
            rows.append((watchers, results))
    print(f"{'watchers':>8} {'metric':<20}{'etcd':>10}{'keyraft':>10}{'ratio':>8}")
    for watchers, results in rows:
        for metric in results["etcd"]:
            etcd, keyraft = results["etcd"][metric], results["keyraft"][metric]
            ratio = keyraft / etcd if etcd else float("nan")
            print(f"{watchers:>8} {metric:<20}{etcd:>10.2f}{keyraft:>10.2f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
