"""Membership in a real cluster of processes: a one-member cluster grows to three (a
learner joins, catches up and is promoted; a voter joins), then loses a follower and
then its leader, all under a steady write load; every acknowledged write is on every
remaining member, and the removed members stop."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx

from tests.cluster.conftest import b64, wait_for
from tests.support.servers import (
    Member,
    free_port,
    initial_cluster,
    joining_member,
    keyraft_member,
    start_all,
)

FAST = ("--heartbeat-interval", "50", "--election-timeout", "500")


def _wait_stopped(member: Member, what: str) -> None:
    """Wait for `member`'s process to exit; the failure shows the end of its log."""
    process = member.process
    assert process is not None
    try:
        wait_for(lambda: process.poll() is not None, 15, what)
    except AssertionError as error:
        raise AssertionError(f"{error}; its log ends:\n{member.log_tail(60)}") from None


class Writer(threading.Thread):
    """Puts one key after another through whichever member answers; records the acked."""

    def __init__(self, members: list[Member]) -> None:
        super().__init__(daemon=True)
        self.members = members
        self.acknowledged: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            index = 0
            while not self.done.is_set():
                key = f"w{index:05d}"
                for member in list(self.members):
                    try:
                        answer = client.post(
                            member.client_url + "/v3/kv/put",
                            json={"key": b64(key), "value": "eA=="},
                        )
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 200:
                        self.acknowledged.append(key)
                        break
                index += 1
                self.done.wait(0.01)


def _call(
    member: Member, path: str, body: dict, until_not: str = "", headers: dict | None = None
) -> dict:
    """POST, retrying while the answer is the error `until_not` (etcd's checks that pass
    once a member caught up or has been connected long enough)."""

    def attempt() -> list[dict] | None:
        answer = member.post(path, body, headers=headers)
        if until_not and until_not in answer.text:
            return None
        assert answer.status_code == 200, answer.text
        return [answer.json()]  # truthy even when the answer is {}

    return wait_for(attempt, 30, f"{path} {body}")[0]  # type: ignore[index]


def _initial_cluster(answer: dict, name: str) -> str:
    return initial_cluster(answer["members"], answer["member"]["ID"], name)


def _status(member: Member) -> dict:
    return member.post("/v3/maintenance/status", {}, timeout=3).json()


def _leader(members: list[Member]) -> Member:
    def leading() -> Member | None:
        for member in members:
            status = _status(member)
            if status.get("leader") == status["header"]["member_id"]:
                return member
        return None

    return wait_for(leading, 10, "a leader")  # type: ignore[return-value]


def _keys(member: Member) -> set[str]:
    body = {"key": b64("w"), "range_end": b64("x"), "serializable": True, "keys_only": True}
    kvs = member.post("/v3/kv/range", body).json().get("kvs", [])
    return {base64.b64decode(kv["key"]).decode() for kv in kvs}


def test_grow_to_three_then_remove_a_follower_and_the_leader(tmp_path: Path) -> None:
    first = keyraft_member(tmp_path, "kr1", FAST)
    members = [first]
    everyone = [first]  # to stop, whatever happens
    writer = Writer(members)
    try:
        first.start()
        writer.start()
        wait_for(lambda: len(writer.acknowledged) > 5, 10, "writes")

        # a learner joins, catches up by snapshot and log, and is promoted
        peer2 = f"http://127.0.0.1:{free_port()}"
        added = _call(first, "/v3/cluster/member/add", {"peerURLs": [peer2], "isLearner": True})
        assert added["member"]["isLearner"] is True
        learner_id = added["member"]["ID"]
        second = joining_member(tmp_path, "kr2", peer2, _initial_cluster(added, "kr2"), FAST)
        second.serializable_ready = True
        members.append(second)
        everyone.append(second)
        second.start()
        refused = second.post("/v3/kv/put", {"key": b64("l"), "value": "eA=="})
        assert refused.status_code == 503
        assert refused.json()["error"] == "etcdserver: rpc not supported for learner"
        watch = second.post("/v3/watch", {"create_request": {"key": b64("w")}})
        assert watch.json()["error"]["message"] == "etcdserver: rpc not supported for learner"
        promoted = _call(
            first,
            "/v3/cluster/member/promote",
            {"ID": learner_id},
            until_not="in sync with leader",
        )
        assert not any(m.get("isLearner") for m in promoted["members"])
        second.stop()  # a joined member restarts with the identity its data dir holds
        second.serializable_ready = False
        second.start()

        # a voter joins (etcd's health check wants every voter connected for 5 s)
        peer3 = f"http://127.0.0.1:{free_port()}"
        added = _call(first, "/v3/cluster/member/add", {"peerURLs": [peer3]}, "unhealthy")
        third = joining_member(tmp_path, "kr3", peer3, _initial_cluster(added, "kr3"), FAST)
        members.append(third)
        everyone.append(third)
        third.start()
        listed = first.post("/v3/cluster/member/list", {}).json()["members"]
        assert sorted(m.get("name") for m in listed) == ["kr1", "kr2", "kr3"]

        # a follower asks the leader whether a learner may be promoted
        follower = next(m for m in members if m is not _leader(members))
        refused = follower.post("/v3/cluster/member/promote", {"ID": learner_id})
        assert (refused.status_code, refused.json()["error"]) == (
            412,
            "etcdserver: can only promote a learner member",
        )

        # the membership survives a restart of every member
        for member in members:
            member.stop()
        start_all(members)
        for member in members:
            again = member.post("/v3/cluster/member/list", {}).json()["members"]
            assert sorted((m["ID"], m["name"]) for m in again) == sorted(
                (m["ID"], m["name"]) for m in listed
            )

        # leadership moves on request, then a follower and the leader are removed
        by_id = {_status(m)["header"]["member_id"]: m for m in members}
        old_leader = _leader(members)
        target = next(i for i, m in by_id.items() if m is not old_leader)
        assert _call(old_leader, "/v3/maintenance/transfer-leadership", {"targetID": target}) == {}
        assert _status(old_leader)["leader"] == target
        leader_id = target
        leader = by_id[leader_id]
        follower_id = next(i for i in by_id if i != leader_id)
        _call(leader, "/v3/cluster/member/remove", {"ID": follower_id}, "unhealthy")
        gone = by_id[follower_id]
        members.remove(gone)
        _wait_stopped(gone, "the removed follower to stop")
        _call(leader, "/v3/cluster/member/remove", {"ID": leader_id}, "unhealthy")
        members.remove(leader)
        _wait_stopped(leader, "the removed leader to stop")
        (last,) = members
        wait_for(lambda: _status(last)["leader"] == _status(last)["header"]["member_id"], 10, "")
        count = len(writer.acknowledged)
        wait_for(lambda: len(writer.acknowledged) > count + 5, 10, "writes after the removals")
        writer.done.set()
        writer.join()
        assert set(writer.acknowledged) <= _keys(last)
        listed = last.post("/v3/cluster/member/list", {}).json()["members"]
        assert [m["ID"] for m in listed] == [_status(last)["header"]["member_id"]]

        # a removed member never comes back with its old data
        gone.stop()
        try:
            gone.start(timeout=15)
            raise AssertionError("a removed member started again")
        except RuntimeError as error:
            assert "permanently removed" in str(error)
    finally:
        writer.done.set()
        for member in everyone:
            member.stop()


def test_a_follower_asks_the_leader_to_promote_with_auth_on(cluster_factory) -> None:
    """Only the leader knows whether a learner caught up; a follower asks it over the
    peer port, so a client's token is checked once, by the member it reached."""
    members = cluster_factory(3, FAST)
    leader = _leader(members)
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "pw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/enable", {}),
    ):
        assert leader.post(path, body).status_code == 200, path
    token = leader.post("/v3/auth/authenticate", {"name": "root", "password": "pw"}).json()["token"]
    auth = {"Authorization": token}
    learner_url = f"http://127.0.0.1:{free_port()}"
    added = _call(
        leader,
        "/v3/cluster/member/add",
        {"peerURLs": [learner_url], "isLearner": True},
        "unhealthy",
        auth,
    )
    learner_id = added["member"]["ID"]
    follower = next(m for m in members if m is not leader)

    # The learner never started: the leader's own answer comes back through the follower.
    refused = follower.post("/v3/cluster/member/promote", {"ID": learner_id}, headers=auth)
    assert (refused.status_code, refused.json()["error"]) == (
        412,
        "etcdserver: can only promote a learner member which is in sync with leader",
    )
    anonymous = follower.post("/v3/cluster/member/promote", {"ID": learner_id})
    assert anonymous.json()["error"] == "etcdserver: user name is empty"
    # An unknown member is the leader's answer too.
    unknown = follower.post("/v3/cluster/member/promote", {"ID": "12345"}, headers=auth)
    assert unknown.json()["error"] == "etcdserver: member not found"
