"""Auto-compaction as etcd 3.4's compactor does it, on a fake clock: retention parsing,
periodic sampling and compaction, revision mode, only while leading."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.app.server import errors
from keyraft.app.server.compactor import AutoCompactor, BadRetention, parse_retention
from keyraft.app.server.requests import Compact
from tests.support.fake_clock import FakeClock


def test_retention_is_parsed_as_etcd_does() -> None:
    assert parse_retention("periodic", "1") == 3600
    assert parse_retention("periodic", "1h30m") == 5400
    assert parse_retention("periodic", "500ms") == 0.5
    assert parse_retention("revision", "1000") == 1000
    assert parse_retention("periodic", "0") == 0
    with pytest.raises(BadRetention, match='invalid duration "xyz"'):
        parse_retention("periodic", "xyz")
    with pytest.raises(BadRetention, match='unknown auto-compaction-mode "bogus"'):
        parse_retention("bogus", "1")
    with pytest.raises(BadRetention):
        parse_retention("revision", "1h")


class Store:
    """A revision moving by one a second, and the compactions proposed."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.compacted: list[tuple[float, int]] = []

    def revision(self) -> int:
        return 1 + int(self.clock.now())

    async def propose(self, request: Compact) -> dict:
        if self.compacted and request.revision <= self.compacted[-1][1]:
            raise errors.Compacted
        self.compacted.append((self.clock.now(), request.revision))
        return {}


async def run_for(clock: FakeClock, compactor: AutoCompactor, seconds: float) -> None:
    task = asyncio.ensure_future(compactor.run())
    for _ in range(int(seconds)):
        await clock.advance(1.0)
        for _ in range(3):
            await asyncio.sleep(0)
    task.cancel()


def test_periodic_compacts_to_the_revision_of_one_retention_ago_while_leading() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = Store(clock)
        compactor = AutoCompactor(clock, "periodic", 100.0, store.revision, store.propose)
        await run_for(clock, compactor, 150)
        assert store.compacted == []  # not leading
        compactor.leading = True
        await run_for(clock, compactor, 350)
        times = [at for at, _ in store.compacted]
        assert len(times) == 3 and all(
            b - a == pytest.approx(100, abs=10) for a, b in zip(times, times[1:], strict=False)
        )
        for at, revision in store.compacted:
            assert store.revision() - revision > 0 and at + 1 - revision == pytest.approx(
                100, abs=11
            )

    asyncio.run(main())


def test_revision_mode_keeps_the_last_retention_revisions() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = Store(clock)
        compactor = AutoCompactor(clock, "revision", 50, store.revision, store.propose)
        compactor.leading = True
        await run_for(clock, compactor, 700)
        # every 5 minutes, to the current revision less 50 (give or take the tick it ran)
        assert [revision for _, revision in store.compacted] == [
            pytest.approx(301 - 50, abs=1),
            pytest.approx(601 - 50, abs=1),
        ]

    asyncio.run(main())
