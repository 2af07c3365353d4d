"""The unary dispatcher keeps the event loop free while it scans a huge malformed body."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from keyraft.app.gateway import DECODE_ON_LOOP_BYTES, RPCS, dispatch


def test_a_huge_malformed_body_is_refused_without_holding_the_event_loop() -> None:
    # 4 MB of an unfinished array: orjson refuses it, and finding Go's error costs the
    # scanner ~0.3 s (it was seconds), in a worker thread that gives the GIL back often.
    body = b'{"key":"Zm9v","x":[' + b"1," * (2 * 1024 * 1024)
    assert len(body) > DECODE_ON_LOOP_BYTES
    server = SimpleNamespace(config=SimpleNamespace(grpc_limit_bytes=64 * 1024 * 1024))

    async def scenario() -> tuple[int, bytes, int]:
        answer = asyncio.ensure_future(dispatch(server, RPCS["/v3/kv/range"], body))  # type: ignore[arg-type]
        turns = 0
        while not answer.done():  # the loop keeps turning while the body is scanned
            turns += 1
            await asyncio.sleep(0.001)
        status, payload = answer.result()
        return status, payload, turns

    status, payload, turns = asyncio.run(scenario())
    assert status == 400
    assert json.loads(payload) == {
        "error": "unexpected EOF",
        "message": "unexpected EOF",
        "code": 3,
    }
    assert turns > 10
