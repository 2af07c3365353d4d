from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Member, find_leader, keyraft_cluster, start_all


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def post(member: Member, path: str, body: dict, timeout: float = 15.0) -> httpx.Response:
    return member.post(path, body, timeout)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `condition` until it returns something truthy, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status(member: Member) -> dict:
    return post(member, "/v3/maintenance/status", {}, timeout=3).json()


def leader_of(members: list[Member]) -> Member:
    """The member every live member agrees leads."""
    return find_leader(members)


def get_value(member: Member, key: str, serializable: bool = False) -> str | None:
    body = post(member, "/v3/kv/range", {"key": b64(key), "serializable": serializable}).json()
    kvs = body.get("kvs")
    return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., list[Member]]]:
    started: list[Member] = []

    def make(size: int, extra: tuple[str, ...] = ()) -> list[Member]:
        members = keyraft_cluster(tmp_path / f"c{len(started)}", size, extra)
        (tmp_path / f"c{len(started)}").mkdir()
        started.extend(members)
        start_all(members)
        return members

    try:
        yield make
    finally:
        for member in started:
            if member.process is not None and member.process.poll() is None:
                import signal

                member.process.send_signal(signal.SIGCONT)
            member.stop()
