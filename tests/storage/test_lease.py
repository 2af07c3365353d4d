"""The lessor with a fake clock: attachment bookkeeping, the expiry heap, promotion."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.storage.backend import Backend
from keyraft.storage.errors import LeaseExistsError, LeaseNotFoundError
from keyraft.storage.lease import Lessor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    backend = Backend(str(tmp_path / "db"))
    yield backend
    backend.close()


def write(backend: Backend, action) -> object:
    batch = backend.new_batch()
    result = action(batch)
    backend.write(batch)
    return result


def test_attach_detach_and_revoke_returns_keys(backend: Backend) -> None:
    lessor = Lessor(Clock())
    write(backend, lambda batch: lessor.grant(1, 10, batch))
    write(backend, lambda batch: lessor.grant(2, 10, batch))
    with pytest.raises(LeaseExistsError):
        write(backend, lambda batch: lessor.grant(1, 10, batch))
    lessor.key_changed(b"a", 1)
    lessor.key_changed(b"b", 1)
    lessor.key_changed(b"b", 2)  # moved to another lease
    lessor.key_changed(b"c", 1)
    lessor.key_changed(b"c", 0)  # detached (put without lease, or deleted)
    assert write(backend, lambda batch: lessor.revoke(1, batch)) == [b"a"]
    assert lessor.leases[2].keys == {b"b"}
    with pytest.raises(LeaseNotFoundError):
        write(backend, lambda batch: lessor.revoke(1, batch))
    restored = Lessor(Clock())
    restored.restore(backend, [(b"b", 2)])
    assert list(restored.leases) == [2] and restored.leases[2].keys == {b"b"}


def test_only_the_primary_expires_and_promotion_renews_fully(backend: Backend) -> None:
    clock = Clock()
    lessor = Lessor(clock)
    write(backend, lambda batch: lessor.grant(1, 5, batch))
    clock.now += 100
    assert lessor.expired(10) == []  # a follower never expires anything
    lessor.promote(extend=1.0)
    clock.now += 5.5
    assert lessor.expired(10) == []  # full TTL plus the extension
    clock.now += 0.6
    assert lessor.expired(10) == [1]


def test_renewals_leave_stale_heap_entries_that_never_expire_a_lease(backend: Backend) -> None:
    clock = Clock()
    lessor = Lessor(clock)
    lessor.promote(0.0)
    for lease in range(100):
        write(backend, lambda batch, lease=lease: lessor.grant(lease, 3, batch))
    expired: list[int] = []
    for _ in range(6):  # the renewed half is pushed again every second, never expires
        clock.now += 1
        for lease in range(50):
            assert lessor.renew(lease) == 3
        expired += lessor.expired(1000)
    assert sorted(expired) == list(range(50, 100))
    assert lessor.renew(99) == 0  # expired: its revoke is on the way
    assert lessor.remaining_seconds(lessor.leases[0]) == 3
    lessor.demote()
    clock.now += 100
    assert lessor.expired(1000) == []
