"""The operations the fuzzer leaves out (streams, and waits without end), called with
deadlines: each answer has the documented status and content type, and each line or
event matches its documented schema."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import jsonschema
import pytest

from tests.api.test_openapi import DOCUMENT
from tests.support.servers import Member

COMPONENTS = json.loads(DOCUMENT.read_text())["components"]
TIMEOUT = httpx.Timeout(15.0)


def conforms(schema_name: str, value: object) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": COMPONENTS}
    jsonschema.validate(value, schema)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def client(member: Member) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=member.client_url, timeout=TIMEOUT) as opened:
        yield opened


def json_lines(response: httpx.Response, count: int) -> list[dict]:
    assert response.headers["content-type"] == "application/json"
    lines = []
    for line in response.iter_lines():
        if line:
            lines.append(json.loads(line))
        if len(lines) == count:
            break
    return lines


def test_watch_lines_and_refusal(client: httpx.Client) -> None:
    create = {"create_request": {"key": b64("w/"), "range_end": b64("w0"), "prev_kv": True}}
    with client.stream("POST", "/v3/watch", json=create) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        created = json.loads(next(line for line in lines if line))
        client.post("/v3/kv/put", json={"key": b64("w/a"), "value": b64("1")})
        event = json.loads(next(line for line in lines if line))
    for line in (created, event):
        conforms("etcdserverpbWatchStreamResult", line)
    assert created["result"]["created"] is True
    assert event["result"]["events"][0]["kv"]["key"] == b64("w/a")
    refused = client.post("/v3/watch", content=b'{"create_request": 5}')
    assert refused.status_code == 500
    conforms("runtimeError", refused.json())
    assert refused.json()["code"] == 2


def test_keepalive_and_snapshot_lines(client: httpx.Client) -> None:
    lease = client.post("/v3/lease/grant", json={"TTL": 30}).json()["ID"]
    body = json.dumps({"ID": lease}) * 2
    with client.stream("POST", "/v3/lease/keepalive", content=body) as response:
        assert response.status_code == 200
        for line in json_lines(response, 2):
            conforms("etcdserverpbLeaseKeepAliveStreamResult", line)
            assert line["result"]["ID"] == lease
    assert client.post("/v3/lease/keepalive").content == b""  # no request, no answer
    refused = client.post("/v3/lease/keepalive", content=b"[")
    assert refused.status_code == 500
    conforms("runtimeError", refused.json())

    with client.stream("POST", "/v3/maintenance/snapshot", json={}) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    for line in lines:
        conforms("etcdserverpbSnapshotStreamResult", line)
    assert len(base64.b64decode(lines[-1]["result"]["blob"])) == 32  # the SHA-256


def test_lock_campaign_and_observe(client: httpx.Client) -> None:
    lease = client.post("/v3/lease/grant", json={"TTL": 30}).json()["ID"]
    locked = client.post("/v3/lock/lock", json={"name": b64("l"), "lease": lease})
    assert locked.status_code == 200
    conforms("v3lockpbLockResponse", locked.json())
    unlocked = client.post("/v3/lock/unlock", json={"key": locked.json()["key"]})
    conforms("v3lockpbUnlockResponse", unlocked.json())
    campaign = {"name": b64("e"), "lease": lease, "value": b64("one")}
    leading = client.post("/v3/election/campaign", json=campaign)
    assert leading.status_code == 200
    conforms("v3electionpbCampaignResponse", leading.json())
    with client.stream("POST", "/v3/election/observe", json={"name": b64("e")}) as response:
        assert response.status_code == 200
        (line,) = json_lines(response, 1)
    conforms("v3electionpbLeaderStreamResult", line)
    assert line["result"]["kv"]["value"] == b64("one")
    refused = client.post("/v3/election/observe", content=b"{")
    assert refused.status_code == 400
    conforms("runtimeError", refused.json())

    with client.stream("GET", "/v3/election/observe/sse", params={"name": "e"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = next(line for line in response.iter_lines() if line.startswith("data:"))
    conforms("v3electionpbLeaderResponse", json.loads(data.removeprefix("data:")))


def test_watch_sse_events_and_refusals(client: httpx.Client) -> None:
    params = {"key": "s/", "prefix": "true", "prev_kv": "true"}
    with client.stream("GET", "/v3/watch/sse", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = next(line for line in response.iter_lines() if line.startswith("data:"))
    conforms("etcdserverpbWatchResponse", json.loads(data.removeprefix("data:")))
    for bad in (
        {},
        {"key": "s", "filters": "NOPE"},
        {"key_b64": "%%"},
        {"key": "s", "start_revision": "x"},
    ):
        refused = client.get("/v3/watch/sse", params=bad)
        assert refused.status_code == 400, bad
        conforms("runtimeError", refused.json())
