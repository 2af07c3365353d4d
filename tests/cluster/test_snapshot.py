"""Snapshot save while writes go on, then restore into a new three-member cluster: every
key, revision and lease as they were at the snapshot's revision; a truncated file refused.
Real processes, driven by keyraftctl as an operator would."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.ctl.support import invoke
from tests.support.big_ranges import load_keys
from tests.support.servers import Member, find_leader, keyraft_cluster, start_all

pytestmark = pytest.mark.timeout(180)

LEASE = 4242
EVERYTHING = {"key": "AA==", "range_end": "AA=="}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def post(member: Member, path: str, body: dict) -> dict:
    response = httpx.post(member.client_url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def flag(member: Member, name: str) -> str:
    return member.command[member.command.index(name) + 1]


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[list[Member], list[Member]]]:
    """A running cluster with history, and a new one's members, not yet started."""
    old = keyraft_cluster(tmp_path / "old", 3)
    new = keyraft_cluster(tmp_path / "new", 3, token="restored-cluster")
    for member in (*old, *new):
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        start_all(old)
        yield old, new
    finally:
        for member in (*old, *new):
            member.stop()


BULK_KEYS = 10_000
BULK_LEASES = 10  # each holding 10 keys of the bulk


def write_history(member: Member) -> None:
    """10,000 keys (a hundred of them on ten leases), overwritten and deleted history."""
    load_keys(member.client_url, BULK_KEYS)
    for lease in range(1, BULK_LEASES + 1):
        post(member, "/v3/lease/grant", {"ID": LEASE + lease, "TTL": 600})
        puts = [
            {"request_put": {"key": b64(f"bulk-leased/{lease}/{n}"), "lease": LEASE + lease}}
            for n in range(10)
        ]
        post(member, "/v3/kv/txn", {"success": puts})
    post(member, "/v3/lease/grant", {"ID": LEASE, "TTL": 600})
    for n in range(20):
        post(member, "/v3/kv/put", {"key": b64(f"k{n % 5}"), "value": b64(f"v{n}")})
    post(member, "/v3/kv/put", {"key": b64("leased"), "value": b64("x"), "lease": LEASE})
    post(member, "/v3/kv/deleterange", {"key": b64("k4")})


def test_snapshot_while_writing_restores_into_a_new_cluster(
    tmp_path: Path, clusters: tuple[list[Member], list[Member]]
) -> None:
    old, new = clusters
    leader = find_leader(old)
    follower = next(m for m in old if m is not leader)
    write_history(leader)
    stop, written = threading.Event(), []

    def keep_writing() -> None:
        while not stop.is_set():
            post(leader, "/v3/kv/put", {"key": b64(f"w{len(written)}"), "value": b64("w")})
            written.append(1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        snapshot = str(tmp_path / "snap.db")
        saved = invoke(follower.client_url, "snapshot", "save", snapshot)
        before = len(written)
        while len(written) < before + 5:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert saved.code == 0 and saved.text == f"Snapshot saved at {snapshot}\n", saved
    status = invoke(follower.client_url, "-w", "json", "snapshot", "status", snapshot)
    assert status.code == 0, status
    revision = orjson.loads(status.out)["revision"]
    assert 20 < revision < int(post(leader, "/v3/kv/range", {"key": "AA=="})["header"]["revision"])

    for member in new:
        restored = invoke(
            "http://127.0.0.1:1",
            "snapshot",
            "restore",
            snapshot,
            "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--initial-cluster", flag(member, "--initial-cluster"),
            "--initial-advertise-peer-urls", flag(member, "--initial-advertise-peer-urls"),
            "--initial-cluster-token", flag(member, "--initial-cluster-token"),
        )  # fmt: skip
        assert restored.code == 0, restored
    start_all(new)
    expected = post(follower, "/v3/kv/range", {**EVERYTHING, "revision": revision})
    old_history = post(follower, "/v3/kv/range", {**EVERYTHING, "revision": 10})
    for member in new:
        found = post(member, "/v3/kv/range", EVERYTHING)
        assert found["kvs"] == expected["kvs"]
        assert found["header"]["revision"] == str(revision)
        assert found["header"]["cluster_id"] != expected["header"]["cluster_id"]
        assert (
            post(member, "/v3/kv/range", {**EVERYTHING, "revision": 10})["kvs"]
            == (old_history["kvs"])
        )
        leases = post(member, "/v3/lease/leases", {})["leases"]
        assert sorted(int(item["ID"]) for item in leases) == list(
            range(LEASE, LEASE + BULK_LEASES + 1)
        )
        alive = post(member, "/v3/lease/timetolive", {"ID": LEASE, "keys": True})
        assert alive["keys"] == [b64("leased")] and int(alive["TTL"]) > 0
    # the new cluster takes writes, at the next revision
    answer = post(find_leader(new), "/v3/kv/put", {"key": b64("after"), "value": b64("1")})
    assert answer["header"]["revision"] == str(revision + 1)
    refuses_damaged_copies(Path(snapshot), tmp_path)


def refuses_damaged_copies(snapshot: Path, tmp_path: Path) -> None:
    """status refuses a truncated, a corrupted and a missing file (exit 1), and so does
    restore (the same check), leaving no data dir behind."""
    data = snapshot.read_bytes()
    truncated, corrupted = tmp_path / "truncated.db", tmp_path / "corrupted.db"
    truncated.write_bytes(data[: len(data) // 2])
    corrupted.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
    for bad in (truncated, corrupted, tmp_path / "missing.db"):
        status = invoke("http://127.0.0.1:1", "snapshot", "status", str(bad))
        assert status.code == 1 and "Error:" in status.error, status
    for bad in (truncated,):
        target = tmp_path / "restored"
        restored = invoke(
            "http://127.0.0.1:1", "snapshot", "restore", str(bad), "--data-dir", str(target)
        )
        assert restored.code == 1 and "Error:" in restored.error, restored
        assert not target.exists()
