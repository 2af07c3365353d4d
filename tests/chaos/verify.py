"""Checks after healing: convergence, no acknowledged write lost, final reads.

Linearizability itself is the checker's job; these checks catch what a per-key register
history cannot show: members that disagree, or a write that was acknowledged at a
revision where the store does not hold it.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from tests.chaos.checker import GET, Operation
from tests.chaos.harness import Cluster, b64
from tests.chaos.history import History
from tests.chaos.workload import read_value
from tests.support.servers import Member

ALL = {"key": "AA==", "range_end": "AA==", "serializable": True}
FINAL_CLIENT = -1


def scan(member: Member) -> tuple[int, list[tuple]] | None:
    """A member's revision and every key it holds, read locally (serializable)."""
    try:
        body = httpx.post(member.client_url + "/v3/kv/range", json=ALL, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    kvs = [
        (
            kv["key"],
            kv.get("value", ""),
            kv.get("create_revision"),
            kv.get("mod_revision"),
            kv.get("version"),
        )
        for kv in body.get("kvs", [])
    ]
    return int(body["header"]["revision"]), kvs


def wait_converged(cluster: Cluster, timeout: float = 60.0) -> list[str]:
    """Poll until every member holds the same revision and data; return the differences.
    Once they agree, their HashKV at that revision (the whole history kept, not only the
    latest values) must agree too."""
    deadline = time.monotonic() + timeout
    while True:
        scans = {member.name: scan(member) for member in cluster.members}
        values = list(scans.values())
        if None not in values and all(item == values[0] for item in values):
            return _hashkv_differences(cluster, values[0][0])  # type: ignore[index]
        if time.monotonic() > deadline:
            return _differences(scans)
        time.sleep(0.2)


def _hashkv_differences(cluster: Cluster, revision: int) -> list[str]:
    """Members whose HashKV at `revision` differs from the first member's."""
    hashes = {}
    for member in cluster.members:
        try:
            answer = httpx.post(
                member.client_url + "/v3/maintenance/hashkv",
                json={"revision": revision},
                timeout=30,
            ).json()
            hashes[member.name] = (answer["hash"], answer.get("compact_revision"))
        except (httpx.HTTPError, ValueError, KeyError) as error:
            return [f"hashkv at revision {revision} failed on {member.name}: {error!r}"]
    reference_name, reference = next(iter(hashes.items()))
    return [
        f"hashkv at revision {revision}: {name} has {found}, {reference_name} {reference}"
        for name, found in hashes.items()
        if found != reference
    ]


def _differences(scans: dict[str, tuple[int, list[tuple]] | None]) -> list[str]:
    problems = []
    reference_name, reference = next(iter(scans.items()))
    for name, item in scans.items():
        if item is None:
            problems.append(f"{name} did not answer a scan")
        elif reference is not None and item != reference:
            ours, theirs = set(item[1]), set(reference[1])
            problems.append(
                f"{name} at revision {item[0]} differs from {reference_name} at "
                f"{reference[0]}: {len(ours - theirs)} kvs only on {name}, "
                f"{len(theirs - ours)} only on {reference_name}"
            )
    return problems


def final_reads(cluster: Cluster, history: History, keys: list[str]) -> list[str]:
    """A linearizable read of every key on every member, added to the history."""
    problems = []
    with httpx.Client(timeout=10) as client:
        for member in cluster.members:
            for key in keys:
                invoke = history.now()
                try:
                    response = client.post(
                        member.client_url + "/v3/kv/range", json={"key": b64(key)}
                    )
                    body = response.json() if response.status_code == 200 else None
                except (httpx.HTTPError, ValueError):
                    body = None
                if body is None:
                    problems.append(f"final read of {key!r} on {member.name} failed")
                    continue
                history.record(
                    Operation(key, GET, invoke, history.now(), result=read_value(body), client=-1)
                )
    return problems


def lost_writes(member: Member, history: History, workers: int = 4) -> list[str]:
    """Every acknowledged write must be in the store at the revision it was given."""

    def check(item: tuple[str, str, int]) -> str | None:
        key, value, revision = item
        body = {"key": b64(key), "revision": revision, "serializable": True}
        try:
            answer = client.post(member.client_url + "/v3/kv/range", json=body).json()
        except (httpx.HTTPError, ValueError) as error:
            return f"read of {key!r} at revision {revision} failed: {error}"
        kvs = answer.get("kvs") or [{}]
        held = kvs[0]
        if read_value(answer) != value or int(held.get("mod_revision", 0)) != revision:
            return (
                f"acknowledged {key!r}={value!r} at revision {revision}, but {member.name} "
                f"holds {read_value(answer)!r} (mod_revision {held.get('mod_revision')})"
            )
        return None

    limits = httpx.Limits(max_connections=workers)
    with (
        httpx.Client(timeout=10, limits=limits) as client,
        concurrent.futures.ThreadPoolExecutor(workers) as pool,
    ):
        return [problem for problem in pool.map(check, history.acknowledged) if problem]
