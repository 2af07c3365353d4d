"""The key index's histories (storage/mvcc/key_index.py): what a read at any revision
sees, what compaction drops, and that the garbage collector has nothing to walk."""

from __future__ import annotations

import gc

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keyraft.storage.mvcc.key_index import (
    KeyIndex,
    create_revision,
    is_live,
    latest,
    version,
    visible_at,
)

# A key's changes: True a put, False a delete, one per main revision from 1 (sub 0),
# with the revision steps between them.
CHANGES = st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=30)


def _apply(index: KeyIndex, changes: list[tuple[bool, int]]) -> list[tuple[int, bool]]:
    """Record `changes` of key b"k"; the model: (main revision, is put) in order."""
    model: list[tuple[int, bool]] = []
    main = 0
    for put, step in changes:
        main += step
        live = bool(model) and model[-1][1]
        if put:
            index.record_put(b"k", main, 0, lease=7)
        elif live:
            index.record_delete(b"k", main, 0)
        else:
            continue  # etcd deletes only live keys
        model.append((main, put))
    return model


def _model_visible(model: list[tuple[int, bool]], revision: int) -> tuple[int, int] | None:
    seen = [entry for entry in model if entry[0] <= revision]
    return (seen[-1][0], 0) if seen and seen[-1][1] else None


@settings(max_examples=200, deadline=None)
@given(CHANGES, st.integers(0, 100))
def test_reads_at_any_revision_and_compaction_match_a_plain_model(
    changes: list[tuple[bool, int]], compact_at: int
) -> None:
    index = KeyIndex()
    model = _apply(index, changes)
    assume(model)  # only deletions of a key never put: nothing recorded
    history = index.get(b"k")
    assert history is not None
    for revision in range(model[-1][0] + 2):
        assert visible_at(history, revision) == _model_visible(model, revision)
    assert is_live(history) == model[-1][1]
    assert latest(history) == (model[-1][0], 0)
    if model[-1][1]:
        generation = (
            len(model) - next((i for i in range(len(model) - 1, -1, -1) if not model[i][1]), -1) - 1
        )
        assert version(history) == generation
        assert create_revision(history) == model[len(model) - generation][0]

    dropped = index.compact(compact_at)
    # etcd: the newest version at or below the compaction stays, unless it is a deletion.
    below = [entry for entry in model if entry[0] <= compact_at]
    keep_from = len(below) - 1 if below and below[-1][1] else len(below)
    assert dropped == [(main, 0, not put) for main, put in model[:keep_from]]
    kept = model[keep_from:]
    if not kept:
        assert index.get(b"k") is None and len(index) == 0
        return
    for revision in range(max(compact_at, 0), model[-1][0] + 2):
        assert visible_at(index.get(b"k"), revision) == _model_visible(model, revision)


def test_the_garbage_collector_has_nothing_to_walk_in_the_index() -> None:
    """A full collection walks every container object; a million keys' histories as
    objects stalled the event loop (and Raft's heartbeats) for a quarter of a second."""
    index = KeyIndex()
    gc.collect()
    before = len(gc.get_objects())
    for number in range(20_000):
        index.record_put(b"key/%d" % number, number + 1, 0, lease=0)
        index.record_put(b"key/%d" % number, number + 30_000, 0, lease=0)
    gc.collect()
    assert len(gc.get_objects()) - before < 200  # the sorted list's own few lists
