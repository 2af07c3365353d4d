"""NOSPACE end to end on three in-process members: the backend passes its quota, the
member that sees it raises the alarm through Raft, every member refuses writes and serves
reads, then compaction, defragment and disarm make every member write again, no restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import (
    Alarm,
    AlarmAction,
    AlarmType,
    Compact,
    DeleteRange,
    LeaseGrant,
    Put,
    Range,
    Txn,
)
from tests.support.inprocess_cluster import InProcessCluster

pytestmark = pytest.mark.timeout(120)

QUOTA = 2 * 1024 * 1024
VALUE = b"x" * 64 * 1024


async def call(cluster: InProcessCluster, operation) -> dict:
    return await cluster.until(asyncio.ensure_future(operation))


async def refused(cluster: InProcessCluster, operation) -> errors.ServerError | None:
    try:
        await call(cluster, operation)
    except errors.ServerError as error:
        return error
    return None


async def fill_until_refused(cluster: InProcessCluster, server: EtcdServer) -> None:
    for _ in range(200):
        if isinstance(await refused(cluster, server.put(Put(b"big", VALUE))), errors.NoSpace):
            return
    raise AssertionError("the quota was never reached")


def test_nospace_everywhere_then_compact_defragment_disarm(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = InProcessCluster(tmp_path, quota_backend_bytes=QUOTA)
        await cluster.start()
        try:
            await scenario(cluster)
        finally:
            await cluster.stop()

    async def scenario(cluster: InProcessCluster) -> None:
        leader = await cluster.leader()
        await call(cluster, leader.put(Put(b"small", b"1")))
        await fill_until_refused(cluster, cluster.followers(leader)[0])
        await cluster.advance(0.5)
        listed = await call(cluster, leader.alarm(Alarm(AlarmAction.GET)))
        assert listed["alarms"] and all(a["alarm"] == AlarmType.NOSPACE for a in listed["alarms"])
        for server in cluster.running():
            assert server.state.alarms.active(AlarmType.NOSPACE)
            for write in (
                server.put(Put(b"small", b"2")),
                server.txn(Txn((), (Put(b"small", b"3"),), ())),
                server.lease_grant(LeaseGrant(60)),
            ):
                assert isinstance(await refused(cluster, write), errors.NoSpace)
            found = await call(cluster, server.range(Range(b"small")))
            assert found["kvs"][0].value == b"1"
        revision = leader.current_revision
        await call(cluster, leader.delete_range(DeleteRange(b"nothing")))
        await call(cluster, leader.compact(Compact(revision)))
        for server in cluster.running():
            in_use = server.state.backend.live_bytes()
            await server.maintenance.defragment()  # a worker thread, in real time
            assert server.state.backend.live_bytes() < min(in_use, QUOTA)
        # every member saw the quota passed, and may have raised its own: disarm them all
        # (etcdctl alarm disarm lists, then deactivates each)
        listed = await call(cluster, leader.alarm(Alarm(AlarmAction.GET)))
        for alarm in listed["alarms"]:
            disarm = Alarm(AlarmAction.DEACTIVATE, alarm["memberID"], alarm["alarm"])
            await call(cluster, leader.alarm(disarm))
        await cluster.advance(0.5)
        for n, server in enumerate(cluster.running()):
            assert not server.state.alarms.raised
            await call(cluster, server.put(Put(b"small", b"after %d" % n)))
            await call(cluster, server.lease_grant(LeaseGrant(60)))

    asyncio.run(main())
