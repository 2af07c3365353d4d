"""etcd's v3election service: leader election per name, as clientv3/concurrency's Election.

A campaign is a key `name/<lease in hex>` holding the candidate's value; the oldest key
under `name/` leads. A leader is named by a `LeaderKey` (its key and create revision):
proclaim and resign act only while that key still has that create revision. Observe
follows the leader: the oldest key, each change of it, then the next once it goes.
Answers and errors are etcd 3.4.23's (measured), errors with gRPC code Unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from keyraft.app.server import errors
from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.concurrency import (
    changes,
    created,
    first_created,
    in_background,
    key_for,
    kvs_of,
    prefix_of,
    session_lease,
    wait_deletes,
)
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import (
    CampaignRequest,
    DeleteRange,
    LeaderKey,
    LeaderRequest,
    ProclaimRequest,
    Put,
    Range,
    ResignRequest,
    Txn,
)
from keyraft.app.server.watches import WatchSpec


async def campaign(
    server: EtcdServer, request: CampaignRequest, info: AuthInfo | None = None
) -> dict:
    """Wait until the caller leads; answer with its LeaderKey."""
    lease = await session_lease(server, request.lease, info)
    key = key_for(request.name, lease)
    candidate = Txn((created(key),), (Put(key, request.value, lease),), (Range(key),))
    answer = await server.txn(candidate, info)
    leader = LeaderKey(request.name, key, answer["header"]["revision"], lease)
    if not answer["succeeded"]:  # this lease campaigns again: it keeps its place
        kv = kvs_of(answer["responses"][0]["response_range"])[0]
        leader = leader._replace(rev=kv.create_revision)
        if kv.value != request.value:
            try:
                await _proclaim(server, leader, request.value, info)
            except errors.ServerError:
                await _resign(server, leader, info)
                raise
    try:
        await wait_deletes(server, request.name, leader.rev - 1, info)
    except BaseException as error:
        if not isinstance(error, errors.ServerError):  # canceled: the candidate withdraws
            in_background(_resign(server, leader, info))
        raise
    return {"header": answer["header"], "leader": leader._asdict()}


async def proclaim(
    server: EtcdServer, request: ProclaimRequest, info: AuthInfo | None = None
) -> dict:
    """A new value from the leader; "election: not leader" from anyone else."""
    leader = await _resumed(server, request.leader, info)
    return {"header": await _proclaim(server, leader, request.value, info)}


async def resign(server: EtcdServer, request: ResignRequest, info: AuthInfo | None = None) -> dict:
    """The leader steps down (its key is deleted); from anyone else, nothing happens."""
    leader = await _resumed(server, request.leader, info)
    return {"header": await _resign(server, leader, info)}


async def leader(server: EtcdServer, request: LeaderRequest, info: AuthInfo | None = None) -> dict:
    """The current leader's key-value."""
    answer = await server.range(first_created(request.name), info)
    kvs = kvs_of(answer)
    if not kvs:
        raise errors.ElectionNoLeader
    return {"header": answer["header"], "kv": kvs[0]}


async def observe(
    server: EtcdServer, request: LeaderRequest, info: AuthInfo | None = None
) -> AsyncIterator[dict]:
    """Every leader in turn, and each of its proclamations, as LeaderResponses: the
    oldest key (once there is one), its changes until it is deleted, then the next."""
    prefix, end = prefix_of(request.name)
    while True:
        answer = await server.range(first_created(request.name), info)
        kvs = kvs_of(answer)
        if kvs:
            header, kv = answer["header"], kvs[0]
        else:  # no leader yet: the first key put under the prefix leads
            async with changes(
                server, WatchSpec(prefix, end, answer["header"]["revision"])
            ) as seen:
                async for change in seen:
                    if not change.deleted:
                        header, kv = {"revision": change.kv.mod_revision}, change.kv
                        break
        yield {"header": header, "kv": kv}
        async with changes(server, WatchSpec(kv.key, None, header["revision"] + 1)) as seen:
            async for change in seen:
                if change.deleted:
                    break
                yield {"header": {"revision": change.kv.mod_revision}, "kv": change.kv}


async def _resumed(
    server: EtcdServer, leader: LeaderKey | None, info: AuthInfo | None
) -> LeaderKey:
    """A request's LeaderKey, acting with its session's lease (etcd's ResumeElection: a
    lease of 0 gets a new session lease, as NewSession grants one)."""
    if leader is None:
        raise errors.MissingLeaderKey
    return leader._replace(lease=await session_lease(server, leader.lease, info))


async def _proclaim(
    server: EtcdServer, leader: LeaderKey, value: bytes, info: AuthInfo | None
) -> dict:
    put = Put(leader.key, value, leader.lease)
    answer = await server.txn(Txn((created(leader.key, leader.rev),), (put,)), info)
    if not answer["succeeded"]:
        raise errors.ElectionNotLeader
    return answer["header"]


async def _resign(server: EtcdServer, leader: LeaderKey, info: AuthInfo | None) -> dict:
    delete = DeleteRange(leader.key)
    answer = await server.txn(Txn((created(leader.key, leader.rev),), (delete,)), info)
    return answer["header"]
