"""The etcd3gw Python client, unchanged, against keyraft: KV calls and watches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from etcd3gw.client import Etcd3Client

from tests.support.servers import keyraft_member


@pytest.fixture
def client(tmp_path: Path):
    member = keyraft_member(tmp_path)
    member.start()
    host, port = member.client_url.removeprefix("http://").split(":")
    try:
        yield Etcd3Client(host=host, port=int(port))
    finally:
        member.stop()


def test_kv_calls(client: Etcd3Client) -> None:
    assert client.put("foo", "bar")
    assert client.get("foo") == [b"bar"]
    client.put("dir/a", "1")
    client.put("dir/b", "2")
    assert sorted(value for value, _meta in client.get_prefix("dir/")) == [b"1", b"2"]
    assert client.delete("foo")
    assert client.get("foo") == []
    assert client.status()["leader"]
    assert len(client.members()) == 1


def test_watch_receives_events_and_cancels(client: Etcd3Client) -> None:
    events, cancel = client.watch("watched")
    try:
        deadline = time.monotonic() + 10
        client.put("watched", "1")
        client.put("watched", "2")
        client.delete("watched")
        received = []
        for event in events:
            received.append(event)
            if len(received) == 3 or time.monotonic() > deadline:
                break
    finally:
        cancel()
    assert [event["kv"].get("value") for event in received] == [b"1", b"2", None]
    assert [event.get("type", "PUT") for event in received] == ["PUT", "PUT", "DELETE"]


def test_watch_prefix_from_a_past_revision(client: Etcd3Client) -> None:
    first = client.put("p/a", "1")
    del first
    revision = int(client.status()["header"]["revision"])
    client.put("p/b", "2")
    events, cancel = client.watch_prefix("p/", start_revision=revision)
    try:
        received = [next(events), next(events)]
    finally:
        cancel()
    assert [event["kv"]["key"] for event in received] == [b"p/a", b"p/b"]
