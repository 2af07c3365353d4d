"""Linearizable reads complete promptly: on several members at once, and across a leader's death.

Found by the chaos suite (seed 1, no fault needed): every member numbered its ReadIndex
contexts from 1, the leader keeps one pending read per context and ignores a duplicate,
so when two members' counters met, one member's reads hung until the 7 s request
timeout and answered 503.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx

from tests.cluster.conftest import b64, leader_of, post


def test_concurrent_linearizable_reads_on_every_member_never_time_out(cluster_factory) -> None:
    members = cluster_factory(3)
    assert post(members[0], "/v3/kv/put", {"key": b64("k"), "value": b64("v")}).status_code == 200

    def reader(number: int) -> list[str]:
        slow = []
        deadline = time.monotonic() + 3
        with httpx.Client(timeout=3) as client:
            while time.monotonic() < deadline:
                member = members[number % len(members)]
                started = time.monotonic()
                try:
                    response = client.post(
                        member.client_url + "/v3/kv/range", json={"key": b64("k")}
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if not ok or time.monotonic() - started > 2:
                    slow.append(f"{member.name}: {time.monotonic() - started:.1f}s ok={ok}")
        return slow

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        slow = [item for result in pool.map(reader, range(6)) for item in result]
    assert not slow, slow


def test_reads_in_flight_when_the_leader_dies_are_retried_not_left_to_time_out(
    cluster_factory,
) -> None:
    """A ReadIndex lost with its leader is asked again (etcd retries every 500 ms).

    Found by the chaos suite's throughput timeline: reads in flight at a leader's death
    waited out the whole 7 s request timeout and answered 503, though a new leader was
    elected in about a second.
    """
    members = cluster_factory(3)
    leader = leader_of(members)
    followers = [member for member in members if member is not leader]
    assert post(leader, "/v3/kv/put", {"key": b64("k"), "value": b64("v")}).status_code == 200
    stop = threading.Event()

    def reader(number: int) -> list[tuple[float, int | str]]:
        answers = []
        with httpx.Client(timeout=15) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = client.post(
                        followers[number % 2].client_url + "/v3/kv/range", json={"key": b64("k")}
                    )
                    outcome: int | str = response.status_code
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                answers.append((time.monotonic() - started, outcome))
        return answers

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(reader, number) for number in range(4)]
        stop.wait(1)
        leader.kill()
        stop.wait(8)
        stop.set()
        answers = [answer for future in futures for answer in future.result()]
    bad = [answer for answer in answers if answer[1] != 200 or answer[0] > 5]
    assert not bad, bad
