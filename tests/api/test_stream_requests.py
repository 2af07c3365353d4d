"""Watch and keepalive requests split anywhere, even inside a character, on both ways in
(the ASGI front's fast path and the FastAPI routes): the same answers as in one piece."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from keyraft.app.asgi import KeyraftFront
from keyraft.app.config import ServerConfig
from keyraft.app.factory import create_app
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import LeaseGrant, Put

FILTER = "É"


class Channel:
    """One HTTP request on an ASGI app: body chunks in, messages out, then a disconnect."""

    def __init__(self, front: KeyraftFront, path: str, chunks: list[bytes]) -> None:
        self.incoming: asyncio.Queue[dict] = asyncio.Queue()
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            self.incoming.put_nowait({"type": "http.request", "body": chunk, "more_body": more})
        self.sent: asyncio.Queue[dict] = asyncio.Queue()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1234),
            "server": ("test", 80),
        }
        self.task = asyncio.create_task(front(scope, self.incoming.get, self.sent.put))

    async def message(self) -> dict:
        return await asyncio.wait_for(self.sent.get(), 10)

    async def status(self) -> int:
        start = await self.message()
        assert start["type"] == "http.response.start"
        return start["status"]

    async def line(self) -> dict:
        body = await self.message()
        assert body["body"].endswith(b"\n") and body["body"].count(b"\n") == 1
        return json.loads(body["body"])["result"]

    async def close(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(self.task, 10)


@asynccontextmanager
async def member(
    directory: Path, fast_path: bool
) -> AsyncIterator[tuple[KeyraftFront, EtcdServer]]:
    front, server = create_app(ServerConfig(name="s", data_dir=str(directory)), fast_path)
    await server.start()
    try:
        yield front, server
    finally:
        await server.stop()


def split_inside(data: bytes, text: str) -> list[list[bytes]]:
    """`data` cut in two at each offset inside the UTF-8 bytes of `text`."""
    start = data.index(text.encode())
    return [[data[:cut], data[cut:]] for cut in range(start + 1, start + len(text.encode()))]


@pytest.mark.parametrize("fast_path", [True, False], ids=["front", "routes"])
@pytest.mark.timeout(60)
def test_a_watch_request_split_inside_a_character(tmp_path: Path, fast_path: bool) -> None:
    async def scenario() -> None:
        async with member(tmp_path, fast_path) as (front, server):
            body = '{"create_request":{"key":"YQ==","note":"€"}}{"progress_request":{}}'.encode()
            for chunks in split_inside(body, "€"):
                stream = Channel(front, "/v3/watch", chunks)
                assert await stream.status() == 200
                created = await stream.line()
                assert created["created"] is True and "watch_id" not in created
                assert (await stream.line())["watch_id"] == "-1"  # the progress answer
                put = await server.put(Put(b"a", b"1"))
                event = await stream.line()
                assert event["header"]["revision"] == str(put["header"]["revision"])
                assert event["events"][0]["kv"]["key"] == "YQ=="
                await stream.close()
                assert not server.watch_hub.watchers  # the disconnect canceled the watch

            refused = '{"create_request":{"key":"YQ==","filters":["É"]}}'.encode()
            for chunks in split_inside(refused, FILTER):
                stream = Channel(front, "/v3/watch", chunks)
                assert await stream.status() == 500
                answer = json.loads((await stream.message())["body"])
                message = (
                    f'unknown value "{FILTER}" for enum etcdserverpb.WatchCreateRequest_FilterType'
                )
                assert answer == {"error": message, "message": message, "code": 2}
                await stream.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("fast_path", [True, False], ids=["front", "routes"])
@pytest.mark.timeout(60)
def test_a_keepalive_request_split_inside_a_character(tmp_path: Path, fast_path: bool) -> None:
    async def scenario() -> None:
        async with member(tmp_path, fast_path) as (front, server):
            await server.lease_grant(LeaseGrant(ttl=600, lease_id=42))
            body = '{"ID":42,"note":"é"} {"ID":"42"}'.encode()
            for chunks in split_inside(body, "é"):
                stream = Channel(front, "/v3/lease/keepalive", chunks)
                assert await stream.status() == 200
                for _ in range(2):
                    answer = await stream.line()
                    assert (answer["ID"], answer["TTL"]) == ("42", "600")
                end = await stream.message()
                assert (end["body"], end["more_body"]) == (b"", False)  # ends with the body
                await asyncio.wait_for(stream.task, 10)

            for chunks in split_inside('{"ID":"é"}'.encode(), "é"):
                stream = Channel(front, "/v3/lease/keepalive", chunks)
                assert await stream.status() == 500
                answer = json.loads((await stream.message())["body"])
                # etcd 3.4.23 (measured): Go names the byte 0xc3 as the rune U+00C3
                assert answer["message"] == "invalid character 'Ã' looking for beginning of value"
                await asyncio.wait_for(stream.task, 10)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_an_oversized_stream_request_is_refused_with_grpcs_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with member(tmp_path, True) as (front, server):
            limit = server.config.grpc_limit_bytes
            for path in ("/v3/watch", "/v3/lease/keepalive"):
                chunk = b"A" * (256 * 1024)
                chunks = [b'{"ID":"'] + [chunk] * (4 * limit // len(chunk) + 2)
                stream = Channel(front, path, chunks)
                assert await stream.status() == 429
                error = json.loads((await stream.message())["body"])["error"]
                assert error["grpc_code"] == 8 and error["http_status"] == "Too Many Requests"
                assert error["message"].startswith("grpc: received message larger than max (")
                assert error["message"].endswith(f" vs. {limit})")
                end = await stream.message()
                assert end["more_body"] is False
                assert stream.incoming.qsize() > 0, "the rest of the body was never read"
                await stream.close()

    asyncio.run(scenario())
