"""--wal-dir and --force-new-cluster: a member's Raft log elsewhere, and disaster recovery
from a lost quorum by restarting one survivor as its cluster's only member."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx

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


def test_force_new_cluster_recovers_a_survivor_of_a_lost_quorum(tmp_path: Path) -> None:
    members = keyraft_cluster(tmp_path, 3, FAST)
    survivor, *lost = members
    everyone = list(members)
    try:
        start_all(members)
        # Every write goes through the survivor, which answers only once it applied it.
        acknowledged = [f"w{index:03d}" for index in range(60) if _put(survivor, f"w{index:03d}")]
        assert len(acknowledged) == 60
        for member in lost:
            member.kill()
        # Without a quorum nothing commits: this one stays out of the recovered cluster.
        assert not _put(survivor, "unacknowledged", timeout=0.5)
        survivor.stop()

        survivor.command += ["--force-new-cluster"]
        survivor.start()
        assert _member_names(survivor) == [survivor.name]
        assert _keys(survivor, "w") == set(acknowledged)
        assert get_value(survivor, "unacknowledged") is None
        assert _put(survivor, "after", "1")
        survivor.stop()

        # Without the flag it is still its cluster's only member, with everything.
        survivor.command.remove("--force-new-cluster")
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


def test_force_new_cluster_on_an_empty_data_dir_starts_a_new_cluster(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path, extra=("--force-new-cluster",))
    member.start()
    try:
        assert _member_names(member) == [member.name]
        assert _put(member, "k")
    finally:
        member.stop()
