"""Long answers are encoded in steps, byte for byte as in one go."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from keyraft.app import codec
from keyraft.app.server.results import KeyValue
from tests.support.loop_turns import with_loop_turns


def _server() -> SimpleNamespace:
    return SimpleNamespace(
        cluster_id=11,
        member=SimpleNamespace(id=22),
        term=3,
        stepped_reads=SimpleNamespace(slots=asyncio.Semaphore(1)),
    )


def _kvs(count: int) -> list[KeyValue]:
    return [KeyValue(b"k%d" % i, i + 1, i + 2, i % 3, b"v" * (i % 4), i % 2) for i in range(count)]


def _answers() -> list[dict]:
    many = codec.ENCODE_STEP_KVS * 2 + 5
    return [
        {"header": {"revision": 9}, "kvs": _kvs(many), "more": False, "count": many},
        {"header": {"revision": 9}, "kvs": _kvs(3), "more": True, "count": 3},
        {
            "header": {"revision": 9},
            "succeeded": True,
            "responses": [
                {"response_range": {"header": {}, "kvs": _kvs(many), "count": many}},
                {"response_put": {"header": {}}},
            ],
        },
        {"header": {"revision": 9}, "deleted": many, "prev_kvs": _kvs(many)},
    ]


def test_stepped_encoding_is_byte_identical() -> None:
    server = _server()
    expected = [codec.encode_response(server, answer) for answer in _answers()]

    async def stepped() -> list[bytes]:
        return [await codec.encode_response_stepped(server, answer) for answer in _answers()]

    encoded, turns = asyncio.run(with_loop_turns(stepped()))
    assert encoded == expected
    assert turns >= 6  # two pauses for each of the three long lists
