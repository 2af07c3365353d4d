"""The keepalive stream handler with a fake server: request objects split anywhere across
body chunks, one flushed line per answer, etcd's errors before and after the first line."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from keyraft.app.routes.lease import serve_keepalive
from keyraft.app.server import errors
from keyraft.app.server.requests import LeaseKeepAlive


class FakeServer:
    config = SimpleNamespace(grpc_limit_bytes=2 * 1024 * 1024)
    cluster_id = 1
    member = SimpleNamespace(id=2)
    term = 3

    async def lease_keep_alive(self, request: LeaseKeepAlive, forwarded: bool = False) -> dict:
        if request.lease_id == 13:
            raise errors.NoLeader
        return {"header": {"revision": 1}, "ID": request.lease_id, "TTL": 60}


def run(chunks: list[bytes]) -> tuple[int, list[bytes]]:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(serve_keepalive(FakeServer(), {"headers": []}, receive, send))  # type: ignore[arg-type]
    status = sent[0]["status"]
    return status, [m["body"] for m in sent[1:] if m["body"]]


def test_objects_split_across_chunks_are_answered_in_order_one_line_each() -> None:
    status, bodies = run([b'{"ID":1}{"I', b'D":"2"}\n', b'  {"ID":3}'])
    assert status == 200
    assert [json.loads(body)["result"]["ID"] for body in bodies] == ["1", "2", "3"]
    assert all(body.endswith(b"\n") and body.count(b"\n") == 1 for body in bodies)


def test_a_bad_first_object_is_refused_like_a_unary_call() -> None:
    status, bodies = run([b"xx"])
    assert status == 500
    assert json.loads(bodies[0])["code"] == 2


def test_a_bad_later_object_ends_the_stream_quietly() -> None:
    status, bodies = run([b'{"ID":1} [1]'])
    assert (status, len(bodies)) == (200, 1)


def test_a_server_error_is_the_gateway_stream_error_chunk() -> None:
    status, bodies = run([b'{"ID":1}{"ID":13}{"ID":2}'])
    assert status == 200
    assert json.loads(bodies[1]) == {
        "error": {
            "grpc_code": 14,
            "http_code": 503,
            "message": "etcdserver: no leader",
            "http_status": "Service Unavailable",
        }
    }
    assert len(bodies) == 2
    status, bodies = run([b'{"ID":13}'])
    assert status == 503
