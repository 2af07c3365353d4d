"""A member whose disk fills stops, and a restart brings it back with nothing lost.

Found by the chaos suite's disk-full fault (files capped with RLIMIT_FSIZE): the failed
write killed the Raft ready loop, but the process lived on, answering clients from a
store that never advanced again. Raft assumes crash-stop, so the member now exits.
"""

from __future__ import annotations

import resource
import time

import httpx

from tests.cluster.conftest import b64, leader_of, post, wait_for
from tests.support.servers import Member


def _count(member: Member, serializable: bool = True) -> int:
    body = {"key": b64("d/"), "range_end": b64("d0"), "count_only": True}
    body["serializable"] = serializable
    return int(post(member, "/v3/kv/range", body, timeout=5).json().get("count", 0))


def test_a_member_that_cannot_write_exits_and_recovers_on_restart(cluster_factory) -> None:
    members = cluster_factory(3)
    leader = leader_of(members)
    victim = next(member for member in members if member is not leader)
    largest = max(path.stat().st_size for path in victim.data_dir.rglob("*") if path.is_file())
    resource.prlimit(victim.pid, resource.RLIMIT_FSIZE, (largest + 4096, resource.RLIM_INFINITY))
    written = 0
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=5) as client:
        while victim.process.poll() is None and time.monotonic() < deadline:
            response = client.post(
                leader.client_url + "/v3/kv/put",
                json={"key": b64(f"d/{written:05d}"), "value": b64("x" * 200)},
            )
            assert response.status_code == 200, response.text
            written += 1
    assert victim.process.poll() == 1, "a member that cannot persist must stop"
    assert "stopping the member" in victim.log_tail(60)
    victim.stop()
    victim.start()
    wait_for(lambda: _count(victim) == written, 30, "the restarted member to catch up")
    assert _count(victim, serializable=False) == written
