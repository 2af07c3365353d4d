"""Linearizable reads on several members at once all complete promptly.

Found by the chaos suite (seed 1, no fault needed): every member numbered its ReadIndex
contexts from 1, the leader keeps one pending read per context and ignores a duplicate,
so when two members' counters met, one member's reads hung until the 7 s request
timeout and answered 503.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from tests.cluster.conftest import b64, post


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
