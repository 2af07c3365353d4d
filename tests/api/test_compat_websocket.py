"""The gateway over WebSocket (etcd's grpc-websocket-proxy): the same frames from etcd and
keyraft for a watch (create, events, progress, cancel, two creates in one frame), a
lease keepalive, a unary range, and a bad first request."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.support.compare import Pair, b64, normalize

FRAME_TIMEOUT_S = 5.0


async def _session(url: str, path: str, script: list[tuple[str, int]], put) -> list[object]:
    """Send each frame of `script`, then read as many frames as it says; ("PUT", n) puts
    key "ws" instead. The frames received, parsed, and how the socket ended."""
    received: list[object] = []
    async with websockets.connect(url.replace("http", "ws", 1) + path) as socket:
        for frame, replies in script:
            if frame == "PUT":
                put()
            else:
                await socket.send(frame)
            for _ in range(replies):
                received.append(json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT_S)))
        try:
            extra = await asyncio.wait_for(socket.recv(), 0.5)
            received.append(("more", json.loads(extra)))
        except TimeoutError:
            received.append("open")
        except websockets.ConnectionClosed:
            received.append("closed")
    return received


def _both(pair: Pair, path: str, script: list[tuple[str, int]]) -> None:
    answers = []
    for member in (pair.etcd, pair.keyraft):

        def put(member=member) -> None:
            pair.send(member, "/v3/kv/put", {"key": b64("ws"), "value": b64("v")})

        answers.append(normalize(asyncio.run(_session(member.client_url, path, script, put))))
    expected, actual = answers
    if expected != actual:
        pair.diverged = True
    assert actual == expected


def test_watch_over_websocket(pair: Pair) -> None:
    create = json.dumps({"create_request": {"key": b64("ws")}})
    other = json.dumps({"create_request": {"key": b64("other")}})
    _both(
        pair,
        "/v3/watch",
        [
            (create, 1),
            ("PUT", 1),
            (json.dumps({"progress_request": {}}), 1),
            (json.dumps({"cancel_request": {"watch_id": 0}}), 1),
            (create + other, 2),  # two requests in one frame
        ],
    )


def test_bad_first_request_answers_one_error_frame_then_ends(pair: Pair) -> None:
    _both(pair, "/v3/watch", [("nonsense", 1)])


def test_keepalive_and_unary_over_websocket(pair: Pair) -> None:
    for member in (pair.etcd, pair.keyraft):
        pair.send(member, "/v3/lease/grant", {"TTL": 60, "ID": 4242})
    _both(pair, "/v3/lease/keepalive", [(json.dumps({"ID": 4242}), 1)])
    _both(pair, "/v3/kv/range", [(json.dumps({"key": b64("ws")}), 1)])
