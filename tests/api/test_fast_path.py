"""The lean ASGI fast path and the FastAPI routes answer byte for byte the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from keyraft.app.config import ServerConfig
from keyraft.app.factory import create_app
from tests.support.compare import b64

REQUESTS = [
    ("/v3/kv/put", b'{"key":"' + b64("a").encode() + b'","value":"' + b64("1").encode() + b'"}'),
    (
        "/v3/kv/put",
        b'{"key":"' + b64("a").encode() + b'","value":"' + b64("2").encode() + b'","prev_kv":true}',
    ),
    ("/v3/kv/range", b'{"key":"' + b64("a").encode() + b'"}'),
    ("/v3/kv/range", b'{"key":"AA==","range_end":"AA==","sort_order":"DESCEND"}'),
    (
        "/v3/kv/txn",
        b'{"compare":[{"key":"YQ==","target":"VERSION","result":"GREATER","version":1}],"success":[{"request_range":{"key":"YQ=="}}]}',
    ),
    ("/v3/kv/deleterange", b'{"key":"YQ==","prev_kv":true}'),
    ("/v3/kv/compaction", b'{"revision":2}'),
    ("/v3/kv/range", b'{"key":"YQ==","revision":1}'),
    ("/v3/kv/range", b'{"key":"!"}'),
    ("/v3/kv/range", b"notjson"),
    ("/v3beta/kv/range", b'{"key":"YQ=="}'),
    ("/v3/maintenance/alarm", b"{}"),
    ("/v3/cluster/member/list", b"{}"),
    ("/v3/lease/grant", b'{"ID":42,"TTL":600}'),
    ("/v3/lease/grant", b'{"ID":42,"TTL":600}'),
    ("/v3/kv/put", b'{"key":"YQ==","lease":42}'),
    ("/v3/lease/timetolive", b'{"ID":42,"keys":true}'),
    ("/v3/kv/lease/leases", b"{}"),
    ("/v3/lease/keepalive", b'{"ID":42}{"ID":43}'),
    ("/v3/lease/revoke", b'{"ID":42}'),
    ("/v3/kv/lease/revoke", b'{"ID":42}'),
    ("/v3/lease/grant", b'{"ID":44,"TTL":600}'),
    ("/v3/lock/lock", b'{"name":"bA==","lease":44}'),
    ("/v3/lock/unlock", b'{"key":"bC8yYw=="}'),
    ("/v3/lock/unlock", b"{}"),
    ("/v3/election/leader", b'{"name":"ZQ=="}'),
    ("/v3/election/campaign", b'{"name":"ZQ==","lease":44,"value":"dg=="}'),
    ("/v3/election/leader", b'{"name":"ZQ=="}'),
    ("/v3/election/proclaim", b'{"leader":{"name":"ZQ==","key":"ZS8yYw==","rev":1,"lease":44}}'),
    ("/v3/election/resign", b'{"leader":{"name":"ZQ==","key":"ZS8yYw==","rev":1,"lease":44}}'),
    ("/v3/lease/revoke", b'{"ID":44}'),
    ("/v3/auth/user/add", b'{"name":"root","password":"pw"}'),
    ("/v3/auth/user/grant", b'{"user":"root","role":"root"}'),
    ("/v3/auth/role/add", b'{"name":"r"}'),
    ("/v3/auth/role/grant", b'{"name":"r","perm":{"permType":"WRITE","key":"YQ=="}}'),
    ("/v3/auth/role/get", b'{"role":"r"}'),
    ("/v3/auth/user/list", b"{}"),
    ("/v3/auth/enable", b"{}"),
    ("/v3/auth/status", b"{}"),
    ("/v3/kv/range", b'{"key":"YQ=="}'),
    ("/v3/auth/disable", b"{}"),
]


async def _answers(directory: Path, fast_path: bool) -> list[tuple[int, dict, bytes]]:
    front, server = create_app(
        ServerConfig(name="fp", data_dir=str(directory), bcrypt_cost=4), fast_path=fast_path
    )
    await server.start()
    try:
        transport = httpx.ASGITransport(app=front)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = []
            for path, body in REQUESTS:
                response = await client.post(path, content=body)
                headers = {k: v for k, v in response.headers.items() if k != "date"}
                answers.append((response.status_code, headers, response.content))
            return answers
    finally:
        await server.stop()


@pytest.mark.timeout(60)
def test_fast_path_and_routes_answer_identically(tmp_path: Path) -> None:
    fast = asyncio.run(_answers(tmp_path / "fast", fast_path=True))
    routed = asyncio.run(_answers(tmp_path / "routed", fast_path=False))
    for (path, _body), one, other in zip(REQUESTS, fast, routed, strict=True):
        assert one == other, path
    assert fast[2][0] == 200 and b'"value":"Mg=="' in fast[2][2]
    answered = {
        path: (status, body) for (path, _), (status, _, body) in zip(REQUESTS, fast, strict=True)
    }
    assert answered["/v3/lock/lock"][0] == 200 and b'"key"' in answered["/v3/lock/lock"][1]
    assert answered["/v3/election/campaign"][0] == 200
    assert fast[-2][0] == 400 and b"user name is empty" in fast[-2][2]  # auth enabled
