"""--wal-dir and --force-new-cluster: a member's Raft log elsewhere, and disaster recovery
from a lost quorum by restarting one survivor as its cluster's only member."""

from __future__ import annotations

import base64
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import b64, get_value, wait_for
from tests.support.servers import (
    Member,
    free_port,
    joining_member,
    keyraft_cluster,
    keyraft_member,
    start_all,
)

FAST = ("--heartbeat-interval", "50", "--election-timeout", "500")


def _put(member: Member, key: str, value: str = "v", timeout: float = 15.0) -> bool:
    try:
        answer = member.post("/v3/kv/put", {"key": b64(key), "value": b64(value)}, timeout)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def _keys(member: Member, prefix: str) -> set[str]:
    body = {"key": b64(prefix), "range_end": b64(prefix[:-1] + chr(ord(prefix[-1]) + 1))}
    answer = member.post("/v3/kv/range", {**body, "keys_only": True}).json()
    return {base64.b64decode(kv["key"]).decode() for kv in answer.get("kvs", [])}


def _identity(member: Member) -> tuple[str, str]:
    header = member.post("/v3/cluster/member/list", {}).json()["header"]
    return header["cluster_id"], header["member_id"]


def _member_names(member: Member) -> list[str]:
    members = member.post("/v3/cluster/member/list", {}).json()["members"]
    return sorted(entry.get("name", "") for entry in members)


def _exits(member: Member, timeout: float = 30.0) -> str:
    """Run `member`'s command expecting it to refuse to start; its output."""
    result = subprocess.run(member.command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode != 0, result.stderr
    return result.stdout + result.stderr


def test_a_member_keeps_its_log_in_the_wal_dir_and_restarts_from_it(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal-elsewhere"
    member = keyraft_member(tmp_path, extra=("--wal-dir", str(wal_dir)))
    member.start()
    try:
        for index in range(20):
            assert _put(member, f"k{index:02d}", str(index))
    finally:
        member.stop()
    assert sorted(wal_dir.glob("*.wal")), "no WAL segment in --wal-dir"
    assert not list((member.data_dir / "member" / "wal").glob("*")), "a WAL in the data dir"
    member.start()
    try:
        assert _keys(member, "k") == {f"k{index:02d}" for index in range(20)}
        assert get_value(member, "k07") == "7"
    finally:
        member.stop()

    # The log is elsewhere than this start says: refused (etcd would start a new log).
    without = keyraft_member(tmp_path, name=member.name)
    without.command = [arg for arg in member.command if arg not in ("--wal-dir", str(wal_dir))]
    assert "was this member started with --wal-dir?" in _exits(without)
    default_wal = member.data_dir / "member" / "wal"
    default_wal.mkdir(exist_ok=True)
    for segment in wal_dir.glob("*.wal"):  # as if the log had always been in the data dir
        segment.rename(default_wal / segment.name)
    output = _exits(member)
    assert f"WAL dir {wal_dir} holds no log" in output
    assert f"the data dir's log is in {default_wal}: move its files to {wal_dir}" in output


def _wait_stopped(member: Member) -> None:
    """Wait for `member`'s process to exit; else fail with its log and its stacks."""
    process = member.process
    assert process is not None
    try:
        wait_for(lambda: process.poll() is not None, 60, f"{member.name} to stop")
    except AssertionError as error:
        try:
            url = member.client_url + "/debug/pprof/goroutine?debug=2"
            stacks = httpx.get(url, timeout=10).text
        except httpx.HTTPError as failure:
            stacks = f"(no stacks: {failure})"
        raise AssertionError(f"{error}; log:\n{member.log_tail(40)}\n{stacks}") from None


def _lose_quorum(
    members: list[Member], writes: int, writers: int = 1
) -> tuple[list[str], tuple[str, str]]:
    """Start `members`, write through the first (it answers only once it applied a write,
    so it holds every acknowledged one), kill -9 the others and stop it: the keys
    acknowledged (all of them), and its cluster and member IDs."""
    survivor, *lost = members
    start_all(members)
    identity = _identity(survivor)
    keys = [f"w{index:04d}" for index in range(writes)]
    url = survivor.client_url + "/v3/kv/put"
    with httpx.Client(timeout=15.0) as client, ThreadPoolExecutor(writers) as pool:

        def put(key: str) -> bool:
            return client.post(url, json={"key": b64(key), "value": "dg=="}).status_code == 200

        answers = list(pool.map(put, keys))
    acknowledged = [key for key, ok in zip(keys, answers, strict=True) if ok]
    assert acknowledged == keys
    for member in lost:
        member.kill()
    # Without a quorum nothing commits: this one stays out of the recovered cluster.
    assert not _put(survivor, "unacknowledged", timeout=0.5)
    survivor.stop()
    return acknowledged, identity


def _force_alone(survivor: Member, acknowledged: list[str], identity: tuple[str, str]) -> None:
    """Restart `survivor` with --force-new-cluster: alone, in the same cluster under the
    same ID, with every acknowledged write."""
    survivor.command += ["--force-new-cluster"]
    survivor.start()
    assert _identity(survivor) == identity
    assert _member_names(survivor) == [survivor.name]
    assert _keys(survivor, "w") == set(acknowledged)
    assert get_value(survivor, "unacknowledged") is None
    assert _put(survivor, "after", "1")
    survivor.stop()
    survivor.command.remove("--force-new-cluster")


def test_force_new_cluster_recovers_a_survivor_of_a_lost_quorum(tmp_path: Path) -> None:
    members = keyraft_cluster(tmp_path, 3, FAST)
    survivor = members[0]
    everyone = list(members)
    try:
        acknowledged, identity = _lose_quorum(members, 60)
        _force_alone(survivor, acknowledged, identity)

        # Without the flag it is still its cluster's only member, with everything.
        survivor.start()
        assert _member_names(survivor) == [survivor.name]
        assert _keys(survivor, "w") == set(acknowledged)
        assert _put(survivor, "again", "2")

        # A new member joins the normal way and catches up.
        peer = f"http://127.0.0.1:{free_port()}"
        added = survivor.post("/v3/cluster/member/add", {"peerURLs": [peer]}).json()
        initial = f"{survivor.name}={survivor.peer_url},kr9={peer}"
        assert added["member"]["peerURLs"] == [peer]
        newcomer = joining_member(tmp_path, "kr9", peer, initial, FAST)
        newcomer.serializable_ready = True
        everyone.append(newcomer)
        newcomer.start()
        wait_for(lambda: get_value(newcomer, "again", serializable=True) == "2", 30, "catch-up")
        assert sorted(_keys(newcomer, "w")) == acknowledged
    finally:
        for member in everyone:
            member.stop()


@pytest.mark.long
def test_force_new_cluster_after_log_compaction_and_the_lost_members_returning(
    tmp_path: Path,
) -> None:
    """Scaled up: many concurrent writes with the log compacted behind snapshots (the
    members then come from the snapshot's configuration too); the lost members, started
    again with their old data, are told they were removed and stop instead of forming a
    cluster of their own."""
    members = keyraft_cluster(tmp_path, 3, (*FAST, "--snapshot-count", "100"))
    survivor, *lost = members
    try:
        acknowledged, identity = _lose_quorum(members, 1000, writers=8)
        _force_alone(survivor, acknowledged, identity)
        survivor.start()
        for member in lost:
            member.command += ["--enable-pprof"]  # its stacks, should it not stop
            with open(member.log_path, "ab") as log:
                member.process = subprocess.Popen(
                    member.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        for member in lost:
            _wait_stopped(member)
            assert "permanently removed from the cluster" in member.log_tail(60)
        assert _member_names(survivor) == [survivor.name]
        assert _keys(survivor, "w") == set(acknowledged)
        assert _put(survivor, "again")
    finally:
        for member in members:
            member.stop()


def test_force_new_cluster_on_an_empty_data_dir_starts_a_new_cluster(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path, extra=("--force-new-cluster",))
    member.start()
    try:
        assert _member_names(member) == [member.name]
        assert _put(member, "k")
    finally:
        member.stop()
