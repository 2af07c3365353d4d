"""--experimental-corrupt-check-time on three real members: checks pass while the members
agree; a follower whose RocksDB is changed behind its back gets a CORRUPT alarm raised
by the leader through Raft, after which every member refuses writes with etcd's error.
With --experimental-initial-corrupt-check that follower refuses to start instead (and a
sound one starts). The peer port's hashkv endpoint refuses strangers and answers etcd's
peer JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from keyraft.raft.io.peer_transport import CLUSTER_HEADER, FROM_HEADER
from keyraft.storage.backend import Backend
from keyraft.storage.mvcc.record import decode_record, encode_record
from tests.cluster.conftest import b64, get_value, leader_of, post, status, wait_for
from tests.support.servers import Member

pytestmark = pytest.mark.timeout(120)

ALARM = "/v3/maintenance/alarm"
CHECKED = "finished peer corruption check (2 peers checked)"


def corrupt_latest_value(member: Member) -> None:
    """Change the value of the newest revision in a stopped member's store."""
    backend = Backend(str(member.data_dir / "member" / "kv"))
    try:
        *_, (revision_key, data) = backend.iterate("kv")
        record = decode_record(data)
        record.value = b"not what was written"
        batch = backend.new_batch()
        batch.put("kv", revision_key, encode_record(record))
        backend.write(batch)
        backend.sync()
    finally:
        backend.close()


def checks_done(member: Member) -> int:
    return member.log_path.read_text(errors="replace").count(CHECKED)


def alarms(member: Member) -> list[dict]:
    return post(member, ALARM, {"action": "GET"}).json().get("alarms", [])


def peer_hashkv(member: Member, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.request(
        "GET", member.peer_url + "/members/hashkv", content=body, headers=headers, timeout=5
    )


def test_corrupt_member_raises_the_alarm(cluster_factory: Callable[..., list[Member]]) -> None:
    initial = "--experimental-initial-corrupt-check"
    members = cluster_factory(3, ("--experimental-corrupt-check-time", "300ms", initial))
    leader = leader_of(members)
    follower = next(member for member in members if member is not leader)
    assert post(leader, "/v3/kv/put", {"key": b64("k"), "value": b64("v")}).status_code == 200
    for member in members:
        wait_for(lambda m=member: get_value(m, "k", serializable=True) == "v", 10, "replication")
    seen = checks_done(leader)
    wait_for(lambda: checks_done(leader) >= seen + 2, 20, "two passed checks")
    assert alarms(leader) == []

    # The peer endpoint: a member of this cluster gets etcd's JSON, a stranger nothing.
    cluster_id = status(leader)["header"]["cluster_id"]
    member_id = status(follower)["header"]["member_id"]
    own = {CLUSTER_HEADER: cluster_id, FROM_HEADER: member_id}
    answer = peer_hashkv(leader, own, b'{"revision": 1}')
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"header", "hash", "compact_revision"}
    assert answer.json()["header"]["revision"] >= 2
    assert peer_hashkv(leader, {**own, CLUSTER_HEADER: "1"}, b"{}").status_code == 412
    assert peer_hashkv(leader, {**own, FROM_HEADER: "12345"}, b"{}").status_code == 403
    assert peer_hashkv(leader, own, b"[").status_code == 400
    assert "compacted" in peer_hashkv(leader, own, b'{"revision": -3}').text

    follower_id = status(follower)["header"]["member_id"]
    follower.stop()
    follower.start()  # sound: the initial check passes
    assert "initial corruption checking passed" in follower.log_tail(200)
    follower.stop()
    corrupt_latest_value(follower)
    with pytest.raises(RuntimeError, match="found data inconsistency with peers"):
        follower.start()
    follower.stop()
    follower.command.remove(initial)
    follower.start()
    expected = {"memberID": follower_id, "alarm": "CORRUPT"}
    wait_for(lambda: expected in alarms(leader), 20, "the CORRUPT alarm")
    refused = post(leader, "/v3/kv/put", {"key": b64("k"), "value": b64("w")})
    assert refused.json()["message"] == "etcdserver: corrupt cluster", refused.text
    assert json.loads(refused.text)["code"] == 15
    assert get_value(leader, "k") == "v"
