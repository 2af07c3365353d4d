"""Leases on a 3-member cluster: expiry decided by the leader and applied everywhere at one
revision, keepalives through followers, and failover never expiring a kept-alive lease."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx

from tests.cluster.conftest import b64, leader_of, status, wait_for
from tests.support.servers import Member

TTL = 3
CLIENT = httpx.Client(timeout=15)  # one client: building one per call costs ~30 ms of CPU


def post(member: Member, path: str, body: dict) -> httpx.Response:
    return CLIENT.post(member.client_url + path, json=body)


def grant(member: Member, lease: int, ttl: int = TTL) -> None:
    response = post(member, "/v3/lease/grant", {"ID": lease, "TTL": ttl})
    assert response.status_code == 200, response.text


def keys_under(member: Member, prefix: str, revision: int = 0) -> list[str]:
    body = post(
        member,
        "/v3/kv/range",
        {
            "key": b64(prefix),
            "range_end": b64(prefix[:-1] + chr(ord(prefix[-1]) + 1)),
            "serializable": True,
            "keys_only": True,
            "revision": revision,
        },
    ).json()
    return [kv["key"] for kv in body.get("kvs", [])]


def keep_alive(member: Member, leases: list[int]) -> list[int]:
    """One keepalive stream renewing every lease; their TTLs in order."""
    body = "".join(f'{{"ID":{lease}}}' for lease in leases)
    response = CLIENT.post(member.client_url + "/v3/lease/keepalive", content=body, timeout=5)
    lines = [httpx.Response(200, content=line).json() for line in response.content.splitlines()]
    return [int(line.get("result", {}).get("TTL", 0)) for line in lines]


class KeepAliver:
    """Renews leases every TTL/3 through the given members until stopped, riding out a
    failover by retrying on the next member after a short pause. A lease renewed once and
    later reported gone (TTL 0) is `lost`."""

    def __init__(self, members: list[Member], leases: list[int], ttl: int) -> None:
        self.members = members
        self.leases = leases
        self.period = ttl / 3
        self.alive: set[int] = set()
        self.lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KeepAliver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            member = self.members[turn % len(self.members)]
            try:
                ttls = keep_alive(member, self.leases)
            except (httpx.HTTPError, ValueError):
                ttls = []
            if len(ttls) == len(self.leases):
                for lease, ttl in zip(self.leases, ttls, strict=True):
                    if ttl:
                        self.alive.add(lease)
                    elif lease in self.alive:  # renewed before, gone now
                        self.lost.add(lease)
                self._stop.wait(self.period)
            else:
                turn += 1
                self._stop.wait(0.2)


def test_expiry_on_every_member_at_one_revision_and_keepalive_keeps_keys(
    cluster_factory,
) -> None:
    members = cluster_factory(3)
    leader = leader_of(members)
    follower = next(member for member in members if member is not leader)
    grant(follower, 101)
    grant(follower, 102)
    for name in ("a", "b", "c"):
        post(follower, "/v3/kv/put", {"key": b64(f"e/{name}"), "value": b64("v"), "lease": 101})
        post(follower, "/v3/kv/put", {"key": b64(f"k/{name}"), "value": b64("v"), "lease": 102})
    granted_at = time.monotonic()
    with KeepAliver([follower], [102], TTL) as keeper:
        for member in members:
            wait_for(lambda m=member: not keys_under(m, "e/"), TTL + 3, "expiry on every member")
        gone_at = time.monotonic()
        assert gone_at - granted_at >= TTL - 0.2
        assert gone_at - granted_at <= TTL + 1.5
        revisions = {int(status(member)["header"]["revision"]) for member in members}
        assert len(revisions) == 1
        (revision,) = revisions
        for member in members:  # all three keys went in the one last revision
            assert len(keys_under(member, "e/", revision - 1)) == 3
        wait_for(lambda: time.monotonic() - granted_at > 3 * TTL, 4 * TTL, "three TTLs")
        assert not keeper.lost
        for member in members:
            assert len(keys_under(member, "k/")) == 3
    wait_for(lambda: all(not keys_under(m, "k/") for m in members), TTL + 3, "expiry after")
    timetolive = post(follower, "/v3/lease/timetolive", {"ID": 102}).json()
    assert timetolive["TTL"] == "-1"


def test_leader_kill_9_expires_no_kept_alive_lease(cluster_factory) -> None:
    ttl = 4
    members = cluster_factory(3)
    leader = leader_of(members)
    followers = [member for member in members if member is not leader]
    kept = list(range(1000, 1100))
    idle = list(range(2000, 2010))

    def grant_and_attach(lease: int) -> None:
        grant(followers[lease % 2], lease, ttl)
        key = {"key": b64(f"l/{lease}"), "value": b64("v"), "lease": lease}
        assert post(followers[lease % 2], "/v3/kv/put", key).status_code == 200

    with KeepAliver(followers, kept, ttl) as keeper:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(grant_and_attach, kept + idle))
        wait_for(lambda: len(keeper.alive) == len(kept), 2 * ttl, "every lease renewed")
        killed_at = time.monotonic()
        leader.kill()
        new_leader = leader_of(followers)
        assert new_leader is not leader
        # The idle leases get a full TTL from the new leader: not gone before that ...
        assert len(keys_under(followers[0], "l/2")) == len(idle)
        wait_for(lambda: all(not keys_under(m, "l/2") for m in followers), 3 * ttl, "idle expiry")
        assert time.monotonic() - killed_at >= ttl
        wait_for(lambda: time.monotonic() - killed_at > 2 * ttl + 1, 3 * ttl, "two TTLs")
        assert not keeper.lost
        for member in followers:
            assert len(keys_under(member, "l/1")) == len(kept)
        # Restarted while the leases are still kept alive (once keepalives stop, they
        # expire a TTL later: a restart slower than that would find nothing to catch up).
        leader.start()
        wait_for(
            lambda: len(keys_under(leader, "l/1")) == len(kept), 30, "the old leader catches up"
        )
        assert not keeper.lost


def test_lease_held_lock_survives_failover(cluster_factory) -> None:
    ttl = 4
    members = cluster_factory(3)
    leader = leader_of(members)
    followers = [member for member in members if member is not leader]

    def acquire(member: Member, lease: int) -> bool:
        txn = {
            "compare": [{"key": b64("lock"), "target": "CREATE", "create_revision": 0}],
            "success": [
                {"request_put": {"key": b64("lock"), "value": b64(str(lease)), "lease": lease}}
            ],
        }
        return bool(post(member, "/v3/kv/txn", txn).json().get("succeeded"))

    grant(followers[0], 1, ttl)
    grant(followers[1], 2, ttl)
    assert acquire(followers[0], 1)
    assert not acquire(followers[1], 2)
    with KeepAliver(followers, [2], ttl) as waiter:
        with KeepAliver(followers, [1], ttl) as holder:
            leader.kill()
            leader_of(followers)
            wait_for(lambda: acquire(followers[1], 2) is False, 10, "a working cluster")
            started = time.monotonic()
            wait_for(lambda: time.monotonic() - started > ttl + 2, 2 * ttl, "a TTL after failover")
            assert not acquire(followers[1], 2)
            assert not holder.lost
        # The holder stopped renewing: its lease expires and the waiter gets the lock.
        wait_for(lambda: acquire(followers[1], 2), 3 * ttl, "the lock to pass on")
        assert not waiter.lost
    body = post(followers[0], "/v3/kv/range", {"key": b64("lock")}).json()
    assert body["kvs"][0]["lease"] == "2"
    leader.start()


def test_member_restored_from_a_snapshot_has_the_leases(cluster_factory) -> None:
    members = cluster_factory(3, ("--snapshot-count", "50"))
    leader = leader_of(members)
    lagging = next(member for member in members if member is not leader)
    lagging.stop()
    grant(leader, 77, 600)
    post(leader, "/v3/kv/put", {"key": b64("snap/leased"), "value": b64("v"), "lease": 77})
    for index in range(200):
        post(leader, "/v3/kv/put", {"key": b64(f"snap/{index}"), "value": b64("v")})
    chosen = post(leader, "/v3/lease/grant", {"TTL": 600}).json()["ID"]  # the server picks
    lagging.start()
    wait_for(lambda: len(keys_under(lagging, "snap/")) == 201, 60, "catch-up by snapshot")
    for member in members:  # the ID chosen by the proposer is the same everywhere
        wait_for(
            lambda m=member: (
                post(m, "/v3/lease/leases", {}).json().get("leases")
                == sorted([{"ID": "77"}, {"ID": chosen}], key=lambda lease: int(lease["ID"]))
            ),
            10,
            f"both leases on {member.name}",
        )
    post(leader, "/v3/lease/revoke", {"ID": chosen})
    # The restored member knows the attachment: the leader's revoke deletes the key there.
    assert post(lagging, "/v3/lease/revoke", {"ID": 77}).status_code == 200
    wait_for(lambda: len(keys_under(lagging, "snap/")) == 200, 10, "the revoke applied")
    assert "snapshot" in (leader.log_tail(200) + lagging.log_tail(200)).lower()
