from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compare import Pair
from tests.support.servers import etcd_available, etcd_member, keyraft_member


class _PairHolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self.pair: Pair | None = None

    def get(self) -> Pair:
        if self.pair is not None and self.pair.diverged:
            self.close()
        if self.pair is None:
            self.generation += 1
            workdir = self.root / f"pair{self.generation}"
            workdir.mkdir()
            etcd = etcd_member(workdir)
            keyraft = keyraft_member(workdir)
            try:
                etcd.start()
                keyraft.start()
            except Exception:
                etcd.stop()
                keyraft.stop()
                raise
            self.pair = Pair(etcd, keyraft)
        return self.pair

    def close(self) -> None:
        if self.pair is not None:
            self.pair.close()
            self.pair.etcd.stop()
            self.pair.keyraft.stop()
            self.pair = None


@pytest.fixture(scope="session")
def _pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_PairHolder]:
    if not etcd_available():
        pytest.fail("real etcd is required for compatibility tests: run `make test-deps`")
    holder = _PairHolder(tmp_path_factory.mktemp("compat"))
    try:
        yield holder
    finally:
        holder.close()


@pytest.fixture
def pair(_pairs: _PairHolder) -> Pair:
    """Real etcd and keyraft with identical histories (restarted after a divergence)."""
    return _pairs.get()
