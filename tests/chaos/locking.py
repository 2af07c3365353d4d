"""Clients doing fenced read-modify-writes of one counter under one lock, through faults.

Each round: grant a lease of the round's own, lock with it, read the ownership key's
create revision and the counter, write counter + 1 in a txn that compares that create
revision (the fence), unlock, revoke. Every request has a short timeout and moves on to
the next member when it fails, so a member that is down, paused or cut off costs a
round, never a client. What each txn did is recorded for `problems`:
- acknowledged (succeeded: true): the value it wrote and the revision it committed at;
- ambiguous (no answer): the value it would have written; it may or may not have applied.

Client 0 stalls in a few chosen rounds, as a holder paused by GC or a slow disk would:
after reading the counter it waits until its lease has ended and another holder has
written the value it is about to write. Its txn must then be fenced out; without the
fence it would write that value a second time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.chaos.harness import Cluster, b64, unb64

LOCK = "safety-lock"
COUNTER = "safety-counter"
LEASE_TTL_S = 5
# A lock waits for up to two other holders; one whose member went away holds it until
# its lease ends, so a waiter gives up a little after that and starts a new round.
LOCK_TIMEOUT_S = LEASE_TTL_S + 2.0
LEASE_BASE = 1 << 20  # client n's leases are (n + 1) * LEASE_BASE + its round
REQUEST_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
SETTLE_S = 20.0  # how long a grant or revoke is retried before the round gives up on it
STALLING_TTL_S = 2  # keyraft's and etcd's shortest with the default election timeout
STALL_LIMIT_S = 40.0  # a stalled holder's lease ends within a TTL of a leader being there
# A retried grant or revoke may find its first attempt applied.
SETTLED = ("lease already exists", "requested lease not found")


class Unavailable(Exception):
    """No answer (the member is down, paused, cut off, or has no leader) or an error: the
    round ends, and the client tries the next member."""


@dataclass(frozen=True, slots=True)
class Write:
    value: int
    revision: int  # the txn's header revision (0 when ambiguous)
    at: float  # on the recorder's clock
    client: int


@dataclass
class Tally:
    """Everything the clients saw, shared between their threads."""

    clock: Callable[[], float] = time.monotonic
    acknowledged: list[Write] = field(default_factory=list)
    ambiguous: list[Write] = field(default_factory=list)
    unrevoked: set[int] = field(default_factory=set)  # the test revokes these once healed
    rounds: int = 0
    fenced: int = 0  # txns the fence refused: their lock had ended
    stalls: int = 0  # holders that outlived their lease, then had their txn answered
    errors: list[str] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def record(self, into: list[Write], value: int, revision: int, client: int) -> None:
        with self.guard:
            into.append(Write(value, revision, self.clock(), client))


@dataclass
class Client:
    number: int
    cluster: Cluster
    tally: Tally
    lease_base: int
    index: int = 0
    rounds: int = 0
    failed_calls: int = 0  # requests that got no answer or an error
    stall_after: list[int] = field(default_factory=list)  # stall once past each round
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=REQUEST_TIMEOUT))

    def call(
        self, path: str, body: dict, timeout: httpx.Timeout | None = None, settled: bool = False
    ) -> dict:
        """One request to the current member; `settled`: an error saying an earlier
        attempt already applied is an empty answer."""
        members = self.cluster.members
        member = members[self.index % len(members)]
        try:
            response = self.http.post(
                member.client_url + path, json=body, timeout=timeout or REQUEST_TIMEOUT
            )
        except httpx.HTTPError as error:
            self.index += 1
            self.failed_calls += 1
            raise Unavailable(f"{member.name}: {type(error).__name__}") from None
        if response.status_code != 200:
            if settled and any(message in response.text for message in SETTLED):
                return {}
            self.index += 1
            self.failed_calls += 1
            raise Unavailable(f"{member.name}: {response.status_code} {response.text[:200]}")
        return response.json()

    def retried(self, path: str, body: dict) -> dict:
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                return self.call(path, body, settled=True)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # back off before the next member

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.rounds += 1
                with self.tally.guard:
                    self.tally.rounds += 1
                self.round(self.lease_base + self.rounds)
        except Exception as error:  # noqa: BLE001 - reported, and the test fails on it
            self.tally.errors.append(f"client {self.number}: {type(error).__name__}: {error}")
        finally:
            self.http.close()

    def round(self, lease: int) -> None:
        """One lease's round; whatever happens, the lease is revoked (its key then leaves
        the queue), or noted as not revoked. A round that stalls takes a short lease: the
        others wait for it to end."""
        stalling = bool(self.stall_after) and self.rounds >= self.stall_after[0]
        ttl = STALLING_TTL_S if stalling else LEASE_TTL_S
        failed_before = self.failed_calls
        try:
            self.retried("/v3/lease/grant", {"ID": lease, "TTL": ttl})
        except Unavailable:
            self.tally.unrevoked.add(lease)  # the grant may have applied
            return
        if self.failed_calls > failed_before:
            # An attempt that failed (a paused member, a cut link, a timed-out proposal)
            # may still apply later, even after this round's revoke: etcd's API cannot
            # withdraw a request. The test revokes such a lease again once healed.
            self.tally.unrevoked.add(lease)
        try:
            with contextlib.suppress(Unavailable):
                self.increment(lease, stalling)
        finally:
            try:
                self.retried("/v3/lease/revoke", {"ID": lease})
            except Unavailable:
                self.tally.unrevoked.add(lease)

    def increment(self, lease: int, stalling: bool = False) -> None:
        """One fenced read-modify-write under the lock."""
        lock_timeout = httpx.Timeout(LOCK_TIMEOUT_S, connect=1.0)
        key = self.call("/v3/lock/lock", {"name": b64(LOCK), "lease": lease}, lock_timeout)["key"]
        owner = self.call("/v3/kv/range", {"key": key}).get("kvs")
        if not owner:
            return  # the lease ended before we looked: the lock was never ours to use
        current = self.call("/v3/kv/range", {"key": b64(COUNTER)})["kvs"][0]
        value = int(unb64(current["value"])) + 1
        stalled = False
        if stalling:
            self.stall_after.pop(0)
            stalled = self.outlive(key, value)
        fence = {"key": key, "target": "CREATE", "create_revision": owner[0]["create_revision"]}
        put = {"request_put": {"key": b64(COUNTER), "value": b64(str(value))}}
        # A stalled holder's txn is retried until it has an answer: its fence can only fail.
        send = self.retried if stalled else self.call
        try:
            answer = send("/v3/kv/txn", {"compare": [fence], "success": [put]})
        except Unavailable:
            self.tally.record(self.tally.ambiguous, value, 0, self.number)
            raise
        if stalled:
            with self.tally.guard:
                self.tally.stalls += 1
        if answer.get("succeeded"):
            revision = int(answer["header"]["revision"])
            self.tally.record(self.tally.acknowledged, value, revision, self.number)
            if stalled:
                self.tally.errors.append(f"value {value} written after its lock's lease ended")
        else:
            with self.tally.guard:
                self.tally.fenced += 1
        self.call("/v3/lock/unlock", {"key": key})

    def outlive(self, key: str, value: int) -> bool:
        """Stall until our ownership key is gone and the counter has reached `value`."""
        deadline = time.monotonic() + STALL_LIMIT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(Unavailable):
                gone = not self.call("/v3/kv/range", {"key": key}).get("kvs")
                current = self.call("/v3/kv/range", {"key": b64(COUNTER)})["kvs"][0]
                if gone and int(unb64(current["value"])) >= value:
                    return True
            time.sleep(0.2)  # a poll interval: the condition is what is waited for
        self.tally.errors.append(f"client {self.number}: no other holder for {STALL_LIMIT_S}s")
        return False


def run_clients(
    cluster: Cluster, tally: Tally, count: int, stop: threading.Event, stalls: int = 1
) -> list[threading.Thread]:
    """Start `count` clients, each on its own lease IDs and its own first member; client 0
    stalls in `stalls` of its rounds (one at a time: another holder must go on)."""
    threads = []
    for number in range(count):
        lease_base = (number + 1) * LEASE_BASE
        client = Client(number, cluster, tally, lease_base, index=number)
        if number == 0:
            client.stall_after = list(range(5, 5 + 20 * stalls, 20))
        thread = threading.Thread(target=client.run, args=(stop,), name=f"locker-{number}")
        thread.start()
        threads.append(thread)
    return threads


def problems(stored: int, tally: Tally) -> list[str]:
    """What the final counter and the recorded txns say about the lock's safety."""
    found = []
    acknowledged = sorted(tally.acknowledged, key=lambda write: write.revision)
    values = [write.value for write in acknowledged]
    if len(set(values)) != len(values):
        twice = sorted({value for value in values if values.count(value) > 1})
        found.append(f"values written by two acknowledged txns (two holders at once): {twice}")
    if values != sorted(values):
        found.append(f"acknowledged values out of commit order: {values}")
    if values and values[-1] > stored:
        found.append(f"counter {stored} below the acknowledged value {values[-1]}")
    # Every increment in the counter is an acknowledged txn or an ambiguous one that applied.
    missing = set(range(1, stored + 1)) - set(values)
    unexplained = missing - {write.value for write in tally.ambiguous}
    if unexplained:
        found.append(f"counter values written by no txn we know of: {sorted(unexplained)}")
    if not len(values) <= stored <= len(values) + len(tally.ambiguous):
        found.append(
            f"counter {stored} outside [{len(values)} acknowledged, "
            f"+ {len(tally.ambiguous)} ambiguous]"
        )
    return found
