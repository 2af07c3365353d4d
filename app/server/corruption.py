"""etcd 3.4's periodic corruption check (--experimental-corrupt-check-time).

Apply is deterministic, so every member's MVCC history at a revision hashes alike; a
member whose disk changed under it does not. Every interval the leader hashes its own
history at its current revision, asks every other member for its hash at that revision
(`GET /members/hashkv` on the peer port, as etcd's peers serve it), and raises a CORRUPT
alarm through Raft for the first member that disagrees, as etcd's checkHashKV decides:

- the leader's own hash changed while its revision and compact revision did not;
- a member is at a later revision, or compacted further, than the leader;
- a member compacted where the leader had, yet its hash differs.

Once the alarm stands, apply refuses every write on every member (`alarms.AlarmStore`).

With --experimental-initial-corrupt-check a restarting member first compares its own
hash with the others' at its revision and refuses to start if one that compacted where it
did disagrees (etcd's CheckInitialHashKV); peers that cannot answer are only logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx
import orjson

from keyraft.app.server.requests import Alarm, AlarmAction, AlarmType
from keyraft.raft.io.clock import Clock

log = logging.getLogger("keyraft.corruption")

PEER_HASHKV_PATH = "/members/hashkv"


@dataclass(frozen=True, slots=True)
class KVHash:
    """One member's hashkv answer: its hash at the asked revision, its current revision
    and its compact revision (-1: never compacted)."""

    member_id: int
    hash: int
    revision: int
    compact_revision: int

    @classmethod
    def from_response(cls, member_id: int, response: dict) -> KVHash:
        """From a HashKVResponse (the client API's or the peer port's JSON) of the
        member asked, whatever id the answer names."""
        header = response.get("header") or {}
        return cls(
            member_id,
            int(response.get("hash") or 0),
            int(header.get("revision") or 0),
            int(response.get("compact_revision") or 0),
        )

    def peer_json(self) -> bytes:
        """As etcd's peer handler writes a HashKVResponse (Go's encoding/json: numbers,
        zero values omitted)."""
        header = {"member_id": self.member_id, "revision": self.revision}
        body = {"header": {k: v for k, v in header.items() if v}, "hash": self.hash}
        body["compact_revision"] = self.compact_revision
        return orjson.dumps({k: v for k, v in body.items() if v})


def corrupt_member(before: KVHash, after: KVHash, peers: Iterable[KVHash]) -> int | None:
    """The member to raise CORRUPT for, if any: the leader's hashes `before` asking the
    peers and `after` a linearizable barrier, and the peers' answers (etcd alarms the
    first mismatch only)."""
    same_history = after.revision == before.revision
    if (
        after.hash != before.hash
        and same_history
        and after.compact_revision == before.compact_revision
    ):
        log.warning("found hash mismatch on this member: %s then %s", before, after)
        return before.member_id
    for peer in peers:
        if peer.revision > after.revision:
            log.warning("member %x is at revision %d, past the leader's %d",
                        peer.member_id, peer.revision, after.revision)  # fmt: skip
            return peer.member_id
        if peer.compact_revision > after.compact_revision:
            log.warning("member %x compacted at %d, past the leader's %d",
                        peer.member_id, peer.compact_revision, after.compact_revision)  # fmt: skip
            return peer.member_id
        if peer.compact_revision == before.compact_revision and peer.hash != before.hash:
            log.warning("member %x's hash %d at revision %d differs from the leader's %d",
                        peer.member_id, peer.hash, before.revision, before.hash)  # fmt: skip
            return peer.member_id
    return None


class DataInconsistency(Exception):
    """This member's history differs from another's: it must not serve (etcd refuses
    to start with this message)."""


def inconsistent(own: KVHash, peers: Iterable[KVHash]) -> list[KVHash]:
    """The peers whose hash at `own`'s revision differs though they compacted alike."""
    return [
        peer
        for peer in peers
        if peer.hash != own.hash and peer.compact_revision == own.compact_revision
    ]


class PeerHashes:
    """Asks other members' peer ports for their hashkv (etcd's getPeerHashKVs)."""

    def __init__(self, verify: object, headers: dict[str, str], timeout: float) -> None:
        """`headers` name this member and its cluster, as its Raft streams do."""
        self.verify = verify  # an SSLContext for https peer URLs, else True
        self.headers = {"content-type": "application/json", **headers}
        self.timeout = timeout

    async def fetch(self, peers: dict[int, list[str]], revision: int) -> list[KVHash]:
        """Each reachable peer's hash at `revision`, trying its URLs in turn; a peer that
        answers none of them (down, behind, compacted) is left out, with a warning."""
        async with httpx.AsyncClient(verify=self.verify, timeout=self.timeout) as client:  # type: ignore[arg-type]
            found = await asyncio.gather(
                *(self._one(client, member, urls, revision) for member, urls in peers.items())
            )
        return [answer for answer in found if answer is not None]

    async def _one(
        self, client: httpx.AsyncClient, member: int, urls: list[str], revision: int
    ) -> KVHash | None:
        body = orjson.dumps({"revision": revision})
        for url in urls:
            try:
                response = await client.request(
                    "GET", url.rstrip("/") + PEER_HASHKV_PATH, content=body, headers=self.headers
                )
                if response.status_code == 200:
                    return KVHash.from_response(member, response.json())
                problem = f"{response.status_code} {response.text.strip()}"
            except (httpx.HTTPError, ValueError, TypeError) as error:
                problem = str(error) or type(error).__name__
            log.warning("failed hash kv request to %s at revision %d: %s", url, revision, problem)
        return None


class CorruptionMonitor:
    """The leader's periodic check (etcd's monitorKVHash); `interval_s` 0 turns it off.
    `own_hash` hashes this member's history at its current revision, `peers` answers
    the other members' peer URLs, `barrier` waits for a linearizable read point."""

    def __init__(
        self,
        interval_s: float,
        clock: Clock,
        own_hash: Callable[[], Awaitable[KVHash]],
        peers: Callable[[], dict[int, list[str]]],
        fetch: Callable[[dict[int, list[str]], int], Awaitable[list[KVHash]]],
        barrier: Callable[[], Awaitable[None]],
        propose: Callable[[Alarm], Awaitable[dict]],
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.own_hash = own_hash
        self.peers = peers
        self.fetch = fetch
        self.barrier = barrier
        self.propose = propose
        self.leading = False
        self.checks = 0  # completed checks, for tests and metrics

    async def run(self) -> None:
        if self.interval_s <= 0:
            return
        log.info("enabled corruption checking every %gs", self.interval_s)
        while True:
            await self.clock.sleep(self.interval_s)
            if not self.leading:
                continue
            try:
                await self.check()
            except Exception as error:  # noqa: BLE001 - the next pass tries again
                log.warning("failed to check hash KV: %s", error)

    async def check_initial(self) -> None:
        """Raise DataInconsistency if another member's history differs from this one's."""
        own = await self.own_hash()
        log.info("starting initial corruption check (member %x)", own.member_id)
        answers = await self.fetch(self.peers(), own.revision)
        for peer in answers:
            if peer.hash != own.hash and peer.compact_revision != own.compact_revision:
                log.warning("member %x compacted at %d, this one at %d: not compared",
                            peer.member_id, peer.compact_revision, own.compact_revision)  # fmt: skip
        differing = inconsistent(own, answers)
        for peer in differing:
            log.warning("member %x's hash %d at revision %d differs from this one's %d",
                        peer.member_id, peer.hash, own.revision, own.hash)  # fmt: skip
        if differing:
            raise DataInconsistency(f"{own.member_id:x} found data inconsistency with peers")
        log.info("initial corruption checking passed; no corruption")

    async def check(self) -> None:
        before = await self.own_hash()
        answers = await self.fetch(self.peers(), before.revision)
        await self.barrier()
        after = await self.own_hash()
        member = corrupt_member(before, after, answers)
        if member is not None:
            await self.propose(Alarm(AlarmAction.ACTIVATE, member, AlarmType.CORRUPT))
        self.checks += 1
        log.info("finished peer corruption check (%d peers checked)", len(answers))
