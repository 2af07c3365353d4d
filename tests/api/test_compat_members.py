"""The Cluster service against real etcd 3.4: the same membership requests to a
one-member etcd and a one-member keyraft, answers compared once member IDs, names and
URLs (which legitimately differ) are replaced by what they stand for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.servers import Member, etcd_available, etcd_member, free_port, keyraft_member

FAST = ("--heartbeat-interval", "50", "--election-timeout", "500")


class Side:
    """One server, and what its IDs and URLs stand for."""

    def __init__(self, member: Member) -> None:
        self.member = member
        status = member.post("/v3/maintenance/status", {}).json()
        self.names: dict[str, str] = {status["header"]["member_id"]: "self"}
        listed = member.post("/v3/cluster/member/list", {}).json()["members"]
        for url in listed[0]["peerURLs"] + listed[0]["clientURLs"]:
            self.names[url] = "self-url"
        self.names[listed[0]["name"]] = "self-name"

    def call(self, path: str, body: object) -> tuple[int, object]:
        answer = self.member.post(path, body)  # type: ignore[arg-type]
        decoded = answer.json()
        if "member" in decoded:
            self.names.setdefault(decoded["member"]["ID"], f"added-{len(self.names)}")
        return answer.status_code, self._normal(decoded)

    def _normal(self, value: object) -> object:
        if isinstance(value, dict):
            out = {k: self._normal(v) for k, v in value.items() if k != "header"}
            if "header" in value:
                out["header"] = sorted(value["header"])  # which fields, not their values
            return out
        if isinstance(value, list):
            items = [self._normal(item) for item in value]
            return sorted(items, key=json.dumps)
        return self.names.get(value, value) if isinstance(value, str) else value


@pytest.fixture
def sides(tmp_path: Path):
    if not etcd_available():
        pytest.fail("real etcd is required for compatibility tests: run `make test-deps`")
    etcd = etcd_member(tmp_path, extra=FAST)
    keyraft = keyraft_member(tmp_path, extra=FAST)
    try:
        etcd.start()
        keyraft.start()
        yield Side(etcd), Side(keyraft)
    finally:
        etcd.stop()
        keyraft.stop()


def test_member_requests_answer_as_etcd(sides: tuple[Side, Side]) -> None:
    etcd, keyraft = sides
    learner, other, moved, voter = (f"http://127.0.0.1:{free_port()}" for _ in range(4))

    def same(path: str, body: object) -> object:
        expected, actual = etcd.call(path, body), keyraft.call(path, body)
        assert actual == expected, f"{path} {body}"
        return expected[1]

    added = same("/v3/cluster/member/add", {"peerURLs": [learner], "isLearner": True})
    ids = {side: next(i for i, n in side.names.items() if n.startswith("added")) for side in sides}
    same("/v3/cluster/member/add", {"peerURLs": [other], "isLearner": True})  # one learner only
    # Peer URLs already exists. With the same URLs alone, an add within the same second
    # as the first gets the same derived ID (URLs + seconds) and "member ID already exist",
    # on etcd as on keyraft: a second URL keeps the ID new whatever the clock.
    same("/v3/cluster/member/add", {"peerURLs": [learner, voter]})
    for bad in ({"peerURLs": ["foo"]}, {"peerURLs": [voter + "/x"]}, {}, {"peerURLs": "x"}):
        same("/v3/cluster/member/add", bad)
    assert added["member"]["isLearner"] is True  # type: ignore[index]

    def on_both(path: str, body: dict) -> tuple[object, object]:
        """`body` with "ID": the learner's ID on each side."""
        expected = etcd.call(path, {**body, "ID": ids[etcd]})
        actual = keyraft.call(path, {**body, "ID": ids[keyraft]})
        assert actual == expected, f"{path} {body}"
        return expected, actual

    on_both("/v3/cluster/member/promote", {})  # not in sync with the leader: never started
    for path in ("promote", "remove", "update"):
        same(f"/v3/cluster/member/{path}", {"ID": "12345", "peerURLs": [other]})  # not found
    # etcd 3.4 drops the learner flag of an updated learner from its member list (Raft
    # still has it as a learner); keyraft keeps it, so the list and Raft agree.
    expected = etcd.call("/v3/cluster/member/update", {"ID": ids[etcd], "peerURLs": [moved]})
    actual = keyraft.call("/v3/cluster/member/update", {"ID": ids[keyraft], "peerURLs": [moved]})
    learners = [m for m in actual[1]["members"] if m.pop("isLearner", False)]  # type: ignore[index]
    assert len(learners) == 1 and actual == expected
    for side in sides:  # the member's own ID: not a learner; a URL taken by another
        status, answer = side.call("/v3/cluster/member/promote", {"ID": _self(side)})
        assert (status, answer["error"]) == (412, "etcdserver: can only promote a learner member")
        status, answer = side.call(
            "/v3/cluster/member/update", {"ID": _self(side), "peerURLs": [moved]}
        )
        assert (status, answer["error"]) == (412, "etcdserver: Peer URLs already exists")
    on_both("/v3/cluster/member/remove", {})
    same("/v3/cluster/member/list", {})
    same("/v3/maintenance/transfer-leadership", {"targetID": "12345"})
    same("/v3/maintenance/transfer-leadership", {})
    for side in sides:
        assert side.call("/v3/maintenance/transfer-leadership", {"targetID": _self(side)}) == (
            200,
            {},
        )

    # a voter that never starts: a second voter would lose quorum, a learner is refused
    same("/v3/cluster/member/add", {"peerURLs": [voter]})
    same("/v3/cluster/member/add", {"peerURLs": [other]})
    same("/v3/cluster/member/add", {"peerURLs": [other], "isLearner": True})
    same("/v3/cluster/member/list", {})


def _self(side: Side) -> str:
    return next(i for i, n in side.names.items() if n == "self")
