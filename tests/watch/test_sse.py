"""Watching with server-sent events: framing, and resuming with Last-Event-ID."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support.compare import b64
from tests.support.servers import keyraft_member


@pytest.fixture
def member(tmp_path: Path):
    member = keyraft_member(tmp_path)
    member.start()
    try:
        yield member
    finally:
        member.stop()


def read_sse(response: httpx.Response, wanted: int, timeout: float = 10.0) -> list[dict]:
    """Parse SSE messages (id, event, data) until `wanted` data messages arrived."""
    messages: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line == "":
            if current:
                messages.append(current)
                current = {}
            if (
                sum(1 for m in messages if m.get("event") is None) >= wanted
                or time.monotonic() > deadline
            ):
                break
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        current[field] = value.strip()
    return messages


def put(member, key: str, value: str) -> int:
    answer = httpx.post(
        member.client_url + "/v3/kv/put", json={"key": b64(key), "value": b64(value)}
    )
    return int(answer.json()["header"]["revision"])


def test_sse_resumes_after_a_disconnect_without_gap_or_duplicate(member) -> None:
    first = put(member, "sse/a", "1")
    url = member.client_url + "/v3/watch/sse"
    with httpx.Client(timeout=httpx.Timeout(10, read=10)) as client:
        with client.stream(
            "GET", url, params={"key": "sse/", "prefix": "true", "start_revision": first}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            put(member, "sse/b", "2")
            messages = read_sse(response, 2)
        assert messages[0]["event"] == "created"
        data = [m for m in messages if m.get("event") is None]
        assert [int(m["id"]) for m in data] == [first, first + 1]
        last_id = data[-1]["id"]
        # Changes made while disconnected must arrive on resume, once.
        for value in ("3", "4"):
            put(member, "sse/c", value)
        with client.stream(
            "GET", url, params={"key": "sse/", "prefix": "true"}, headers={"Last-Event-ID": last_id}
        ) as response:
            resumed = [m for m in read_sse(response, 2) if m.get("event") is None]
    assert [int(m["id"]) for m in resumed] == [first + 2, first + 3]
    values = [json.loads(m["data"])["events"][0]["kv"]["value"] for m in resumed]
    assert values == [b64("3"), b64("4")]


def test_a_watch_from_now_resumes_from_its_start_before_any_change(member) -> None:
    """The `created` event of a watch without a start revision carries the revision it
    starts after, so changes made during a reconnect before any event are not lost."""
    before = put(member, "other", "x")
    url = member.client_url + "/v3/watch/sse"
    params = {"key": "now/", "prefix": "true"}
    with httpx.Client(timeout=httpx.Timeout(10, read=10)) as client:
        with client.stream("GET", url, params=params) as response:
            (created,) = read_sse(response, 0)
        assert created["event"] == "created" and int(created["id"]) == before
        missed = [put(member, "now/a", "1"), put(member, "now/b", "2")]
        with client.stream(
            "GET", url, params=params, headers={"Last-Event-ID": created["id"]}
        ) as response:
            messages = read_sse(response, 2)
    assert "id" not in messages[0]  # a resumed watch's start is the client's to keep
    assert [int(m["id"]) for m in messages if m.get("event") is None] == missed


def test_sse_plain_and_base64_keys_and_bad_input(member) -> None:
    url = member.client_url + "/v3/watch/sse"
    assert httpx.get(url, params={"key_b64": "!!"}).status_code == 400
    assert httpx.get(url, params={}).json()["message"] == "etcdserver: key is not provided"
    assert httpx.get(url, params={"key": "x", "filters": "NOPE"}).status_code == 400
    revision = put(member, "k", "v")
    with httpx.stream(
        "GET", url, params={"key_b64": b64("k"), "start_revision": revision}, timeout=10
    ) as response:
        messages = [m for m in read_sse(response, 1) if m.get("event") is None]
    assert json.loads(messages[0]["data"])["events"][0]["kv"]["key"] == b64("k")
