from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import Member, keyraft_member


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """One keyraft member for the module's tests (auth disabled)."""
    workdir: Path = tmp_path_factory.mktemp("openapi")
    running = keyraft_member(workdir)
    running.start()
    try:
        yield running
    finally:
        running.stop()
