"""The MVCC store against a tiny model of etcd's semantics, plus targeted unit tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from keyraft.storage.backend import Backend
from keyraft.storage.errors import CompactedError, FutureRevisionError
from keyraft.storage.mvcc.record import KeyValue, decode_record, encode_record
from keyraft.storage.mvcc.revision import decode_revision, encode_revision
from keyraft.storage.mvcc.store import (
    META_COMPACT_REVISION,
    META_CURRENT_REVISION,
    MVCCStore,
    RangeOptions,
    decode_int,
    encode_int,
)

KEYS = st.sampled_from([b"a", b"b", b"ba", b"c", b"d\xff", b"e"])
VALUES = st.binary(max_size=8)


def read_all(
    store: MVCCStore, revision: int, key: bytes = b"\x00", end: bytes | None = b""
) -> list[tuple]:
    result = store.range(key, end, RangeOptions(revision=revision), store.current_revision)
    return [
        (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
        for kv in result.kvs
    ]


class Model:
    """etcd's MVCC semantics, spelled out with whole copies of the keyspace."""

    def __init__(self) -> None:
        self.states: dict[int, dict[bytes, tuple]] = {1: {}}
        self.current = 1
        self.compacted = -1

    def write(self, puts: dict[bytes, bytes], deletes: list[tuple[bytes, bytes | None]]) -> None:
        state = dict(self.states[self.current])
        revision = self.current + 1
        changed = False
        for start, end in deletes:
            for key in [k for k in state if _in_range(k, start, end)]:
                del state[key]
                changed = True
        for key, value in puts.items():
            old = state.get(key)
            create, version = (old[2], old[4] + 1) if old else (revision, 1)
            state[key] = (key, value, create, revision, version, 0)
            changed = True
        if changed:
            self.current = revision
            self.states[revision] = state

    def read(self, revision: int, key: bytes = b"\x00", end: bytes | None = b"") -> list[tuple]:
        if revision <= 0:
            revision = self.current
        if revision > self.current:
            raise FutureRevisionError
        if revision < self.compacted:
            raise CompactedError
        return [v for k, v in sorted(self.states[revision].items()) if _in_range(k, key, end)]


def _in_range(key: bytes, start: bytes, end: bytes | None) -> bool:
    if end is None:
        return key == start
    return start <= key and (end == b"" or key < end)


def _outcome(call):
    try:
        return call()
    except (CompactedError, FutureRevisionError) as error:
        return type(error)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="mvcc-")
        self.backend = Backend(self.directory)
        self.store = MVCCStore(self.backend)
        self.model = Model()

    def teardown(self) -> None:
        self.backend.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        txn = self.store.write()
        txn.put(key, value, 0)
        txn.end()
        self.model.write({key: value}, [])

    @rule(
        puts=st.dictionaries(KEYS, VALUES, max_size=3),
        start=KEYS,
        end=st.one_of(st.none(), KEYS, st.just(b"")),
    )
    def transaction(self, puts: dict[bytes, bytes], start: bytes, end: bytes | None) -> None:
        txn = self.store.write()
        # Like etcd's txns: a delete range and puts on keys outside it.
        puts = {k: v for k, v in puts.items() if not _in_range(k, start, end)}
        txn.delete_range(start, end)
        for key, value in puts.items():
            txn.put(key, value, 0)
        txn.end()
        self.model.write(puts, [(start, end)])

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        revision = data.draw(st.integers(min_value=-1, max_value=self.model.current + 1))
        expected = None
        if revision <= self.model.compacted:
            expected = CompactedError
        elif revision > self.model.current:
            expected = FutureRevisionError
        outcome = _outcome(lambda: self.store.compact(revision))
        assert outcome == expected
        if expected is None:
            self.model.compacted = revision

    @rule(data=st.data(), key=KEYS, end=st.one_of(st.none(), KEYS, st.just(b"")))
    def read_at(self, data: st.DataObject, key: bytes, end: bytes | None) -> None:
        revision = data.draw(st.integers(min_value=-1, max_value=self.model.current + 1))
        expected = _outcome(lambda: self.model.read(revision, key, end))
        actual = _outcome(lambda: read_all(self.store, revision, key, end))
        assert actual == expected

    @precondition(lambda self: True)
    @rule()
    def restart(self) -> None:
        self.backend.close()
        self.backend = Backend(self.directory)
        self.store = MVCCStore(self.backend)

    @invariant()
    def latest_matches(self) -> None:
        assert self.store.current_revision == self.model.current
        assert read_all(self.store, 0) == self.model.read(0)


TestStoreAgainstModel = StoreMachine.TestCase
TestStoreAgainstModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


@pytest.fixture
def store(tmp_path: Path):
    backend = Backend(str(tmp_path / "kv"))
    yield MVCCStore(backend)
    backend.close()


def test_revision_keys_sort_in_revision_order() -> None:
    keys = [encode_revision(main, sub) for main, sub in [(2, 0), (1, 5), (10, 0), (2, 1)]]
    assert sorted(keys) == [
        encode_revision(1, 5),
        encode_revision(2, 0),
        encode_revision(2, 1),
        encode_revision(10, 0),
    ]
    assert decode_revision(encode_revision(7, 3, tombstone=True)) == (7, 3, True)


def test_record_round_trip() -> None:
    kv = KeyValue(b"k\x00ey", 3, 9, 4, b"\xffvalue", 77)
    assert decode_record(encode_record(kv)) == kv


def test_one_revision_per_transaction_and_sub_order(store: MVCCStore) -> None:
    txn = store.write()
    txn.put(b"x", b"1", 0)
    txn.put(b"y", b"2", 0)
    changes = txn.end()
    assert store.current_revision == 2
    assert [(c.kv.key, c.kv.mod_revision) for c in changes] == [(b"x", 2), (b"y", 2)]


def test_delete_of_nothing_does_not_bump_the_revision(store: MVCCStore) -> None:
    txn = store.write()
    assert txn.delete_range(b"missing", None) == (0, 1)
    txn.end()
    assert store.current_revision == 1


def test_compaction_keeps_latest_version_and_drops_tombstoned_keys(store: MVCCStore) -> None:
    for value in (b"1", b"2"):
        txn = store.write()
        txn.put(b"kept", value, 0)
        txn.end()
    txn = store.write()
    txn.put(b"gone", b"x", 0)
    txn.end()
    txn = store.write()
    txn.delete_range(b"gone", None)
    txn.end()
    store.compact(store.current_revision)
    assert [
        kv.value for kv in store.range(b"kept", None, RangeOptions(), store.current_revision).kvs
    ] == [b"2"]
    assert store.index.get(b"gone") is None
    revisions = [decode_revision(key) for key, _ in store.backend.iterate("kv")]
    assert revisions == [(3, 0, False)]


def _written_meta(store: MVCCStore, monkeypatch: pytest.MonkeyPatch) -> list[dict[bytes, bytes]]:
    """The meta keys of every backend write from now on, in order: what a crash after
    each write would leave on disk."""
    writes: list[dict[bytes, bytes]] = []
    real_write = store.backend.write

    def write(batch) -> None:
        real_write(batch)
        writes.append(dict(store.backend.iterate("meta")))

    monkeypatch.setattr(store.backend, "write", write)
    return writes


def test_a_group_writes_once_with_the_last_note_and_revision(
    store: MVCCStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _written_meta(store, monkeypatch)
    store.begin_group()
    for number in range(3):
        txn = store.write((b"applied", b"%d" % number))
        txn.put(b"k%d" % number, b"v", 0)
        txn.end()
    noop = store.write((b"applied", b"3"))  # a transaction that changes nothing
    noop.end()
    store.end_group()
    assert len(writes) == 1
    assert writes[0][b"applied"] == b"3"
    assert decode_int(writes[0][META_CURRENT_REVISION]) == 4 == store.current_revision


def test_compaction_inside_a_group_writes_the_notes_before_it_first(
    store: MVCCStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the group's write and the compaction's must leave the compaction
    to be applied again: the group's write may not carry the compaction's note."""
    writes = _written_meta(store, monkeypatch)
    store.begin_group()
    txn = store.write((b"applied", b"1"))
    txn.put(b"k", b"v", 0)
    txn.end()
    store.compact(2, (b"applied", b"2"))
    txn = store.write((b"applied", b"3"))
    txn.put(b"k", b"w", 0)
    txn.end()
    store.end_group()
    assert [write[b"applied"] for write in writes] == [b"1", b"2", b"3"]
    assert decode_int(writes[0].get(META_COMPACT_REVISION), -1) == -1
    assert decode_int(writes[1][META_COMPACT_REVISION]) == 2
    assert decode_int(writes[2][META_CURRENT_REVISION]) == 3


def test_a_transaction_outside_a_group_writes_its_note_at_once(
    store: MVCCStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _written_meta(store, monkeypatch)
    txn = store.write((b"applied", b"7"))
    txn.put(b"k", b"v", 0)
    txn.end()
    assert writes == [{b"applied": b"7", META_CURRENT_REVISION: encode_int(2)}]
