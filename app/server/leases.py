"""The lease keeper: the leader's expiry loop and keepalives, wherever they arrive.

Expiry is a leader-only decision: the loop asks the lessor for expired leases (a heap,
O(expired)) and proposes a revoke for each, so every member deletes the same keys at the
same revision. Keepalives are clock work too: the leader renews in memory (not through the
log, like etcd); a follower forwards them to the leader's client URL, batching every
keepalive that queued while the previous forward was in flight into one streaming request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable

import httpx

from keyraft.app.server import errors
from keyraft.app.server.requests import LeaseRevoke
from keyraft.raft.io.clock import Clock
from keyraft.storage.lease import Lessor

log = logging.getLogger("keyraft.leases")

EXPIRY_CHECK_S = 0.1
# Revokes in flight at once. etcd allows 16, but its proposals are cheap; ours ride in
# the same Raft batch, so more in flight costs nothing and drains a pile of expiries faster.
MAX_PENDING_REVOKES = 256
FORWARD_TIMEOUT_S = 5.0
FORWARDED_HEADER = "x-keyraft-forwarded"
FORWARDED = {FORWARDED_HEADER: "1"}


def min_lease_ttl(heartbeat_ms: int, election_timeout_ms: int) -> int:
    """etcd's minLeaseTTL: 1.5 election timeouts counted in whole ticks
    ((3 * electionTicks) / 2 heartbeats), rounded up to whole seconds."""
    ticks = election_timeout_ms // heartbeat_ms
    return -(-(3 * ticks // 2) * heartbeat_ms // 1000)


def new_lease_id() -> int:
    """A random positive int64: chosen by the proposer and carried in the proposal, so
    every member applies the same ID."""
    return int.from_bytes(os.urandom(8), "big") >> 1 or 1


class LeaseKeeper:
    def __init__(
        self,
        lessor: Lessor,
        clock: Clock,
        election_timeout_s: float,
        propose_revoke: Callable[[LeaseRevoke], Awaitable[object]],
        leader_client_urls: Callable[[], Awaitable[list[str]]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: the context for https client URLs of the leader (this member's
        client certificate and trusted CA); None trusts the system's CAs."""
        self.lessor = lessor
        self.clock = clock
        self.election_timeout_s = election_timeout_s
        self._propose_revoke = propose_revoke
        self._leader_client_urls = leader_client_urls
        self._tls = tls
        self.leading = False
        self._revoking: set[int] = set()
        self._revoke_tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._forward_queue: list[tuple[int, asyncio.Future]] = []
        self._forward_task: asyncio.Task | None = None

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._expire_forever(), name="lease-expiry")

    async def stop(self) -> None:
        for task in (self._loop_task, self._forward_task, *self._revoke_tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._client is not None:
            await self._client.aclose()

    # ---- leadership ---------------------------------------------------------------------

    def set_leading(self, leading: bool) -> None:
        """Called as this member gains or loses leadership. A new leader gives every lease
        a full TTL plus one election timeout before anything may expire (etcd's Promote)."""
        if leading == self.leading:
            return
        self.leading = leading
        if leading:
            self.lessor.promote(self.election_timeout_s)
        else:
            self.lessor.demote()
            self._revoking.clear()

    async def _expire_forever(self) -> None:
        while True:
            await self.clock.sleep(EXPIRY_CHECK_S)
            if not self.leading:
                continue
            room = MAX_PENDING_REVOKES - len(self._revoking)
            for lease_id in self.lessor.expired(max(0, room)):
                if lease_id not in self._revoking:
                    self._revoking.add(lease_id)
                    task = asyncio.create_task(self._revoke(lease_id))
                    self._revoke_tasks.add(task)  # the loop keeps only weak references
                    task.add_done_callback(self._revoke_tasks.discard)

    async def _revoke(self, lease_id: int) -> None:
        try:
            await self._propose_revoke(LeaseRevoke(lease_id))
        except errors.ServerError as error:
            if not isinstance(error, errors.LeaseNotFound):
                log.info("revoking expired lease %x failed: %s; will retry", lease_id, error)
                self.lessor.retry_expiry(lease_id)
        finally:
            self._revoking.discard(lease_id)

    def time_to_live(self, lease_id: int, with_keys: bool) -> dict:
        """What the leader knows of a lease: TTL left (-1 if there is no such lease), the
        granted TTL, and its keys if asked."""
        lease = self.lessor.time_to_live(lease_id)
        if lease is None:
            return {"ID": lease_id, "TTL": -1}
        answer = {
            "ID": lease_id,
            "TTL": self.lessor.remaining_seconds(lease),
            "grantedTTL": lease.ttl,
        }
        if with_keys:
            answer["keys"] = sorted(lease.keys)
        return answer

    # ---- keepalives ---------------------------------------------------------------------

    async def keep_alive(self, lease_id: int, forwarded: bool = False) -> int:
        """Renew on the leader; the granted TTL, or 0 for an unknown or expired lease.
        A keepalive forwarded here by a member that took us for the leader is not
        forwarded again (two members with stale views must not bounce it)."""
        if self.leading:
            return self.lessor.renew(lease_id)
        if forwarded:
            raise errors.NoLeader
        future = asyncio.get_running_loop().create_future()
        self._forward_queue.append((lease_id, future))
        if self._forward_task is None or self._forward_task.done():
            self._forward_task = asyncio.create_task(self._forward_keepalives())
        return await future

    async def _forward_keepalives(self) -> None:
        while self._forward_queue:
            batch, self._forward_queue = self._forward_queue, []
            try:
                ttls = await self._post_keepalives([lease_id for lease_id, _ in batch])
                for (_, future), ttl in zip(batch, ttls, strict=True):
                    if not future.done():
                        future.set_result(ttl)
            except Exception as error:  # every waiter hears about it
                failure = error if isinstance(error, errors.ServerError) else errors.NoLeader()
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)

    async def _post_keepalives(self, lease_ids: list[int]) -> list[int]:
        body = "".join(json.dumps({"ID": lease_id}) for lease_id in lease_ids)
        response = await self._to_leader("/v3/lease/keepalive", body.encode(), FORWARDED)
        ttls = []
        for line in response.content.splitlines():
            message = json.loads(line)
            if "result" not in message:
                raise errors.NoLeader
            ttls.append(int(message["result"].get("TTL", 0)))
        if len(ttls) != len(lease_ids):
            raise errors.NoLeader
        return ttls

    async def forward(self, path: str, request: dict) -> dict:
        """Ask the leader a unary lease question; its answer (or error) as JSON."""
        response = await self._to_leader(path, json.dumps(request).encode())
        answer = response.json()
        if response.status_code != 200:
            raise errors.from_message(answer.get("message", ""))
        return answer

    async def _to_leader(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        urls = await self._leader_client_urls()
        if not urls:
            raise errors.NoLeader
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, verify=self._tls or True)
        try:
            return await self._client.post(urls[0] + path, content=body, headers=headers)
        except httpx.HTTPError:
            raise errors.NoLeader from None
