"""Attacks on a real member's peer port (issue #12): each forged or malformed frame is
refused with a status saying why, and the member keeps serving, in the same term, with
nothing injected; it restarts and serves afterwards. The frame cap still admits the
largest request a client may send."""

from __future__ import annotations

import base64
import concurrent.futures
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import b64, get_value, leader_of, post, status, wait_for
from tests.support import hostile_peer
from tests.support.servers import Member, keyraft_cluster, start_all

MAX_REQUEST_BYTES = 128 * 1024


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Member]]:
    workdir: Path = tmp_path_factory.mktemp("hostile")
    cluster = keyraft_cluster(workdir, 3, ("--max-request-bytes", str(MAX_REQUEST_BYTES)))
    try:
        start_all(cluster)
        leader_of(cluster)
        yield cluster
    finally:
        for member in cluster:
            member.stop()


def serves(member: Member, key: str) -> None:
    """A put and a linearizable get on `member` answer, and agree."""
    answer = post(member, "/v3/kv/put", {"key": b64(key), "value": b64("ok")})
    assert answer.status_code == 200, answer.text
    assert get_value(member, key) == "ok"


def assert_nothing_injected(member: Member) -> None:
    key = base64.b64encode(hostile_peer.INJECTED_KEY).decode()
    body = post(member, "/v3/kv/range", {"key": key}).json()
    assert "kvs" not in body, body


@pytest.mark.parametrize("attack", list(hostile_peer.EXPECTED), ids=lambda attack: attack.__name__)
def test_an_attack_on_the_peer_port_is_refused_and_every_member_serves_on(
    members: list[Member], attack: hostile_peer.Attack
) -> None:
    rng = random.Random(attack.__name__)
    leader = leader_of(members)
    term = status(leader)["raftTerm"]
    for member in members:
        target = hostile_peer.target(member)
        for _ in range(3):
            assert attack(target, rng) == hostile_peer.EXPECTED[attack]
    for member in members:
        serves(member, f"after/{attack.__name__}/{member.name}")
        assert_nothing_injected(member)
    assert leader_of(members) is leader
    assert status(leader)["raftTerm"] == term


def test_an_attacked_member_restarts_and_serves(members: list[Member]) -> None:
    rng = random.Random(12)
    victim = next(member for member in members if member is not leader_of(members))
    target = hostile_peer.target(victim)
    for attack, expected in hostile_peer.EXPECTED.items():
        assert attack(target, rng) == expected
    victim.stop()
    victim.start()
    serves(victim, "after/restart")
    assert_nothing_injected(victim)


def test_the_largest_request_still_replicates_under_the_frame_cap(members: list[Member]) -> None:
    leader = leader_of(members)
    value = "v" * (MAX_REQUEST_BYTES - 64)  # just under the limit once key and tags count
    answer = post(leader, "/v3/kv/put", {"key": b64("big"), "value": b64(value)})
    assert answer.status_code == 200, answer.text
    too_big = post(leader, "/v3/kv/put", {"key": b64("big"), "value": b64(value + "v" * 128)})
    assert too_big.status_code == 400, too_big.text
    for member in members:
        wait_for(
            lambda member=member: get_value(member, "big", serializable=True) == value,
            10,
            f"the largest put on {member.name}",
        )


def test_a_lagging_member_catches_up_on_large_entries_under_the_frame_cap(
    members: list[Member],
) -> None:
    """Many near-limit puts while a follower is down, then it returns: the leader catches
    it up with appends cut to the peers' cap (with appends of the core's former 1 MiB,
    every one was refused and the follower never caught up); the puts made on the other
    follower travel to the leader in PROPOSE batches cut the same way."""
    leader = leader_of(members)
    lagging, writer = (member for member in members if member is not leader)
    value = "w" * (MAX_REQUEST_BYTES // 2)
    lagging.stop()

    def put(index: int) -> int:
        body = {"key": b64(f"batch/{index}"), "value": b64(value)}
        return post((leader, writer)[index % 2], "/v3/kv/put", body).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert set(pool.map(put, range(32))) == {200}
    lagging.start()
    for member in members:
        wait_for(lambda member=member: batch_count(member) == 32, 15, f"all on {member.name}")


def batch_count(member: Member) -> int:
    query = {"key": b64("batch/"), "range_end": b64("batch0"), "serializable": True}
    return int(post(member, "/v3/kv/range", {**query, "count_only": True}).json().get("count", 0))
