"""Watch event delivery, keyraft vs real etcd, same machine, same run.

    python -m bench.watch_bench [--puts 200] [--members 1] [--watchers 100 1000]

For each count of watchers on one key prefix, spread evenly over the members (puts go to
the leader): latency from a put's request being sent to each watcher receiving its event
(p50, p99: never negative, and it counts the write), the same from the put's
acknowledgement (negative when events reach watchers before the writer hears back),
resident memory per idle watcher (summed over the members), and how many (watcher, put)
events never arrived (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
from collections.abc import Callable

import httpx

from bench.clusters import measure_both, resident_mib
from tests.support.servers import Member, find_leader, started
from tests.support.watch_client import open_watch, read_messages

WATCH_BODY = b'{"create_request":{"key":"%s","range_end":"%s"}}' % (
    base64.b64encode(b"wb/"),
    base64.b64encode(b"wb0"),
)


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll `condition()` until it holds or `timeout` seconds passed."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and not condition():
        await asyncio.sleep(0.05)


async def _measure(
    members: list[Member], leader: Member, watchers: int, puts: int
) -> dict[str, float]:
    before = sum(resident_mib(member) for member in members)
    streams = []
    for index in range(watchers):
        host, port = members[index % len(members)].client_url.removeprefix("http://").split(":")
        streams.append(await open_watch(host, int(port), WATCH_BODY))
    created = [False] * watchers
    received: list[set[int]] = [set() for _ in range(watchers)]
    arrivals: dict[int, list[float]] = {}

    def on_message_of(watcher: int) -> Callable[[dict], bool]:
        def on_message(message: dict) -> bool:
            now = time.perf_counter()
            created[watcher] = created[watcher] or bool(message["result"].get("created"))
            for event in message["result"].get("events", []):
                revision = int(event["kv"]["mod_revision"])
                if revision not in received[watcher]:
                    received[watcher].add(revision)
                    arrivals.setdefault(revision, []).append(now)
            return True

        return on_message

    readers = [
        asyncio.create_task(read_messages(reader, on_message_of(index)))
        for index, (reader, _writer) in enumerate(streams)
    ]
    await _until(lambda: all(created), 60)
    await asyncio.sleep(1.0)  # let the servers settle before reading their memory
    per_watcher = (sum(resident_mib(member) for member in members) - before) * 1024 / watchers
    acknowledged: dict[int, float] = {}
    sent: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=leader.client_url, timeout=30) as client:
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
    await _until(lambda: all(len(arrivals.get(r, [])) >= watchers for r in acknowledged), 30)
    for task in readers:
        task.cancel()
    for _reader, writer in streams:
        writer.close()
    from_request = _latencies(arrivals, sent)
    from_ack = _latencies(arrivals, acknowledged)
    return {
        "p50 ms (request)": statistics.median(from_request),
        "p99 ms (request)": _p99(from_request),
        "p50 ms (ack)": statistics.median(from_ack),
        "p99 ms (ack)": _p99(from_ack),
        "KiB/idle watcher": per_watcher,
        "missing events": sum(len(set(acknowledged) - got) for got in received),
    }


def _p99(ordered: list[float]) -> float:
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def _latencies(arrivals: dict[int, list[float]], since: dict[int, float]) -> list[float]:
    """Milliseconds from `since[revision]` to each arrival of that revision's event, sorted."""
    return sorted(
        (arrival - since[revision]) * 1000
        for revision, times in arrivals.items()
        if revision in since
        for arrival in times
    )


def measure(members: list[Member], watchers: int, puts: int) -> dict[str, float]:
    """Start the cluster, measure `watchers` watchers over its members, stop it."""
    with started(members):
        return asyncio.run(_measure(members, find_leader(members), watchers, puts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--puts", type=int, default=200)
    parser.add_argument("--members", type=int, default=1, help="cluster size")
    parser.add_argument("--watchers", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    rows = [
        (
            watchers,
            measure_both(
                "watch-bench-",
                lambda members, w=watchers: measure(members, w, args.puts),
                args.members,
            ),
        )
        for watchers in args.watchers
    ]
    print(f"{'watchers':>8} {'metric':<20}{'etcd':>10}{'keyraft':>10}{'ratio':>8}")
    for watchers, (etcd_results, keyraft_results) in rows:
        for metric, etcd in etcd_results.items():
            keyraft = keyraft_results[metric]
            ratio = keyraft / etcd if etcd else float("nan")
            print(f"{watchers:>8} {metric:<20}{etcd:>10.2f}{keyraft:>10.2f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
