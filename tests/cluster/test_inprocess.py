"""Three whole members in one event loop (in-memory network, one fake clock): the server's
request path, ReadIndex batching, bounded failures, lease expiry, snapshot catch-up and a
malformed entry, each checked on every member, deterministically and in seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import LeaseGrant, Put, Range
from tests.support.inprocess_cluster import InProcessCluster, run_cluster

pytestmark = pytest.mark.timeout(120)


async def value(server: EtcdServer, key: bytes) -> bytes | None:
    found = await server.range(Range(key, serializable=True))
    return found["kvs"][0].value if found["kvs"] else None


async def put(cluster: InProcessCluster, server: EtcdServer, key: bytes, data: bytes) -> dict:
    return await cluster.until(asyncio.ensure_future(server.put(Put(key, data))))


def test_a_write_on_a_follower_is_applied_at_one_revision_on_every_member(tmp_path: Path) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        answer = await put(cluster, follower, b"k", b"v")
        await cluster.advance(0.2)  # the commit index reaches every member
        revision = answer["header"]["revision"]
        for server in cluster.running():
            assert server.current_revision == revision
            assert await value(server, b"k") == b"v"

    run_cluster(tmp_path, scenario)


def test_concurrent_linearizable_reads_share_one_read_index_round(tmp_path: Path) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        await put(cluster, leader, b"k", b"fresh")
        asked: list[bytes] = []
        read_index = follower.driver.read_index

        def counting(context: bytes) -> bool:
            asked.append(context)
            return read_index(context)

        follower.reads._request_read_index = counting
        reads = asyncio.ensure_future(
            asyncio.gather(*(follower.range(Range(b"k")) for _ in range(50)))
        )
        answers = await cluster.until(reads)
        assert len(asked) == 1
        assert {answer["kvs"][0].value for answer in answers} == {b"fresh"}

    run_cluster(tmp_path, scenario)


def test_an_isolated_leader_fails_requests_in_bounded_time_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        old = await cluster.leader()
        cluster.network.isolate(old.member.id)
        stuck_write = asyncio.ensure_future(old.put(Put(b"lost?", b"x")))
        stuck_read = asyncio.ensure_future(old.range(Range(b"k")))
        with pytest.raises((errors.RequestTimedOut, errors.NoLeader)):
            await cluster.until(stuck_write, within=old.request_timeout + 1)
        with pytest.raises((errors.RequestTimedOut, errors.NoLeader)):
            await cluster.until(stuck_read, within=old.request_timeout + 1)
        others = [s for s in cluster.running() if s is not old]
        new = next(s for s in others if s.leader == s.member.id)
        answer = await put(cluster, new, b"k", b"after")
        cluster.network.heal()
        await cluster.advance(3.0)
        for server in cluster.running():
            assert server.leader == new.member.id
            assert server.current_revision == answer["header"]["revision"]
            assert await value(server, b"k") == b"after"
            assert await value(server, b"lost?") is None  # never committed

    run_cluster(tmp_path, scenario)


def test_an_expired_lease_is_revoked_once_by_the_leader_everywhere(tmp_path: Path) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        granted = await cluster.until(
            asyncio.ensure_future(leader.lease_grant(LeaseGrant(ttl=5, lease_id=7)))
        )
        assert granted["TTL"] == 5
        await cluster.until(asyncio.ensure_future(leader.put(Put(b"session", b"1", lease=7))))
        before = leader.current_revision
        await cluster.advance(4.0)
        for server in cluster.running():
            assert await value(server, b"session") == b"1"
        await cluster.advance(2.0)
        for server in cluster.running():
            assert await value(server, b"session") is None
            assert not server.state.lessor.exists(7)
            assert server.current_revision == before + 1  # one revoke, one revision

    run_cluster(tmp_path, scenario)


def test_a_member_that_missed_compacted_log_catches_up_by_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    restored: list[str] = []
    original = EtcdServer.restore

    def counting(self: EtcdServer, data: bytes) -> None:
        restored.append(self.member.name)
        original(self, data)

    monkeypatch.setattr(EtcdServer, "restore", counting)

    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        behind = next(name for name, s in cluster.servers.items() if s is not leader)
        await cluster.stop_member(behind)
        for n in range(60):
            await put(cluster, leader, b"key%03d" % n, b"value%d" % n)
        server = await cluster.restart_member(behind)
        await cluster.advance(3.0)
        assert restored == [behind]
        assert server.current_revision == leader.current_revision
        assert await value(server, b"key059") == b"value59"
        assert server.state.applied_index == leader.state.applied_index

    run_cluster(tmp_path, scenario, snapshot_count=20)


def test_a_malformed_entry_is_refused_alike_everywhere_and_the_log_goes_on(
    tmp_path: Path,
) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        revision = leader.current_revision
        leader.driver.propose([b"\x92\x01\x91\x63", b"not msgpack"])  # committed, unappliable
        await cluster.advance(0.5)
        answer = await put(cluster, leader, b"k", b"still fine")
        await cluster.advance(0.2)
        assert answer["header"]["revision"] == revision + 1
        indexes = {server.state.applied_index for server in cluster.running()}
        assert len(indexes) == 1
        for server in cluster.running():
            assert await value(server, b"k") == b"still fine"

    run_cluster(tmp_path, scenario)
