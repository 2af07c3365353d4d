"""--enable-pprof: /debug/pprof/* on the client URLs (Python's counterparts of Go's
profiles), and nothing there without the flag, as etcd."""

from __future__ import annotations

import asyncio
import marshal
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from keyraft.app.factory import create_app
from keyraft.app.server.config import ServerConfig

Client = httpx.AsyncClient


async def _with_member(
    directory: Path, enable_pprof: bool, check: Callable[[Client], Awaitable[None]]
) -> None:
    tracing = tracemalloc.is_tracing()
    front, server = create_app(
        ServerConfig(name="pp", data_dir=str(directory), enable_pprof=enable_pprof)
    )
    await server.start()
    try:
        transport = httpx.ASGITransport(app=front)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await check(client)
    finally:
        await server.stop()
        if not tracing:
            tracemalloc.stop()


async def _pprof_endpoints(client: Client) -> None:
    index = await client.get("/debug/pprof/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    for name in ("goroutine", "heap", "profile"):
        assert f"href='{name}?debug=1'" in index.text
    moved = await client.get("/debug/pprof")
    assert (moved.status_code, moved.headers["location"]) == (301, "/debug/pprof/")

    full = await client.get("/debug/pprof/goroutine", params={"debug": "2"})
    assert full.status_code == 200 and full.headers["content-type"].startswith("text/plain")
    assert "task raft-ready [pending] RaftDriver._ready_loop" in full.text
    assert "_ready_loop\n    " in full.text and "driver.py:" in full.text  # its stack
    assert "thread MainThread:" in full.text
    counted = await client.get("/debug/pprof/goroutine", params={"debug": "1"})
    assert counted.text.startswith("asyncio tasks: total ") and "\n1 @\n" in counted.text

    await client.post("/v3/kv/put", json={"key": "YQ==", "value": "Yg=="})
    heap = await client.get("/debug/pprof/heap", params={"top": "5"})
    assert heap.status_code == 200
    assert heap.text.startswith("heap profile (tracemalloc): traced ")
    assert len(heap.text.splitlines()) == 6  # the summary and the top 5 sites

    async def writes() -> None:
        for _ in range(20):
            await client.post("/v3/kv/put", json={"key": "YQ==", "value": "Yg=="})

    profiled, _ = await asyncio.gather(
        client.get("/debug/pprof/profile", params={"seconds": "1", "top": "20"}), writes()
    )
    assert profiled.status_code == 200 and "Ordered by: cumulative time" in profiled.text
    assert "function calls" in profiled.text
    dumped = await client.get("/debug/pprof/profile", params={"seconds": "1", "format": "pstats"})
    assert dumped.status_code == 200 and isinstance(marshal.loads(dumped.content), dict)

    busy, other = await asyncio.gather(
        client.get("/debug/pprof/profile", params={"seconds": "1"}),
        client.get("/debug/pprof/profile", params={"seconds": "1"}),
    )
    assert sorted((busy.status_code, other.status_code)) == [200, 409]
    too_long = await client.get("/debug/pprof/profile", params={"seconds": "3600"})
    assert too_long.status_code == 400 and "exceeds the limit of 60s" in too_long.text
    unknown = await client.get("/debug/pprof/nosuch")
    assert (unknown.status_code, unknown.text) == (404, "Unknown profile\n")


async def _no_pprof(client: Client) -> None:
    for path in ("/debug/pprof/", "/debug/pprof/goroutine?debug=2", "/debug/pprof/heap"):
        answer = await client.get(path)
        assert (answer.status_code, answer.text) == (404, "404 page not found\n"), path


@pytest.mark.timeout(60)
def test_pprof_serves_stacks_heap_and_cpu_profiles_when_enabled(tmp_path: Path) -> None:
    asyncio.run(_with_member(tmp_path, True, _pprof_endpoints))


@pytest.mark.timeout(60)
def test_without_the_flag_there_is_no_pprof_and_no_tracing(tmp_path: Path) -> None:
    assert not tracemalloc.is_tracing()
    asyncio.run(_with_member(tmp_path, False, _no_pprof))
    assert not tracemalloc.is_tracing()
