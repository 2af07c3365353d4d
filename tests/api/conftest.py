from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compare import Pair
from tests.support.servers import (
    Member,
    etcd_available,
    etcd_member,
    find_leader,
    keyraft_cluster,
    keyraft_member,
    start_all,
)


class _PairHolder:
    """Real etcd beside keyraft: a single member, or a follower of a 3-member cluster."""

    def __init__(self, root: Path, topology: str) -> None:
        self.root = root
        self.topology = topology
        self.generation = 0
        self.pair: Pair | None = None
        self.members: list[Member] = []

    def get(self) -> Pair:
        if self.pair is not None and self.pair.diverged:
            self.close()
        if self.pair is None:
            self.generation += 1
            workdir = self.root / f"pair{self.generation}"
            workdir.mkdir()
            etcd = etcd_member(workdir)
            if self.topology == "single":
                self.members = [keyraft_member(workdir)]
            else:
                self.members = keyraft_cluster(workdir, 3)
            try:
                etcd.start()
                start_all(self.members)
                keyraft = (
                    self.members[0] if self.topology == "single" else _a_follower(self.members)
                )
            except Exception:
                etcd.stop()
                for member in self.members:
                    member.stop()
                raise
            self.pair = Pair(etcd, keyraft)
            self.pair.topology = self.topology
        return self.pair

    def close(self) -> None:
        if self.pair is not None:
            self.pair.close()
            self.pair.etcd.stop()
            for member in self.members:
                member.stop()
            self.pair = None


def _a_follower(members: list[Member]) -> Member:
    leader = find_leader(members)
    return next(member for member in members if member is not leader)


@pytest.fixture(scope="session", params=["single", "cluster-follower"])
def _pairs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_PairHolder]:
    if not etcd_available():
        pytest.fail("real etcd is required for compatibility tests: run `make test-deps`")
    holder = _PairHolder(tmp_path_factory.mktemp("compat"), request.param)
    try:
        yield holder
    finally:
        holder.close()


@pytest.fixture
def pair(_pairs: _PairHolder) -> Pair:
    """Real etcd and keyraft with identical histories (restarted after a divergence)."""
    return _pairs.get()
