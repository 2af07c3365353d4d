"""etcd's v3lock service: a mutex per name, as clientv3/concurrency's Mutex.

A lock is a key `name/<lease in hex>` created with the caller's lease; whoever's key has
the lowest create revision under `name/` holds the lock, the others wait (a watch on the
key just ahead) for every older key to go: unlocked, or its lease expired or revoked.
The answer's key, and its create revision, fence the holder's writes (README: locks).

As etcd 3.4.23 (measured): a waiter canceled (its client went away) deletes its key; a
waiter whose own lease ends while it waits still gets an answer once the keys ahead go
(etcd 3.5 checks its key first), so a holder must fence on its key's create revision.
"""

from __future__ import annotations

from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.concurrency import (
    created,
    delete_key,
    first_created,
    in_background,
    key_for,
    kvs_of,
    session_lease,
    wait_deletes,
)
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import LockRequest, Put, Range, Txn, UnlockRequest


async def lock(server: EtcdServer, request: LockRequest, info: AuthInfo | None = None) -> dict:
    """Wait until the caller holds the lock; answer with its ownership key."""
    lease = await session_lease(server, request.lease, info)
    key = key_for(request.name, lease)
    # Join the queue (or find our key already in it, when this lease asks again) and
    # read the owner, in one round trip.
    owner = first_created(request.name)
    queued = Txn((created(key),), (Put(key, b"", lease), owner), (Range(key), owner))
    answer = await server.txn(queued, info)
    header = answer["header"]
    ours, oldest = (kvs_of(response.get("response_range", {})) for response in answer["responses"])
    revision = header["revision"] if answer["succeeded"] else ours[0].create_revision
    if oldest and oldest[0].create_revision != revision:
        try:
            header = await wait_deletes(server, request.name, revision - 1, info)
        except BaseException:
            # the waiter gives up (canceled, or the wait failed): its key leaves the
            # queue, as etcd's Mutex unlocks on the client's own context
            in_background(delete_key(server, key, info))
            raise
    return {"header": header, "key": key}


async def unlock(server: EtcdServer, request: UnlockRequest, info: AuthInfo | None = None) -> dict:
    """Delete the ownership key (it need not exist)."""
    answer = await delete_key(server, request.key, info)
    return {"header": answer["header"]}
