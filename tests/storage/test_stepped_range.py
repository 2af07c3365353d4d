"""`MVCCStore.range_steps`: a large read in steps answers exactly what `range` answered
when it began, whatever is written between its steps; only a compaction past its
revision stops it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from keyraft.storage.backend import Backend
from keyraft.storage.errors import CompactedError, ReadOvertakenError
from keyraft.storage.mvcc import store as store_module
from keyraft.storage.mvcc.store import MVCCStore, RangeOptions, RangeResult

KEYS = 100


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MVCCStore]:
    monkeypatch.setattr(store_module, "SCAN_STEP_KEYS", 7)
    monkeypatch.setattr(store_module, "READ_STEP_RECORDS", 5)
    backend = Backend(str(tmp_path / "kv"))
    store = MVCCStore(backend)
    for index in range(0, KEYS, 10):  # ten keys to a transaction
        txn = store.write()
        for key in range(index, index + 10):
            txn.put(b"k%03d" % key, b"v%d" % key, 0)
        txn.end()
    yield store
    backend.close()


def _put(store: MVCCStore, key: bytes, value: bytes) -> None:
    txn = store.write()
    txn.put(key, value, 0)
    txn.end()


def _delete(store: MVCCStore, key: bytes) -> None:
    txn = store.write()
    txn.delete_range(key, None)
    txn.end()


def _rows(result: RangeResult) -> list[tuple]:
    return [(kv.key, kv.value, kv.mod_revision, kv.version) for kv in result.kvs]


def _steps_with(
    steps: Generator[None, None, RangeResult], between: list
) -> tuple[RangeResult, int]:
    """Drive a stepped read, running the next of `between` at every pause."""
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value, pauses
        if pauses < len(between):
            between[pauses]()
        pauses += 1


def test_writes_between_steps_do_not_change_the_answer(store: MVCCStore) -> None:
    revision = store.current_revision
    expected = store.range(b"k", b"", RangeOptions(), revision)
    between = [
        lambda: _put(store, b"k000a", b"new key inside the range, after the scan passed"),
        lambda: _put(store, b"k099", b"new version of a key not scanned yet"),
        lambda: _delete(store, b"k050"),
        lambda: _put(store, b"k098a", b"new key ahead of the scan"),
        lambda: store.compact(revision),  # up to the read's revision: nothing it needs
        lambda: _delete(store, b"k097"),
    ]
    result, pauses = _steps_with(store.range_steps(b"k", b"", RangeOptions(), revision), between)
    assert pauses > len(between)  # the read really was interrupted by every change
    assert _rows(result) == _rows(expected)
    assert (result.count, result.revision) == (KEYS, revision)
    after = store.range(b"k", b"", RangeOptions(), store.current_revision)
    assert after.count == KEYS + 2 - 2  # and the changes did happen


def test_limit_count_only_and_explicit_revision_step_like_range(store: MVCCStore) -> None:
    old = store.current_revision - 3
    _put(store, b"k010", b"later")
    current = store.current_revision
    for options in (
        RangeOptions(limit=23),
        RangeOptions(count_only=True),
        RangeOptions(revision=old),
        RangeOptions(limit=KEYS * 2, revision=old),
    ):
        expected = store.range(b"k", b"k9", options, current)
        result, _pauses = _steps_with(store.range_steps(b"k", b"k9", options, current), [])
        assert (_rows(result), result.count) == (_rows(expected), expected.count)


def test_a_compaction_past_the_read_overtakes_it(store: MVCCStore) -> None:
    revision = store.current_revision
    _put(store, b"k000", b"newer")
    steps = store.range_steps(b"k", b"", RangeOptions(), revision)
    with pytest.raises(ReadOvertakenError) as raised:
        _steps_with(steps, [lambda: store.compact(store.current_revision)])
    assert isinstance(raised.value, CompactedError)  # callers that know only compaction


def test_a_one_key_read_takes_one_step(store: MVCCStore) -> None:
    steps = store.range_steps(b"k001", None, RangeOptions(), store.current_revision)
    result, pauses = _steps_with(steps, [])
    assert pauses == 0 and _rows(result)[0][:2] == (b"k001", b"v1")
