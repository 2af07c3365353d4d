"""The state machine alone: every request type applied from the log, the consistent index
stored with what it covers, malformed entries refused alike everywhere, restore in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.requests import (
    Compact,
    Compare,
    DeleteRange,
    LeaseGrant,
    LeaseRevoke,
    MalformedProposal,
    Publish,
    Put,
    Range,
    Txn,
    encode_proposal,
)
from keyraft.app.server.state_machine import StateMachine
from keyraft.raft.messages import Entry
from keyraft.storage.backend import Backend
from keyraft.storage.mvcc.store import RangeOptions


def machine(path: Path) -> StateMachine:
    return StateMachine(Backend(str(path)))


def entries(start: int, *requests: object) -> list[Entry]:
    return [
        Entry(term=1, index=start + n, data=encode_proposal(100 + n, request))  # type: ignore[arg-type]
        for n, request in enumerate(requests)
    ]


def value(state: StateMachine, key: bytes) -> bytes | None:
    found = state.store.range(key, None, RangeOptions(), state.store.current_revision).kvs
    return found[0].value if found else None


def test_each_request_type_applies_and_answers_by_request_id(tmp_path: Path) -> None:
    state = machine(tmp_path / "kv")
    outcomes = state.apply(
        entries(
            1,
            Put(b"a", b"1"),
            Put(b"b", b"2", prev_kv=True),
            Txn(
                (Compare(key=b"a", target=3, value=b"1"),),
                (Put(b"c", b"3"), Range(b"a", b"\x00")),
                (),
            ),
            DeleteRange(b"b", prev_kv=True),
            LeaseGrant(ttl=10, lease_id=77),
            Put(b"d", b"4", lease=77),
            LeaseRevoke(77),
            Publish(5, ("http://127.0.0.1:2379",)),
            Compact(3),
        )
    )
    ids = [request_id for request_id, _ in outcomes]
    assert ids == list(range(100, 109))
    results = [outcome for _, outcome in outcomes]
    assert [result["header"]["revision"] for result in results] == [2, 3, 4, 5, 5, 6, 7, 7, 7]
    assert results[2]["succeeded"] is True
    assert [kv.key for kv in results[2]["responses"][1]["response_range"]["kvs"]] == [
        b"a",
        b"b",
        b"c",
    ]
    assert [kv.value for kv in results[3]["prev_kvs"]] == [b"2"]
    assert (results[4]["ID"], results[4]["TTL"]) == (77, 10)
    assert value(state, b"d") is None  # revoked with its lease, in one revision
    assert state.client_urls(5) == ["http://127.0.0.1:2379"]
    assert state.store.compact_revision == 3
    assert state.applied_index == 9


def test_a_refused_request_changes_nothing_but_the_applied_index(tmp_path: Path) -> None:
    state = machine(tmp_path / "kv")
    [(_, outcome)] = state.apply(entries(1, Put(b"a", b"1", lease=5)))
    assert isinstance(outcome, errors.LeaseNotFound)
    assert value(state, b"a") is None
    assert state.store.current_revision == 1
    assert state.applied_index == 1


@pytest.mark.parametrize(
    "data",
    [b"\xc1", b"not msgpack at all", b"\x92\x05\x91\x63", b"\x92\x06\x93\x01\xc3\x00"],
)
def test_a_malformed_entry_is_an_error_result_not_a_crash(tmp_path: Path, data: bytes) -> None:
    state = machine(tmp_path / "kv")
    outcomes = state.apply([Entry(term=1, index=1, data=data), *entries(2, Put(b"after", b"ok"))])
    assert isinstance(outcomes[0][1], errors.MalformedRequest)
    assert value(state, b"after") == b"ok"  # the log goes on
    assert state.applied_index == 2


def test_entries_at_or_below_the_applied_index_are_skipped_after_a_restart(tmp_path: Path) -> None:
    state = machine(tmp_path / "kv")
    state.apply(entries(1, Put(b"a", b"1"), Put(b"a", b"2")))
    state.close()
    again = machine(tmp_path / "kv")
    assert again.applied_index == 2
    assert again.apply(entries(1, Put(b"a", b"1"), Put(b"a", b"2"))) == []
    assert again.store.current_revision == 3  # not applied twice
    again.close()


def test_restore_replaces_the_state_in_place(tmp_path: Path) -> None:
    leader = machine(tmp_path / "leader")
    leader.apply(entries(1, LeaseGrant(30, 9), Put(b"x", b"leader", lease=9), Put(b"y", b"2")))
    follower = machine(tmp_path / "follower")
    follower.apply(entries(1, Put(b"stale", b"1")))
    store, lessor = follower.store, follower.lessor
    follower.restore(leader.snapshot_data())
    assert follower.store is store and follower.lessor is lessor  # nobody holds stale objects
    assert value(follower, b"stale") is None
    assert value(follower, b"x") == b"leader"
    assert follower.lessor.exists(9) and follower.lessor.leases[9].keys == {b"x"}
    assert follower.applied_index == 3
    assert follower.store.current_revision == leader.store.current_revision


@pytest.mark.parametrize("request_", [Range(b"k"), object(), None])
def test_what_is_not_a_proposal_is_refused_before_it_is_proposed(request_: object) -> None:
    with pytest.raises(MalformedProposal):
        encode_proposal(1, request_)  # type: ignore[arg-type]


def test_only_a_real_dump_is_restorable(tmp_path: Path) -> None:
    state = machine(tmp_path / "kv")
    state.apply(entries(1, Put(b"a", b"1")))
    assert state.restorable(state.snapshot_data())
    for data in (b"\xc1", b"\x90\x90", b"\x91\x92\xa3kv\x90\x00", b"\x91\x92\xa5other\x90"):
        assert not state.restorable(data)
