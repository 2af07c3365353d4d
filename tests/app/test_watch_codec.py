"""Watch events are encoded once for all the watchers of a change, in a bounded cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyraft.app import watch_codec
from keyraft.app.config import ServerConfig
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import Put
from keyraft.app.server.watches import Change, KeyValue, WatchSpec


@pytest.mark.timeout(60)
def test_one_change_seen_by_many_watchers_is_encoded_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = EtcdServer(ServerConfig(name="c", data_dir=str(tmp_path)))
        await server.start()
        try:
            await server.put(Put(b"k", b"0"))
            plain = [server.watch(WatchSpec(b"k"), index) for index in range(50)]
            with_previous = [server.watch(WatchSpec(b"k", prev_kv=True)) for _ in range(50)]
            put = await server.put(Put(b"k", b"1"))
            cache = watch_codec.cache_for(server)
            before = cache.encodings
            encoded = []
            for watch in plain + with_previous:
                batch = await asyncio.wait_for(watch.next_batch(), 5)
                encoded.append(await cache.events(watch, batch))
                watch.cancel()
            assert cache.encodings - before == 2  # once without prev_kv, once with
            revision = str(put["header"]["revision"])
            assert {event["kv"]["mod_revision"] for [event] in encoded} == {revision}
            assert all("prev_kv" not in event for [event] in encoded[:50])
            assert all(event["prev_kv"]["value"] == "MA==" for [event] in encoded[50:])
            assert await watch.next_batch() == []  # a canceled watch ends
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_the_cache_stays_within_its_bounds() -> None:
    class NoHistory:
        prev_kv = False

        def previous(self, change: Change) -> None:
            return None

    cache = watch_codec.EventCache(max_entries=100, max_bytes=10_000)
    for revision in range(1, 1001):
        kv = KeyValue(b"k%d" % revision, revision, revision, 1, b"v" * 50)
        cache.event(NoHistory(), Change(kv, False), False)  # type: ignore[arg-type]
        assert len(cache._entries) <= 100 and cache._bytes <= 10_000
    big = KeyValue(b"big", 2000, 2000, 1, b"v" * 50_000)
    assert cache.event(NoHistory(), Change(big, False), False)["kv"]["key"] == "Ymln"  # type: ignore[arg-type]
    assert len(cache._entries) == 1  # the newest entry stays, however large
