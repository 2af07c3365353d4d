"""The lock with fencing through faults: 3 clients loop lock -> read the counter -> a txn
writing counter + 1 only while their ownership key still has the create revision they
locked with -> unlock, on 3 members behind the peer proxy, while the nemesis kills,
partitions and pauses members (issue #16).

Client 0 once stalls holding the lock until its lease has ended and another holder has
written: its txn must be fenced out. After healing: every acknowledged txn wrote a value
no other acknowledged txn wrote (two holders committing at once would write the same
one), in commit order; the counter is
made of acknowledged and possibly-applied ambiguous txns only; increments went on while
faults were held, and after healing; no lock key is left once every lease is revoked.
The real-etcd variant checks the test itself. CHAOS_SEED picks another fault schedule.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.chaos.harness import b64, make_cluster, unb64
from tests.chaos.locking import COUNTER, LEASE_BASE, LOCK, Client, Tally, problems, run_clients
from tests.chaos.nemesis import Nemesis
from tests.cluster.conftest import wait_for
from tests.support.servers import etcd_available

CLIENTS = 3
FAULT_KINDS = ("kill", "partition", "pause")
# Shorter than the nemesis's defaults, so that 20 s see every kind; a pause still outlasts
# an election timeout.
HOLD_S, GAP_S = (1.5, 3.0), (0.5, 1.5)
# Progress floors: a run where the clients only ever failed would prove nothing.
MIN_DURING_FAULTS_PER_10_S = 3
MIN_AFTER_HEALING = 3


@pytest.mark.parametrize(
    ("kind", "fault_seconds"),
    [
        pytest.param("keyraft", 20, id="keyraft-20s"),
        pytest.param("keyraft", 60, id="keyraft-60s", marks=pytest.mark.long),
        pytest.param(
            "etcd",
            20,
            id="etcd-20s",
            marks=[
                pytest.mark.long,
                pytest.mark.skipif(not etcd_available(), reason="etcd is not installed"),
            ],
        ),
    ],
)
def test_fenced_counter_under_kills_partitions_and_pauses(
    tmp_path: Path, kind: str, fault_seconds: float
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", "3"))
    found, summary = lock_chaos(tmp_path, kind, fault_seconds, seed)
    print(summary)
    assert not found, "\n".join(found) + "\n" + summary


def lock_chaos(workdir: Path, kind: str, fault_seconds: float, seed: int) -> tuple[list, str]:
    """Run the clients through the faults and check; the problems found, and the report
    (the fault schedule). Every process started is stopped, also on failure."""
    cluster = make_cluster(workdir, 3, kind)
    tally, stop = Tally(), threading.Event()
    nemesis = Nemesis(cluster, seed, FAULT_KINDS, HOLD_S, GAP_S)
    threads: list[threading.Thread] = []
    found: list[str] = []
    stored, healed = 0, 0.0
    checker = Client(-1, cluster, tally, lease_base=0)
    try:
        cluster.start()
        cluster.wait_leader()
        checker.retried("/v3/kv/put", {"key": b64(COUNTER), "value": b64("0")})
        nemesis.origin = time.monotonic()
        tally.clock = nemesis.now
        threads = run_clients(cluster, tally, CLIENTS, stop, stalls(fault_seconds))
        run_every_kind(nemesis, fault_seconds)
        healed = nemesis.now()
        cluster.wait_leader(timeout=60)
        wait_for(
            lambda: sum(write.at > healed for write in tally.acknowledged) >= MIN_AFTER_HEALING,
            60,
            f"{MIN_AFTER_HEALING} increments after healing",
        )
        found.extend(stop_clients(threads, stop))
        stored = settle(checker, tally, found)
    except Exception as error:  # noqa: BLE001 - reported with the fault schedule
        found.append(f"run aborted: {type(error).__name__}: {error}")
    finally:
        stop_clients(threads, stop)
        checker.http.close()
        cluster.stop()
    if held(nemesis) != set(FAULT_KINDS):
        found.append(f"only {sorted(held(nemesis))} were held, not all of {FAULT_KINDS}")
    during = during_faults(nemesis, tally)
    floor = MIN_DURING_FAULTS_PER_10_S * fault_seconds // 10
    if during < floor:
        found.append(f"only {during} increments acknowledged while faults were held (< {floor})")
    if tally.stalls < stalls(fault_seconds):
        found.append(f"{tally.stalls} stalled holders, not {stalls(fault_seconds)}")
    if tally.fenced < tally.stalls:
        found.append(f"{tally.fenced} txns fenced out, fewer than {tally.stalls} stalled holders")
    found.extend(nemesis.errors + tally.errors + problems(stored, tally))
    return found, report(seed, kind, nemesis, tally, stored, healed, during)


def stalls(fault_seconds: float) -> int:
    """How many times client 0 stalls holding the lock (each costs the others a TTL)."""
    return max(1, int(fault_seconds // 20))


def stop_clients(threads: list[threading.Thread], stop: threading.Event) -> list[str]:
    """Stop the clients (each finishes its round, revoke included); those still running."""
    stop.set()
    for thread in threads:
        thread.join(60)
    return [f"client thread {thread.name} still running" for thread in threads if thread.is_alive()]


def run_every_kind(nemesis: Nemesis, seconds: float) -> None:
    """Faults for `seconds`, then (up to 3x as long) the kinds not held yet: on a slow
    machine slow restarts leave room for fewer faults. Healed on return."""
    every = nemesis.kinds
    nemesis.run(seconds, threading.Event())
    while missing := tuple(kind for kind in every if kind not in held(nemesis)):
        if nemesis.errors or nemesis.now() > 3 * seconds:
            break
        nemesis.kinds = missing
        nemesis.run(nemesis.now() + 10, threading.Event())
    nemesis.kinds = every


def held(nemesis: Nemesis) -> set[str]:
    return {fault.kind for fault in nemesis.faults}


def settle(client: Client, tally: Tally, found: list[str]) -> int:
    """The stored counter; revoke the leases the clients could not, then the lock's queue
    must be empty."""
    for lease in sorted(tally.unrevoked):
        client.retried("/v3/lease/revoke", {"ID": lease})
    stored = int(unb64(client.retried("/v3/kv/range", {"key": b64(COUNTER)})["kvs"][0]["value"]))
    queue = {"key": b64(LOCK + "/"), "range_end": b64(LOCK + "0")}
    if left := client.retried("/v3/kv/range", queue).get("kvs", []):
        found.append(f"lock keys left after every lease was revoked: {left}")
    listed = client.retried("/v3/lease/leases", {}).get("leases", [])
    if ours := [lease["ID"] for lease in listed if int(lease["ID"]) >= LEASE_BASE]:
        found.append(f"the clients' leases outlived their revoke: {ours}")
    return stored


def during_faults(nemesis: Nemesis, tally: Tally) -> int:
    """Increments acknowledged while some fault was held."""
    spans = [(fault.start, fault.end) for fault in nemesis.faults]
    return sum(any(start <= w.at <= end for start, end in spans) for w in tally.acknowledged)


def report(
    seed: int, kind: str, nemesis: Nemesis, tally: Tally, stored: int, healed: float, during: int
) -> str:
    """The fault schedule with the increments acknowledged during each fault."""
    lines = [
        f"lock safety: {kind} x3, seed {seed} (CHAOS_SEED={seed} repeats the schedule), "
        f"healed at {healed:.1f}s",
        f"rounds {tally.rounds}, acknowledged {len(tally.acknowledged)} "
        f"({during} while faults were held), ambiguous {len(tally.ambiguous)}, "
        f"fenced out {tally.fenced} ({tally.stalls} stalled), counter {stored}, "
        f"leases left to the test to revoke {len(tally.unrevoked)}",
        f"faults ({len(nemesis.faults)}):",
    ]
    for fault in nemesis.faults:
        count = sum(fault.start <= write.at <= fault.end for write in tally.acknowledged)
        lines.append(f"  {fault.describe()}  [{count} increments]")
    return "\n".join(lines)
