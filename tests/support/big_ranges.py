"""Large ranges against a live cluster, with small requests from another client meanwhile:
the measurement behind `bench/big_ranges.py` and the check of
`tests/cluster/test_large_reads.py`.
"""

from __future__ import annotations

import base64
import multiprocessing
import re
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.support.servers import Member

PUTS_PER_TXN = 128  # etcd's default --max-txn-ops
EVERY_KEY = {"key": "AA==", "range_end": "AA=="}  # "\0" to "\0": the whole keyspace


def key_of(index: int) -> bytes:
    return b"big/%08d" % index


def load_keys(url: str, count: int, value: bytes = b"v" * 16, clients: int = 4) -> None:
    """Put `count` keys, 128 to a txn, from a few clients at once."""
    encoded_value = base64.b64encode(value).decode()

    def txn(start: int) -> None:
        puts = [
            {"request_put": {"key": base64.b64encode(key_of(i)).decode(), "value": encoded_value}}
            for i in range(start, min(start + PUTS_PER_TXN, count))
        ]
        answer = httpx.post(f"{url}/v3/kv/txn", json={"success": puts}, timeout=30)
        answer.raise_for_status()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(txn, range(0, count, PUTS_PER_TXN)))


def terms(members: list[Member]) -> dict[str, int]:
    """Each member's Raft term."""
    return {
        member.name: int(
            httpx.post(f"{member.client_url}/v3/maintenance/status", json={}, timeout=10).json()[
                "raftTerm"
            ]
        )
        for member in members
    }


@dataclass
class Outcome:
    range_seconds: list[float] = field(default_factory=list)
    range_counts: list[int] = field(default_factory=list)
    small_seconds: list[float] = field(default_factory=list)
    small_failures: list[str] = field(default_factory=list)
    terms_before: dict[str, int] = field(default_factory=dict)
    terms_after: dict[str, int] = field(default_factory=dict)

    @property
    def elections(self) -> int:
        return max(self.terms_after.values()) - max(self.terms_before.values())

    def summary(self) -> str:
        small = sorted(self.small_seconds) or [0.0]
        return (
            f"ranges: {len(self.range_seconds)} in {max(self.range_seconds):.2f} s "
            f"(each {min(self.range_seconds):.2f}-{max(self.range_seconds):.2f} s); "
            f"small requests: {len(self.small_seconds)} answered, "
            f"{len(self.small_failures)} failed, median {statistics.median(small) * 1000:.0f} ms, "
            f"p99 {small[int(len(small) * 0.99) - 1 if len(small) > 1 else 0] * 1000:.0f} ms, "
            f"max {small[-1] * 1000:.0f} ms; elections: {self.elections} "
            f"(terms {self.terms_before} -> {self.terms_after})"
        )


def _full_range(url: str) -> tuple[float, int]:
    """One full-keyspace range: how long it took, and the count it answered (read off the
    end of the answer: parsing 20 MB of JSON would cost the machine's CPU too)."""
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v3/kv/range", json=EVERY_KEY, timeout=600)
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    count = re.search(rb'"count":"(\d+)"\}$', answer.content)
    return seconds, int(count.group(1)) if count else 0


def replay_history(url: str, expected: int) -> tuple[float, int]:
    """A watch of the whole keyspace from revision 1, read until `expected` events came:
    how long that took, and how many came."""
    body = b'{"create_request":{"key":"AA==","range_end":"AA==","start_revision":1}}'
    started = time.perf_counter()
    events = 0
    with httpx.stream("POST", f"{url}/v3/watch", content=body, timeout=600) as answer:
        for line in answer.iter_lines():
            events += line.count('"kv":')
            if events >= expected:
                break
    return time.perf_counter() - started, events


def big_ranges(
    members: list[Member],
    leader: Member,
    parallel: int,
    small_timeout: float = 30.0,
    work: Callable[..., tuple[float, int]] = _full_range,
    *args: object,
) -> Outcome:
    """`parallel` heavy requests on the leader at once (by default full-keyspace ranges;
    `work(url, *args)` -> (seconds, count) in a process of its own); meanwhile another
    client sends small requests (a put, then a linearizable one-key range) to the leader,
    one after the other, each given `small_timeout`."""
    outcome = Outcome(terms_before=terms(members))
    done = threading.Event()

    def small() -> None:
        key = base64.b64encode(b"probe").decode()
        with httpx.Client(base_url=leader.client_url, timeout=small_timeout) as client:
            while not done.is_set():
                for path, body in (
                    ("/v3/kv/put", {"key": key, "value": "dg=="}),
                    ("/v3/kv/range", {"key": key}),
                ):
                    started = time.perf_counter()
                    try:
                        answer = client.post(path, json=body)
                        if answer.status_code != 200:
                            outcome.small_failures.append(
                                f"{path}: {answer.status_code} {answer.text}"
                            )
                    except httpx.HTTPError as error:
                        outcome.small_failures.append(f"{path}: {error!r}")
                    outcome.small_seconds.append(time.perf_counter() - started)

    prober = threading.Thread(target=small)
    prober.start()
    try:
        # Processes of their own (the prober's GIL stays free), spawned (not forked from a
        # process with a thread running).
        with ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
            urls = [leader.client_url] * parallel
            for seconds, count in pool.map(work, urls, *([arg] * parallel for arg in args)):
                outcome.range_seconds.append(seconds)
                outcome.range_counts.append(count)
    finally:
        done.set()
        prober.join()
    outcome.terms_after = terms(members)
    return outcome
