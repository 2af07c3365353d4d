"""Maintenance RPCs compared with real etcd 3.4: alarm transitions (what each action
answers, what NOSPACE and CORRUPT refuse) and defragment. Alarms are raised with explicit
member IDs so both clusters answer alike, and every test clears what it raised."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.support.compare import Pair, b64

ALARM = "/v3/maintenance/alarm"


def alarm(action: str, member: str = "0", kind: str = "NONE") -> dict:
    return {"action": action, "memberID": member, "alarm": kind}


@pytest.fixture
def disarmed(pair: Pair) -> Iterator[Pair]:
    try:
        yield pair
    finally:
        for member in (pair.etcd, pair.keyraft):
            listed = pair.send(member, ALARM, {"action": "GET"}).json().get("alarms", [])
            for raised in listed:
                pair.send(member, ALARM, {"action": "DEACTIVATE", **raised})


def same_alarms(pair: Pair, body: dict) -> list:
    """GET: etcd lists alarms in Go map order, so compare them as sets."""
    expected, actual = pair.both(ALARM, body)
    listed = [sorted(answer.body.get("alarms", []), key=repr) for answer in (expected, actual)]  # type: ignore[union-attr]
    assert (expected.status, listed[0]) == (actual.status, listed[1])
    return listed[0]


def test_alarm_actions(disarmed: Pair) -> None:
    pair = disarmed
    assert pair.same(ALARM, {}) == {}
    assert pair.same(ALARM, alarm("ACTIVATE", "5", "NOSPACE")) == {
        "alarms": [{"memberID": "5", "alarm": "NOSPACE"}]
    }
    pair.same(ALARM, alarm("ACTIVATE", "5", "NOSPACE"))  # already raised: answered again
    pair.same(ALARM, alarm("ACTIVATE", "0", "NOSPACE"))  # member 0: the field is omitted
    pair.same(ALARM, alarm("ACTIVATE", "9", "NONE"))  # 3.4.23 raises even NONE
    assert len(same_alarms(pair, {"action": "GET", "memberID": "7"})) == 3
    pair.same(ALARM, alarm("DEACTIVATE", "7", "NOSPACE"))  # not raised: {}
    pair.same(ALARM, alarm("DEACTIVATE", "5", "NOSPACE"))
    pair.same(ALARM, alarm("DEACTIVATE", "9", "NONE"))
    pair.same(ALARM, alarm("DEACTIVATE", "0", "NOSPACE"))
    pair.same(ALARM, {"action": "GET"})


def test_nospace_refuses_growth_and_serves_the_rest(disarmed: Pair) -> None:
    pair = disarmed
    pair.same("/v3/kv/put", {"key": b64("nospace"), "value": b64("1")})
    pair.same(ALARM, alarm("ACTIVATE", "5", "NOSPACE"))
    put = {"key": b64("nospace"), "value": b64("2")}
    pair.same("/v3/kv/put", put)  # 429, etcdserver: mvcc: database space exceeded
    pair.same("/v3/kv/txn", {"success": [{"request_put": put}]})
    pair.same("/v3/lease/grant", {"TTL": 60, "ID": 7_100_000})
    pair.same("/v3/kv/range", {"key": b64("nospace")})
    pair.same("/v3/kv/txn", {"success": [{"request_range": {"key": b64("nospace")}}]})
    pair.same("/v3/kv/txn", {"success": [{"request_delete_range": {"key": b64("none")}}]})
    pair.same("/v3/kv/deleterange", {"key": b64("none")})
    pair.same("/v3/maintenance/defragment", {})
    pair.same(ALARM, alarm("DEACTIVATE", "5", "NOSPACE"))
    pair.same("/v3/kv/put", put)


def test_corrupt_refuses_writes(disarmed: Pair) -> None:
    pair = disarmed
    pair.same(ALARM, alarm("ACTIVATE", "4", "CORRUPT"))
    pair.same("/v3/kv/put", {"key": b64("corrupt"), "value": b64("1")})  # 500, code 15
    pair.same("/v3/lease/grant", {"TTL": 60, "ID": 7_100_001})
    pair.same("/v3/kv/range", {"key": b64("corrupt")})
    pair.same(ALARM, alarm("DEACTIVATE", "4", "CORRUPT"))
    pair.same("/v3/kv/put", {"key": b64("corrupt"), "value": b64("1")})


def snapshot_framing(pair: Pair, member) -> tuple[int, str, list[list[str]]]:
    """(status, content type, each line's result fields), after checking what etcd's
    stream promises: 32 KiB blobs, remaining_bytes counting down what is left after each
    (omitted at 0), and a last 32-byte blob, the SHA-256 of all the others."""
    response = pair.send(member, "/v3/maintenance/snapshot", {})
    lines = [json.loads(line) for line in response.text.splitlines()]
    results = [line["result"] for line in lines]
    blobs = [base64.b64decode(result["blob"]) for result in results]
    data = b"".join(blobs[:-1])
    assert blobs[-1] == hashlib.sha256(data).digest()
    sent = 0
    for result, blob in zip(results[:-1], blobs[:-1], strict=True):
        sent += len(blob)
        assert len(blob) <= 32 * 1024
        assert int(result.get("remaining_bytes", 0)) == len(data) - sent
    shapes = [sorted(result) for result in results]
    return response.status_code, response.headers["content-type"], [shapes[0], shapes[-1]]


def test_snapshot_stream_framing(pair: Pair) -> None:
    for n in range(3):  # more than 32 KiB of history on both
        pair.same("/v3/kv/put", {"key": b64(f"snapshot/{n}"), "value": b64("x" * 20_000)})
    expected = snapshot_framing(pair, pair.etcd)
    actual = snapshot_framing(pair, pair.keyraft)
    assert actual == expected


def test_hash_is_etcds_hash_of_the_whole_backend(pair: Pair) -> None:
    """etcd 3.4's gateway serves Hash at /v3/maintenance/hash (HashKV's annotation names
    the same path): a number, the request's revision ignored, changed by any write."""
    answers = {}
    for member in (pair.etcd, pair.keyraft):
        first = pair.send(member, "/v3/maintenance/hash", {}).json()
        again = pair.send(member, "/v3/maintenance/hash", {"revision": 1}).json()
        pair.send(member, "/v3/kv/put", {"key": b64("hash"), "value": b64("changed")})
        after = pair.send(member, "/v3/maintenance/hash", {}).json()
        assert isinstance(first["hash"], int) and first["hash"] == again["hash"] != after["hash"]
        answers[member.kind] = sorted(first)
    assert answers["keyraft"] == answers["etcd"] == ["hash", "header"]


def test_status_fields_and_alarm_errors(disarmed: Pair) -> None:
    pair = disarmed
    pair.same(ALARM, alarm("ACTIVATE", "5", "NOSPACE"))
    expected, actual = pair.both("/v3/maintenance/status", {})
    assert (expected.status, sorted(expected.body)) == (actual.status, sorted(actual.body))  # type: ignore[arg-type]
    assert expected.body["errors"] == actual.body["errors"] == ["memberID:5 alarm:NOSPACE "]  # type: ignore[index]
    version = pair.send(pair.keyraft, "/version", b"", method="GET").json()["etcdserver"]
    assert actual.body["version"] == version  # type: ignore[index]
