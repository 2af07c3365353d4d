"""Watch streams compared message by message with real etcd 3.4."""

from __future__ import annotations

import pytest

from tests.support.compare import Pair, b64, normalize
from tests.support.servers import etcd_member, keyraft_member, started
from tests.support.watch_client import WatchLines


def per_watch(lines: list[dict]) -> dict[str, list[dict]]:
    """A stream's messages grouped by watch id, each group in arrival order.

    etcd orders the messages of one watch, but not those of different watches on one
    stream: its unsynced watchers live in a Go map, so which catches up first varies.
    """
    groups: dict[str, list[dict]] = {}
    for line in lines:
        watch_id = line.get("result", {}).get("watch_id", "0")
        groups.setdefault(watch_id, []).append(line)
    return groups


def watch_both(pair: Pair, body: bytes | dict, count: int) -> None:
    streams = [WatchLines(member.client_url, body) for member in (pair.etcd, pair.keyraft)]
    try:
        for stream in streams:
            stream.wait(count)
        expected, actual = (per_watch(stream.settle()) for stream in streams)
        if expected != actual or streams[0].status != streams[1].status:
            pair.diverged = True
        assert streams[0].status == streams[1].status
        assert sum(map(len, expected.values())) >= count
        assert actual == expected, f"{body!r}"
    finally:
        for stream in streams:
            stream.close()


def test_history_prev_kv_filters_and_ids(pair: Pair) -> None:
    first = pair.same("/v3/kv/put", {"key": b64("w/a"), "value": b64("1")})
    start = int(first["header"]["revision"])
    pair.same("/v3/kv/put", {"key": b64("w/a"), "value": b64("2")})
    pair.same("/v3/kv/put", {"key": b64("w/b"), "value": b64("3")})
    pair.same("/v3/kv/deleterange", {"key": b64("w/a")})
    pair.same(
        "/v3/kv/txn",
        {
            "success": [
                {"request_put": {"key": b64("w/a"), "value": b64("4")}},
                {"request_put": {"key": b64("w/b"), "value": b64("5")}},
            ]
        },
    )
    end = b64("w0")
    watch_both(
        pair,
        {
            "create_request": {
                "key": b64("w/"),
                "range_end": end,
                "start_revision": start,
                "prev_kv": True,
            }
        },
        2,
    )
    watch_both(
        pair,
        {
            "create_request": {
                "key": b64("w/a"),
                "start_revision": start,
                "filters": ["NOPUT"],
                "watch_id": 7,
            }
        },
        2,
    )
    watch_both(
        pair,
        {
            "create_request": {
                "key": b64("w/"),
                "range_end": end,
                "start_revision": start,
                "filters": ["NODELETE"],
            }
        },
        2,
    )
    watch_both(
        pair, {"createRequest": {"key": b64("w/b"), "startRevision": str(start), "prevKv": True}}, 2
    )
    two = (
        b'{"create_request":{"key":"'
        + b64("w/a").encode()
        + b'","start_revision":'
        + str(start + 3).encode()
        + b'}}{"create_request":{"key":"'
        + b64("w/b").encode()
        + b'","start_revision":'
        + str(start + 3).encode()
        + b'}}{"progress_request":{}}'
    )
    watch_both(pair, two, 3)
    duplicate = b'{"create_request":{"key":"YQ==","watch_id":3}}{"create_request":{"key":"YQ==","watch_id":3}}'
    watch_both(pair, duplicate, 2)
    watch_both(pair, b'{"create_request":{"key":"YQ=="}}{"cancel_request":{"watch_id":0}}', 2)


def test_live_events_arrive_as_they_happen(pair: Pair) -> None:
    for member in (pair.etcd, pair.keyraft):
        stream = WatchLines(
            member.client_url,
            {"create_request": {"key": b64("live/"), "range_end": b64("live0"), "prev_kv": True}},
        )
        try:
            assert stream.wait(1)
            pair.send(member, "/v3/kv/put", {"key": b64("live/x"), "value": b64("1")})
            pair.send(member, "/v3/kv/put", {"key": b64("live/x"), "value": b64("2")})
            pair.send(
                member, "/v3/kv/deleterange", {"key": b64("live/"), "range_end": b64("live0")}
            )
            lines = stream.wait(4)
            assert len(lines) == 4
            member.last_live = lines  # type: ignore[attr-defined]
        finally:
            stream.close()
    assert pair.etcd.last_live == pair.keyraft.last_live  # type: ignore[attr-defined]


def test_compacted_start_and_negative_start(pair: Pair) -> None:
    first = pair.same("/v3/kv/put", {"key": b64("wc/a"), "value": b64("1")})
    revision = int(first["header"]["revision"])
    pair.same("/v3/kv/put", {"key": b64("wc/a"), "value": b64("2")})
    pair.same("/v3/kv/compaction", {"revision": revision + 1})
    watch_both(pair, {"create_request": {"key": b64("wc/a"), "start_revision": revision}}, 2)
    watch_both(pair, {"create_request": {"key": b64("wc/a"), "start_revision": revision + 1}}, 2)


@pytest.mark.parametrize(
    "body",
    [
        b'{"create_request":{"key":"!!"}}',
        b'{"create_request":{"key":"YQ==","filters":["BAD"]}}',
        b"garbage",
        b'{"create_request":{"key":"YQ==","start_revision":"x"}}',
        b'{"create_request":{"key":"YQ==","start_revision":1000000}}',
        b'{"create_request":{"key":"YQ=="}}{"bad',
    ],
)
def test_bad_watch_requests(pair: Pair, body: bytes) -> None:
    watch_both(pair, body, 1)


def test_fragmented_responses_split_where_etcd_splits_them(pair: Pair) -> None:
    """Three 1 MB values: catching up, etcd answers one 3 MB message, or with `fragment`
    two (two events marked `fragment`, then the last one), cut at its request limit plus
    gRPC's overhead."""
    value = b64(b"x" * 1_000_000)
    revisions = []
    for key in ("frag/a", "frag/b", "frag/c"):
        answers = [
            pair.send(member, "/v3/kv/put", {"key": b64(key), "value": value})
            for member in (pair.etcd, pair.keyraft)
        ]
        revisions.append(int(answers[0].json()["header"]["revision"]))
    for fragment in (True, False):
        create = {
            "key": b64("frag/"),
            "range_end": b64("frag0"),
            "start_revision": revisions[0],
            "fragment": fragment,
        }
        watch_both(pair, {"create_request": create}, 3 if fragment else 2)


def test_progress_notify_interval_is_etcds_flag(tmp_path_factory: pytest.TempPathFactory) -> None:
    """--experimental-watch-progress-notify-interval: an idle watch created with
    progress_notify gets an empty response that often, from etcd and keyraft alike."""
    flags = ("--experimental-watch-progress-notify-interval", "300ms")
    root = tmp_path_factory.mktemp("progress")
    members = [etcd_member(root, extra=flags), keyraft_member(root, extra=flags)]
    body = {"create_request": {"key": b64("idle"), "progress_notify": True}}
    with started(members):
        answers = []
        for member in members:
            stream = WatchLines(member.client_url, body)
            try:
                answers.append(normalize(stream.wait(3, timeout=10)[:3]))
            finally:
                stream.close()
    expected, actual = answers
    assert actual == expected
    assert expected[1] == expected[2] and "events" not in expected[1]["result"]
