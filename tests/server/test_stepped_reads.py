"""`SteppedReads`: ranges and read-only transactions served in steps answer exactly as
the one-go reads do, let other work run between steps, and start again when a
compaction overtakes them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyraft.app.server.apply import Applier, execute_range
from keyraft.app.server.reads import SteppedReads
from keyraft.app.server.requests import Compare, CompareResult, CompareTarget, Range, SortOrder, Txn
from keyraft.storage.backend import Backend
from keyraft.storage.mvcc import store as store_module
from keyraft.storage.mvcc.store import MVCCStore
from tests.support.loop_turns import with_loop_turns

KEYS = 200


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MVCCStore]:
    monkeypatch.setattr(store_module, "SCAN_STEP_KEYS", 16)
    monkeypatch.setattr(store_module, "READ_STEP_RECORDS", 8)
    backend = Backend(str(tmp_path / "kv"))
    store = MVCCStore(backend)
    txn = store.write()
    for index in range(KEYS):
        txn.put(b"k%03d" % index, b"v%d" % (index % 7), 0)
    txn.end()
    yield store
    backend.close()


def _reads(store: MVCCStore) -> SteppedReads:
    return SteppedReads(lambda: store, lambda: store.current_revision)


def _direct(store: MVCCStore, revision: int):
    return lambda key, end, options: store.range(key, end, options, revision)


def test_ranges_answer_as_the_one_go_read(store: MVCCStore) -> None:
    requests = [
        Range(b"k", b"\x00"),
        Range(b"k010", b"k150", limit=30),
        Range(b"k", b"\x00", sort_order=SortOrder.DESCEND, sort_target=4),
        Range(b"k", b"\x00", count_only=True),
        Range(b"k", b"\x00", keys_only=True, min_mod_revision=2),
        Range(b"k042"),
    ]

    async def scenario() -> list[dict]:
        return [await _reads(store).range(request) for request in requests]

    answers = asyncio.run(scenario())
    revision = store.current_revision
    for request, answer in zip(requests, answers, strict=True):
        assert answer == execute_range(_direct(store, revision), request)


def test_a_large_range_lets_other_work_run_between_steps(store: MVCCStore) -> None:
    answer, turns = asyncio.run(with_loop_turns(_reads(store).range(Range(b"k", b"\x00"))))
    assert len(answer["kvs"]) == KEYS
    assert turns >= KEYS // 16  # at least one turn per step of the index scan


def test_a_read_overtaken_by_compaction_answers_at_a_later_revision(store: MVCCStore) -> None:
    async def scenario() -> tuple[dict, int]:
        async def write_then_compact() -> None:
            await asyncio.sleep(0)  # once the read has begun
            txn = store.write()
            txn.put(b"k000", b"rewritten", 0)
            txn.end()
            store.compact(store.current_revision)

        writer = asyncio.create_task(write_then_compact())
        answer = await _reads(store).range(Range(b"k", b"\x00"))
        await writer
        return answer, store.current_revision

    answer, current = asyncio.run(scenario())
    assert answer["header"]["revision"] == current  # read again, after the compaction
    assert answer["kvs"][0].value == b"rewritten"
    assert answer == execute_range(_direct(store, current), Range(b"k", b"\x00"))


def test_read_only_txn_answers_as_the_one_go_read(store: MVCCStore) -> None:
    applier = Applier(store, lambda lease: False)
    request = Txn(
        compare=(Compare(CompareResult.GREATER, CompareTarget.VERSION, b"k", range_end=b"\x00"),),
        success=(
            Range(b"k", b"\x00"),
            Txn(success=(Range(b"k100", b"k190", limit=5), Range(b"k", b"\x00", revision=1))),
        ),
        failure=(Range(b"k001"),),
    )

    async def scenario() -> dict:
        return await _reads(store).txn(applier, request)

    answer = asyncio.run(scenario())
    revision = store.current_revision
    assert answer == applier.read_txn(request, _direct(store, revision), revision)
    assert answer["succeeded"] and len(answer["responses"][0]["response_range"]["kvs"]) == KEYS
    inner = answer["responses"][1]["response_txn"]["responses"]
    assert len(inner[0]["response_range"]["kvs"]) == 5
    assert inner[1]["response_range"]["kvs"] == []  # at revision 1, before any write
