"""The leader's corruption decision (etcd's checkHashKV rules) and its flag."""

from __future__ import annotations

import pytest

from keyraft.app.main import config_from_flags, main
from keyraft.app.server.corruption import KVHash, corrupt_member, inconsistent

LEADER = KVHash(1, hash=111, revision=10, compact_revision=-1)


@pytest.mark.parametrize(
    ("after", "peers", "expected"),
    [
        (LEADER, [KVHash(2, 111, 10, -1), KVHash(3, 111, 9, -1)], None),
        (LEADER, [KVHash(2, 111, 10, -1), KVHash(3, 222, 10, -1)], 3),
        (LEADER, [KVHash(2, 222, 10, -1), KVHash(3, 222, 10, -1)], 2),  # the first only
        (LEADER, [KVHash(2, 111, 11, -1)], 2),  # past the leader's revision
        (LEADER, [KVHash(2, 111, 10, 4)], 2),  # compacted past the leader
        (KVHash(1, 333, 10, -1), [KVHash(2, 111, 10, -1)], 1),  # the leader's own changed
        (KVHash(1, 333, 12, -1), [KVHash(2, 111, 10, -1)], None),  # it was writes
        (KVHash(1, 333, 12, 4), [KVHash(2, 999, 12, 4)], None),  # compacted since: unknown
    ],
)
def test_corrupt_member(after: KVHash, peers: list[KVHash], expected: int | None) -> None:
    assert corrupt_member(LEADER, after, peers) == expected


def test_peer_json_is_go_encoding_json() -> None:
    assert KVHash(5, 7, 9, -1).peer_json() == (
        b'{"header":{"member_id":5,"revision":9},"hash":7,"compact_revision":-1}'
    )
    assert KVHash.from_response(5, {"header": {"revision": 9}, "hash": 7}) == KVHash(5, 7, 9, 0)


@pytest.mark.parametrize(("given", "seconds"), [((), 0.0), (("5m",), 300.0), (("1.5s",), 1.5)])
def test_corrupt_check_time_flag(given: tuple[str, ...], seconds: float) -> None:
    flags = [arg for value in given for arg in ("--experimental-corrupt-check-time", value)]
    config = config_from_flags(main.make_context("keyraft", flags).params)
    assert config.corrupt_check_time_s == seconds


def test_initial_check_compares_only_alike_compacted_peers() -> None:
    peers = [KVHash(2, 111, 10, -1), KVHash(3, 222, 10, 5), KVHash(4, 333, 12, -1)]
    assert inconsistent(LEADER, peers) == [peers[2]]
    config = config_from_flags(
        main.make_context("keyraft", ["--experimental-initial-corrupt-check"]).params
    )
    assert config.initial_corrupt_check is True
