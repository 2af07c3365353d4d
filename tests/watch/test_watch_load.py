"""A thousand watchers and a busy writer (800 puts from 16 clients, 800,000 events; 2,000
puts and 2,000,000 events in make test-long): every watcher sees every event, in order,
once."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest

from tests.support.servers import keyraft_member
from tests.support.watch_client import open_watch, read_messages

WATCHERS = 1000


async def _run(url: str, host: str, port: int, puts: int) -> tuple[list[int], list[list[int]]]:
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_connections=16)
    ) as client:
        start = (
            int(
                (await client.post("/v3/kv/range", json={"key": "AA=="})).json()["header"][
                    "revision"
                ]
            )
            + 1
        )
        body = b'{"create_request":{"key":"%s","range_end":"%s","start_revision":%d}}' % (
            base64.b64encode(b"load/"),
            base64.b64encode(b"load0"),
            start,
        )
        streams = [await open_watch(host, port, body) for _ in range(WATCHERS)]
        seen: list[list[int]] = [[] for _ in range(WATCHERS)]
        acknowledged: list[int] = []

        def collector(index: int):
            def on_message(message: dict) -> bool:
                for event in message["result"].get("events", []):
                    seen[index].append(int(event["kv"]["mod_revision"]))
                return len(seen[index]) < puts

            return on_message

        readers = [
            asyncio.create_task(read_messages(reader, collector(i)))
            for i, (reader, _w) in enumerate(streams)
        ]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(puts):
            queue.put_nowait(index)

        async def writer() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                key = base64.b64encode(b"load/%05d" % index).decode()
                answer = await client.post("/v3/kv/put", json={"key": key, "value": "dg=="})
                acknowledged.append(int(answer.json()["header"]["revision"]))

        await asyncio.gather(*(writer() for _ in range(16)))
        try:
            await asyncio.wait_for(asyncio.gather(*readers), timeout=240)
        finally:
            for _reader, stream_writer in streams:
                stream_writer.close()
        return sorted(acknowledged), seen


@pytest.mark.timeout(400)
@pytest.mark.parametrize("puts", [800, pytest.param(2000, marks=pytest.mark.long)])
def test_thousand_watchers_each_get_every_event_once_in_order(tmp_path: Path, puts: int) -> None:
    member = keyraft_member(tmp_path)
    member.start()
    try:
        host, port = member.client_url.removeprefix("http://").split(":")
        acknowledged, seen = asyncio.run(_run(member.client_url, host, int(port), puts))
    finally:
        member.stop()
    assert acknowledged == list(range(acknowledged[0], acknowledged[0] + puts))
    for revisions in seen:
        assert revisions == acknowledged
