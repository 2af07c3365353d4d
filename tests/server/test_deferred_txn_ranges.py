"""A large range inside a write transaction leaves its records to read after apply
(`DeferredRecords`): the answer must be exactly what reading them during apply gave, even
when compaction or a snapshot restore comes before anyone reads it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from keyraft.app import codec
from keyraft.app.server.requests import (
    Compact,
    DeleteRange,
    Put,
    Range,
    SortOrder,
    Txn,
    encode_proposal,
)
from keyraft.app.server.state_machine import StateMachine
from keyraft.raft.messages import Entry
from keyraft.storage.backend import Backend
from keyraft.storage.mvcc.store import DEFER_RECORDS_OVER, DeferredRecords, RangeOptions
from tests.support.loop_turns import with_loop_turns

KEYS = DEFER_RECORDS_OVER * 2 + 7
PREFIX = Range(b"k/", b"k0")


class Log:
    """A state machine fed one proposal per entry."""

    def __init__(self, path: Path) -> None:
        self.state = StateMachine(Backend(str(path)))
        self.index = 0

    def apply(self, request: object) -> object:
        self.index += 1
        entry = Entry(term=1, index=self.index, data=encode_proposal(self.index, request))  # type: ignore[arg-type]
        ((_request_id, outcome),) = self.state.apply([entry])
        return outcome


@pytest.fixture
def log(tmp_path: Path) -> Log:
    log = Log(tmp_path / "kv")
    for start in range(0, KEYS, 100):
        puts = tuple(Put(b"k/%06d" % i, b"v%d" % i) for i in range(start, min(start + 100, KEYS)))
        log.apply(Txn((), puts, ()))
    return log


def _plain(log: Log, request: Range, revision: int) -> list:
    store = log.state.store
    return store.range(
        request.key, request.range_end, RangeOptions(revision=revision), store.current_revision
    ).kvs


def _read(kvs: object) -> list:
    assert isinstance(kvs, DeferredRecords)
    return kvs.read_all()


def test_range_in_write_txn_sees_earlier_ops_of_the_txn_and_not_later_ones(log: Log) -> None:
    before = log.state.store.current_revision
    answer = log.apply(
        Txn(
            (),
            (
                Put(b"k/000001", b"new"),
                DeleteRange(b"k/000002"),
                PREFIX,
                Put(b"k/000003", b"later"),
            ),
            (),
        )
    )
    kvs = _read(answer["responses"][2]["response_range"]["kvs"])
    expected = [kv for kv in _plain(log, PREFIX, before) if kv.key != b"k/000002"]
    expected[1] = _plain(log, Range(b"k/000001"), before + 1)[0]
    assert [kv.value for kv in kvs[:3]] == [b"v0", b"new", b"v3"]  # not "later"
    assert kvs == expected
    assert answer["responses"][2]["response_range"]["count"] == KEYS - 1


def test_descending_limited_range_keeps_more_and_count(log: Log) -> None:
    request = Range(b"k/", b"k0", limit=DEFER_RECORDS_OVER + 3, sort_order=SortOrder.DESCEND)
    answer = log.apply(Txn((), (request, Put(b"x", b"x")), ()))["responses"][0]["response_range"]
    kvs = _read(answer["kvs"])
    assert [kv.key for kv in kvs] == [
        b"k/%06d" % i for i in range(KEYS - 1, KEYS - 1 - request.limit, -1)
    ]
    assert answer["more"] is True and answer["count"] == KEYS


def test_answer_survives_compaction_and_restore_before_it_is_read(log: Log, tmp_path: Path) -> None:
    revision = log.state.store.current_revision
    expected = _plain(log, PREFIX, revision)
    first = log.apply(Txn((), (PREFIX, Put(b"x", b"1")), ()))
    # Overwrite every key, then compact away every version the first answer shows.
    for start in range(0, KEYS, 100):
        log.apply(
            Txn(
                (),
                tuple(Put(b"k/%06d" % i, b"w") for i in range(start, min(start + 100, KEYS))),
                (),
            )
        )
    second = log.apply(Txn((), (PREFIX, Put(b"x", b"2")), ()))
    log.apply(Compact(log.state.store.current_revision))
    assert _plain(log, Range(b"k/000000"), 0)[0].value == b"w"
    assert _read(first["responses"][0]["response_range"]["kvs"]) == expected

    expected_second = _plain(log, PREFIX, 0)
    third = log.apply(Txn((), (PREFIX, Put(b"x", b"3")), ()))
    other = Log(tmp_path / "other")
    other.apply(Put(b"only", b"this"))
    log.state.restore(other.state.snapshot_data())
    assert _plain(log, PREFIX, 0) == []
    assert _read(second["responses"][0]["response_range"]["kvs"])[0].value == b"w"
    assert _read(third["responses"][0]["response_range"]["kvs"]) == expected_second


def test_small_ranges_and_filtered_ones_are_read_during_apply(log: Log) -> None:
    small = Range(b"k/000001", b"k/000009")
    filtered = Range(b"k/", b"k0", min_mod_revision=2)
    answer = log.apply(Txn((), (small, filtered, Put(b"x", b"x")), ()))
    for response in answer["responses"][:2]:
        assert isinstance(response["response_range"]["kvs"], list)


def test_deferred_answer_encodes_in_steps_as_in_one_go(log: Log) -> None:
    server = SimpleNamespace(
        cluster_id=1,
        member=SimpleNamespace(id=2),
        term=3,
        stepped_reads=SimpleNamespace(slots=asyncio.Semaphore(1)),
    )

    answer = log.apply(Txn((), (PREFIX, Put(b"x", b"x")), ()))
    holder = answer["responses"][0]["response_range"]  # type: ignore[index]
    deferred = holder["kvs"]
    stepped, turns = asyncio.run(with_loop_turns(codec.encode_response_stepped(server, answer)))  # type: ignore[arg-type]
    holder["kvs"] = deferred  # read by now: encoded in one go below
    assert stepped == codec.encode_response(server, answer)  # type: ignore[arg-type]
    assert turns >= KEYS // 500
    assert len(orjson.loads(stepped)["responses"][0]["response_range"]["kvs"]) == KEYS
