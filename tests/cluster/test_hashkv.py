"""HashKV on three in-process members: equal on every member at a revision, unchanged by
later writes, the compact revision reported, compacted and future revisions refused as
etcd refuses them; Hash changes with every write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.requests import Compact, DeleteRange, HashKV, Put
from tests.support.inprocess_cluster import InProcessCluster

pytestmark = pytest.mark.timeout(120)


def test_hashkv_agrees_on_every_member(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = InProcessCluster(tmp_path)
        await cluster.start()
        try:
            await scenario(cluster)
        finally:
            await cluster.stop()

    async def call(cluster: InProcessCluster, operation):
        return await cluster.until(asyncio.ensure_future(operation))

    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        for n in range(10):
            await call(cluster, leader.put(Put(b"k%d" % (n % 3), b"v%d" % n)))
        await call(cluster, leader.delete_range(DeleteRange(b"k0")))
        await cluster.advance(0.3)
        revision = leader.current_revision
        hashes = [await s.maintenance.hash_kv(HashKV(revision)) for s in cluster.running()]
        assert len({answer["hash"] for answer in hashes}) == 1
        assert all(answer["compact_revision"] == -1 for answer in hashes)
        whole = await leader.maintenance.hash()
        await call(cluster, leader.put(Put(b"later", b"x")))
        await cluster.advance(0.3)
        for server in cluster.running():
            assert (await server.maintenance.hash_kv(HashKV(revision)))["hash"] == hashes[0]["hash"]
        assert (await leader.maintenance.hash())["hash"] != whole["hash"]
        latest = [await s.maintenance.hash_kv(HashKV()) for s in cluster.running()]
        assert len({answer["hash"] for answer in latest}) == 1
        assert latest[0]["hash"] != hashes[0]["hash"]
        await call(cluster, leader.compact(Compact(5)))
        await cluster.advance(0.3)
        compacted = [await s.maintenance.hash_kv(HashKV(revision)) for s in cluster.running()]
        assert {answer["compact_revision"] for answer in compacted} == {5}
        assert len({answer["hash"] for answer in compacted}) == 1
        with pytest.raises(errors.Compacted):
            await leader.maintenance.hash_kv(HashKV(4))
        with pytest.raises(errors.FutureRevision):
            await leader.maintenance.hash_kv(HashKV(leader.current_revision + 1))

    asyncio.run(main())


def test_the_leader_auto_compacts_every_member_alike(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = InProcessCluster(
            tmp_path, auto_compaction_mode="periodic", auto_compaction_retention="2s"
        )
        await cluster.start()
        try:
            leader = await cluster.leader()
            for n in range(5):
                task = asyncio.ensure_future(leader.put(Put(b"k", b"v%d" % n)))
                await cluster.until(task)
            await cluster.advance(5.0)
            compacted = {server.compact_revision for server in cluster.running()}
            assert len(compacted) == 1 and compacted.pop() > 1
        finally:
            await cluster.stop()

    asyncio.run(main())
