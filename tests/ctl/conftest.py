from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.servers import Member, etcd_member, keyraft_member


def _started(member: Member) -> Iterator[Member]:
    try:
        member.start()
        yield member
    finally:
        member.stop()


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """A real etcd 3.4 member, shared by the session (tests use their own keys)."""
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.skip("real etcd and etcdctl are required")
    yield from _started(etcd_member(tmp_path_factory.mktemp("ctl-etcd")))


@pytest.fixture(scope="session")
def keyraft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    yield from _started(keyraft_member(tmp_path_factory.mktemp("ctl-keyraft")))


@pytest.fixture(params=["etcd", "keyraft"])
def server(request: pytest.FixtureRequest) -> Member:
    """Each test using this runs against real etcd and against keyraft."""
    return request.getfixturevalue(request.param)
