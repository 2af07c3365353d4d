"""Watches on followers, and across a leader's death."""

from __future__ import annotations

from tests.cluster.conftest import b64, leader_of, post, wait_for
from tests.support.watch_client import WatchLines


def _revisions(lines: list[dict]) -> list[int]:
    return [
        int(e["kv"]["mod_revision"]) for line in lines for e in line["result"].get("events", [])
    ]


def test_a_follower_streams_what_it_applies_and_survives_a_leader_kill(cluster_factory) -> None:
    members = cluster_factory(3)
    leader = leader_of(members)
    follower = next(member for member in members if member is not leader)
    stream = WatchLines(
        follower.client_url, {"create_request": {"key": b64("cw/"), "range_end": b64("cw0")}}
    )
    try:
        assert stream.wait(1)
        revisions = []
        for index in range(20):
            answer = post(leader, "/v3/kv/put", {"key": b64(f"cw/{index}"), "value": b64("v")})
            revisions.append(int(answer.json()["header"]["revision"]))
        wait_for(lambda: len(_revisions(stream.lines)) >= 20, 15, "events before the kill")
        leader.kill()
        survivors = [member for member in members if member is not leader]
        leader_of(survivors)
        for index in range(20, 40):
            answer = post(
                survivors[index % 2],
                "/v3/kv/put",
                {"key": b64(f"cw/{index}"), "value": b64("v")},
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
            revisions.append(int(answer.json()["header"]["revision"]))
        wait_for(lambda: len(_revisions(stream.lines)) >= 40, 20, "events after the kill")
        assert _revisions(stream.lines) == revisions
    finally:
        stream.close()
