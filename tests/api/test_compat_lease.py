"""Lease answers compared field by field with real etcd 3.4 (both servers get identical
requests; lease IDs are given explicitly so they match). Each test revokes what it grants,
so lease lists stay comparable across tests."""

from __future__ import annotations

import httpx
import pytest

from tests.support.compare import Pair, b64, normalize

BASE_ID = 7_000_000


def stream(pair: Pair, member, body: bytes) -> tuple[int, str, list[object]]:
    """POST a keepalive body; (status, content type, decoded lines)."""
    with pair.client.stream(
        "POST", member.client_url + "/v3/lease/keepalive", content=body
    ) as response:
        text = b"".join(response.iter_bytes()).decode()
        kind = response.headers.get("content-type", "")
        status = response.status_code
    lines = [normalize(httpx.Response(200, content=line).json()) for line in text.splitlines()]
    return status, kind, lines


def same_stream(pair: Pair, body: bytes) -> list[object]:
    expected = stream(pair, pair.etcd, body)
    actual = stream(pair, pair.keyraft, body)
    if expected != actual:
        pair.diverged = True
        raise AssertionError(f"keepalive {body!r}\n etcd:    {expected}\n keyraft: {actual}")
    return expected[2]


# The remaining TTL is wall time: each server counts from its own grant, and a loaded
# machine can put more than a second between the two clusters' requests.
TTL_SLACK_S = 2


def same_time_to_live(pair: Pair, request: dict, path: str = "/v3/lease/timetolive") -> dict:
    """timetolive of a live lease: etcd lists its keys in Go map order, so compare them as
    sets; the remaining TTLs within `TTL_SLACK_S` of each other."""
    expected, actual = pair.both(path, request)
    ttls = []
    for answer in (expected, actual):
        if "keys" in answer.body:
            answer.body["keys"] = sorted(answer.body["keys"])
        ttls.append(int(answer.body.pop("TTL")))
    assert (expected.status, expected.body) == (actual.status, actual.body)
    assert abs(ttls[0] - ttls[1]) <= TTL_SLACK_S, f"remaining TTL etcd {ttls[0]}, keyraft {ttls[1]}"
    return expected.body


def test_grant_revoke_and_errors(pair: Pair) -> None:
    lease = BASE_ID + 1
    body = pair.same("/v3/lease/grant", {"ID": lease, "TTL": 60})
    assert body["TTL"] == "60"
    pair.same("/v3/lease/grant", {"ID": lease, "TTL": 60})  # already exists: 412
    pair.same("/v3/lease/grant", {"ID": lease + 1, "TTL": 9_000_000_001})  # too large
    pair.same("/v3/lease/grant", {"ID": str(lease + 2), "TTL": 1})  # raised to the minimum
    pair.same("/v3/lease/grant", {"ID": lease + 3, "TTL": -5})
    pair.same("/v3/lease/grant", {"ID": lease + 4, "TTL": "x"})
    pair.same("/v3/lease/grant", b"xx")
    pair.same("/v3/lease/grant", {"ID": lease + 5, "TTL": 9_000_000_000})
    for extra in (2, 3, 5):
        pair.same("/v3/lease/revoke", {"ID": lease + extra})
    pair.same("/v3/lease/revoke", {"ID": lease})
    pair.same("/v3/lease/revoke", {"ID": lease})  # not found: 404
    pair.same("/v3/kv/lease/revoke", {})
    pair.same("/v3/lease/grant", method="GET")


def test_attach_detach_and_revoke_deletes_keys(pair: Pair) -> None:
    lease = BASE_ID + 10
    pair.same("/v3/lease/grant", {"ID": lease, "TTL": 120})
    for name in ("a", "b", "c"):
        pair.same("/v3/kv/put", {"key": b64(f"la/{name}"), "value": b64("v"), "lease": lease})
    pair.same("/v3/kv/put", {"key": b64("la/c"), "value": b64("w")})  # detaches c
    pair.same("/v3/kv/put", {"key": b64("la/d"), "value": b64("v"), "lease": lease + 1})
    txn = {
        "compare": [{"key": b64("la/lock"), "target": "CREATE", "create_revision": 0}],
        "success": [{"request_put": {"key": b64("la/lock"), "value": "", "lease": lease}}],
        "failure": [{"request_range": {"key": b64("la/lock")}}],
    }
    pair.same("/v3/kv/txn", txn)
    pair.same("/v3/kv/txn", txn)
    body = same_time_to_live(pair, {"ID": lease, "keys": True})
    assert body["keys"] == sorted([b64("la/a"), b64("la/b"), b64("la/lock")])
    same_time_to_live(pair, {"ID": lease}, "/v3/kv/lease/timetolive")
    pair.same("/v3/lease/timetolive", {"ID": lease + 99, "keys": True})
    pair.same("/v3/lease/timetolive", {})
    pair.same("/v3/kv/range", {"key": b64("la/"), "range_end": b64("la0")})
    pair.same("/v3/lease/revoke", {"ID": lease})
    pair.same("/v3/kv/range", {"key": b64("la/"), "range_end": b64("la0")})
    pair.same("/v3/kv/put", {"key": b64("la/a"), "value": b64("again")})


def test_leases_list(pair: Pair) -> None:
    ids = [BASE_ID + 20 + index for index in range(3)]
    pair.same("/v3/lease/leases", {})
    for lease in ids:
        pair.same("/v3/lease/grant", {"ID": lease, "TTL": 300})
    body = pair.same("/v3/lease/leases", {})
    assert sorted(int(item["ID"]) for item in body["leases"]) == ids
    pair.same("/v3/kv/lease/leases", b"")
    for lease in ids:
        pair.same("/v3/lease/revoke", {"ID": lease})
    pair.same("/v3/lease/leases", {})


def test_keepalive_stream(pair: Pair) -> None:
    lease = BASE_ID + 30
    pair.same("/v3/lease/grant", {"ID": lease, "TTL": 60})
    lines = same_stream(pair, f'{{"ID":{lease}}}{{"ID":999}}\n{{"ID":"{lease}"}}'.encode())
    assert [line["result"].get("TTL") for line in lines] == ["60", None, "60"]
    same_stream(pair, f'{{"ID":{lease}}} xx'.encode())
    same_stream(pair, b"")
    same_stream(pair, b"xx")
    same_stream(pair, b'{"ID":"abc"}')
    same_stream(pair, b'{"ID":5}[1]')
    pair.same("/v3/lease/revoke", {"ID": lease})


def test_keepalive_framing(pair: Pair) -> None:
    """One line per flushed chunk, JSON content type, as etcd's gateway streams."""
    lease = BASE_ID + 40
    pair.same("/v3/lease/grant", {"ID": lease, "TTL": 60})
    body = "\n".join(f'{{"ID":{lease}}}' for _ in range(3)).encode()
    for member in (pair.etcd, pair.keyraft):
        with pair.client.stream(
            "POST", member.client_url + "/v3/lease/keepalive", content=body
        ) as response:
            assert response.headers["content-type"] == "application/json"
            assert "content-length" not in response.headers
            chunks = [chunk for chunk in response.iter_raw() if chunk]
        text = b"".join(chunks).decode()
        assert text.count("\n") == 3 and text.endswith("\n")
    pair.same("/v3/lease/revoke", {"ID": lease})


@pytest.mark.parametrize("path", ["/v3/lease/timetolive", "/v3/lease/leases"])
def test_lease_reads_answer_json(pair: Pair, path: str) -> None:
    pair.same(path, b"not json")
